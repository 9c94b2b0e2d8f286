"""Reads of the strategies app, each scoped to one owner: another user's strategies, signals,
backtests and comparisons are simply not there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from strategies.models import Backtest, BacktestComparison, BacktestStatus, Signal, Strategy


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


def comparisons_for_owner(owner_id: int) -> QuerySet[BacktestComparison]:
    return BacktestComparison.objects.filter(owner_id=owner_id).order_by("-created_at", "-id")


# --- dashboard pages ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StrategySummary:
    """One row of the strategies page: the strategy, its latest finished backtest's headline
    metrics (None without one) and its signals today."""

    strategy: Strategy
    latest_backtest: Backtest | None
    signals_today: int
    last_signal_at: datetime | None

    @property
    def total_return(self) -> float | None:
        return _metric(self.latest_backtest, "total_return")

    @property
    def sharpe_ratio(self) -> float | None:
        return _metric(self.latest_backtest, "sharpe_ratio")

    @property
    def max_drawdown(self) -> float | None:
        """The deepest fall from a peak as a negative fraction (-1.0 when ruined)."""
        if self.latest_backtest is None:
            return None
        metrics = self.latest_backtest.metrics
        if metrics.get("ruined"):
            return -1.0
        depth = (metrics.get("max_drawdown") or {}).get("depth")
        return None if depth is None else -float(depth)


def _metric(backtest: Backtest | None, key: str) -> float | None:
    value = None if backtest is None else backtest.metrics.get(key)
    return None if value is None else float(value)


def strategy_summaries(owner_id: int, *, now: datetime | None = None) -> list[StrategySummary]:
    """The owner's strategies with their key figures, in three queries whatever their number."""
    strategies = list(strategies_for_owner(owner_id))
    ids = [strategy.pk for strategy in strategies]
    day_start = (
        (now or timezone.now()).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    signals = {
        row["strategy_id"]: row
        for row in Signal.objects.filter(strategy_id__in=ids)
        .values("strategy_id")
        .annotate(last_at=Max("at"), today=Count("id", filter=Q(at__gte=day_start)))
    }
    latest: dict[int, Backtest] = {}
    finished = Backtest.objects.filter(
        owner_id=owner_id, strategy_id__in=ids, status=BacktestStatus.SUCCEEDED
    ).order_by("strategy_id", "-finished_at", "-id")
    for backtest in finished.only("id", "strategy_id", "metrics", "finished_at"):
        assert backtest.strategy_id is not None
        latest.setdefault(backtest.strategy_id, backtest)
    return [
        StrategySummary(
            strategy=strategy,
            latest_backtest=latest.get(strategy.pk),
            signals_today=int(signals.get(strategy.pk, {}).get("today", 0)),
            last_signal_at=signals.get(strategy.pk, {}).get("last_at"),
        )
        for strategy in strategies
    ]


def strategy_for_owner(owner_id: int, strategy_id: int) -> Strategy | None:
    return strategies_for_owner(owner_id).filter(pk=strategy_id).first()


def backtest_for_owner(owner_id: int, backtest_id: int) -> Backtest | None:
    return backtests_for_owner(owner_id).select_related("strategy").filter(pk=backtest_id).first()


def backtests_of_strategy(owner_id: int, strategy_id: int) -> QuerySet[Backtest]:
    """A strategy's backtests, newest first, without their curves and trades (lists)."""
    return (
        backtests_for_owner(owner_id)
        .filter(strategy_id=strategy_id)
        .defer("equity_curve", "trades")
    )
