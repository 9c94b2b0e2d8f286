"""Reads of the strategies app, each scoped to one owner: another user's strategies, signals
and backtests are simply not there."""

from __future__ import annotations

from django.db.models import QuerySet

from strategies.models import Backtest, Signal, Strategy


def strategies_for_owner(owner_id: int) -> QuerySet[Strategy]:
    return (
        Strategy.objects.filter(owner_id=owner_id)
        .select_related("account", "model_version")
        .prefetch_related("instruments")
        .order_by("name")
    )


def signals_for_owner(owner_id: int) -> QuerySet[Signal]:
    return (
        Signal.objects.filter(strategy__owner_id=owner_id)
        .select_related("strategy", "instrument")
        .order_by("-at", "-id")
    )


def backtests_for_owner(owner_id: int) -> QuerySet[Backtest]:
    return Backtest.objects.filter(owner_id=owner_id).order_by("-created_at", "-id")
