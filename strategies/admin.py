"""Strategies in the admin: rows change only through the services (actions), so a strategy's
config is validated the same way wherever it is changed; signals and backtests are read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from execution.domain.errors import DomainError
from strategies.models import Backtest, Signal, Strategy
from strategies.services import (
    backtest_start,
    strategy_clone,
    strategy_pause,
    strategy_resume,
)


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Strategy)
class StrategyAdmin(ReadOnlyAdmin):
    """Created and edited through the API (validated config); managed here by actions."""

    list_display = (
        "name", "kind", "owner", "account", "interval", "preset", "status", "visibility",
        "updated_at",
    )  # fmt: skip
    list_filter = ("status", "kind", "preset", "visibility", "interval")
    search_fields = ("name", "owner__username", "account__name")
    list_select_related = ("owner", "account")
    actions = (
        "activate",
        "pause",
        "run_backtest",
        "clone_conservative",
        "clone_aggressive",
        "clone_high_frequency",
    )

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("strategies.change_strategy"))

    @admin.action(
        description="Activate: signals go to the strategy's account", permissions=["manage"]
    )
    def activate(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._each(request, queryset, lambda s: strategy_resume(strategy_id=s.pk), "active")

    @admin.action(description="Pause from the next bar", permissions=["manage"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._each(request, queryset, lambda s: strategy_pause(strategy_id=s.pk), "paused")

    @admin.action(description="Run a backtest on its stored candles", permissions=["manage"])
    def run_backtest(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._each(
            request, queryset,
            lambda s: backtest_start(owner_id=s.owner_id, strategy_id=s.pk), "backtest queued",
        )  # fmt: skip

    @admin.action(description="Clone with the conservative preset", permissions=["manage"])
    def clone_conservative(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._clone(request, queryset, "conservative")

    @admin.action(description="Clone with the aggressive preset", permissions=["manage"])
    def clone_aggressive(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._clone(request, queryset, "aggressive")

    @admin.action(description="Clone with the high-frequency preset", permissions=["manage"])
    def clone_high_frequency(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._clone(request, queryset, "high_frequency")

    def _clone(self, request: HttpRequest, queryset: QuerySet[Strategy], preset: str) -> None:
        self._each(
            request, queryset,
            lambda s: strategy_clone(strategy_id=s.pk, preset=preset), f"cloned ({preset})",
        )  # fmt: skip

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Strategy], act: Any, done: str
    ) -> None:
        for strategy in queryset:
            try:
                act(strategy)
            except DomainError as error:
                self.message_user(request, f"{strategy.name}: {error}", messages.WARNING)
            else:
                self.message_user(request, f"{strategy.name}: {done}")


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdmin):
    list_display = (
        "at", "strategy", "instrument", "side", "target_position", "strength", "outcome",
    )  # fmt: skip
    list_filter = ("outcome", "side")
    search_fields = ("strategy__name", "instrument__symbol")
    list_select_related = ("strategy", "instrument")
    date_hierarchy = "at"


@admin.register(Backtest)
class BacktestAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "kind", "symbol", "interval", "owner", "status", "progress", "created_at",
    )  # fmt: skip
    list_filter = ("status", "kind")
    search_fields = ("symbol", "owner__username", "strategy__name")
    list_select_related = ("owner",)
    exclude = ("equity_curve", "trades")  # long: in the API's result
