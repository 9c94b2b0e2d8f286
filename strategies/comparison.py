"""Comparison runs: several strategies backtested on exactly the same bars and costs, reported
side by side (issue 5, item 3).

``comparison_start`` checks everything first (the symbol, interval, window, costs, and each
run's kind and config through ``backtest_start``, so a run is refused exactly as a single
backtest would be) and writes nothing unless all of it is good: one ``BacktestComparison`` and
one queued ``Backtest`` per run, all with the same pinned window and costs. Each backtest is a
``strategies.run_backtest`` task, so workers run them in parallel and each shows its progress;
``comparison_run`` runs them in the foreground instead (the ``backtest_compare`` command).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Min

from execution.models import Candle, Instrument
from strategies.costs import BacktestCosts
from strategies.kinds import KINDS, InvalidStrategyConfig
from strategies.models import Backtest, BacktestComparison, BacktestStatus
from strategies.report import Report, comparison_report, market_for, run_from_backtest
from strategies.services import backtest_run, backtest_start, interval_seconds

Progress = Callable[[float, str], None]
MAX_RUNS = 8
_RUN_KEYS = ("kind", "config")
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def default_runs() -> list[dict[str, Any]]:
    """The issue's comparison: the ML strategies (SimpleML fits itself walk-forward; XGBoost
    when a model version for the data is active, else it is left out), mean reversion and buy
    and hold, each with its default config."""
    ml = [kind for kind in ("simple_ml", "xgboost") if kind in KINDS]
    return [{"kind": kind, "config": {}} for kind in (*ml, "mean_reversion", "buy_and_hold")]


@dataclass(frozen=True, slots=True)
class _Window:
    bars: int
    first: datetime | None
    last: datetime | None


def _window(symbol: str, interval: str, start: datetime | None, end: datetime | None) -> _Window:
    found = Candle.objects.filter(
        instrument__symbol=symbol,
        interval=interval,
        open_time__gte=start or _EARLIEST,
        open_time__lt=end or _LATEST,
    ).aggregate(bars=Count("open_time"), first=Min("open_time"), last=Max("open_time"))
    return _Window(found["bars"], found["first"], found["last"])


def comparison_start(
    *,
    owner_id: int,
    symbol: str,
    interval: str,
    start: datetime | None = None,
    end: datetime | None = None,
    costs: Mapping[str, Any] | None = None,
    runs: Sequence[Mapping[str, Any]] | None = None,
    queue: bool = True,
) -> BacktestComparison:
    """Pin the window to the stored bars in [start, end) and create one backtest per run
    (default: ``default_runs``) over it with the same costs; queued for workers unless
    ``queue=False``. Refused input raises ``InvalidStrategyConfig`` by field (``symbol``,
    ``costs.fee_rate``, ``runs.1.config.window``, ...) and writes nothing."""
    errors: dict[str, list[str]] = {}
    if not isinstance(symbol, str) or not Instrument.objects.filter(symbol=symbol).exists():
        errors["symbol"] = [f"no such instrument: {symbol}"]
    if interval_seconds(interval) is None:
        errors["interval"] = [f"{interval!r} is not an interval such as 15m, 1h, 1d or 1w"]
    if start is not None and end is not None and start >= end:
        errors["end"] = ["end must be after start"]
    costs_dict: dict[str, Any] = {}
    try:
        costs_dict = BacktestCosts.from_dict(costs or {}).to_dict()
    except InvalidStrategyConfig as error:
        errors.update({f"costs.{key}": messages for key, messages in error.errors.items()})
    defaults = runs is None
    asked = default_runs() if runs is None else runs
    if isinstance(asked, str | bytes | Mapping) or not isinstance(asked, Sequence):
        errors["runs"] = ["a list of {kind, config} objects"]
        asked = []
    elif not 1 <= len(asked) <= MAX_RUNS:
        errors["runs"] = [f"name 1 to {MAX_RUNS} runs, not {len(asked)}"]
    for index, run in enumerate(asked):
        if not isinstance(run, Mapping):  # JSON from the API or the command line: anything
            errors[f"runs.{index}"] = ["a {kind, config} object"]  # type: ignore[unreachable]
            continue
        for key in sorted(set(run) - set(_RUN_KEYS)):
            errors[f"runs.{index}.{key}"] = [f"unknown; a run has {', '.join(_RUN_KEYS)}"]
        if "kind" not in run:
            errors[f"runs.{index}.kind"] = ["name a kind"]
    window = _Window(0, None, None)
    if not errors.keys() & {"symbol", "interval", "end"}:
        window = _window(symbol, interval, start, end)
        if window.bars < 2:
            errors["start" if start is not None or end is not None else "symbol"] = [
                f"{symbol} has {window.bars} stored {interval} candles in this window: a "
                "comparison needs at least 2 (import some with manage.py marketdata_import)"
            ]
    if errors:
        raise InvalidStrategyConfig(errors)
    assert window.first is not None and window.last is not None
    pinned_end = window.last + timedelta(microseconds=1)
    with transaction.atomic():
        comparison = BacktestComparison.objects.create(
            owner_id=owner_id, symbol=symbol, interval=interval, start=window.first,
            end=pinned_end, costs=costs_dict,
        )  # fmt: skip
        created = 0
        for index, run in enumerate(asked):
            try:
                # A savepoint each: a refused run leaves nothing, and the others are checked too.
                with transaction.atomic():
                    backtest = backtest_start(
                        owner_id=owner_id, kind=run.get("kind"), config=run.get("config") or {},
                        symbol=symbol, interval=interval, start=window.first, end=pinned_end,
                        costs=costs_dict, queue=queue,
                    )  # fmt: skip
                    Backtest.objects.filter(pk=backtest.pk).update(comparison=comparison)
                    created += 1
            except InvalidStrategyConfig as error:
                if defaults and run.get("kind") == "xgboost":
                    continue  # no usable model version for this data: compared without it
                errors.update({f"runs.{index}.{k}": m for k, m in error.errors.items()})
        if errors or not created:
            raise InvalidStrategyConfig(errors or {"runs": ["no run could be started"]})
    return comparison


def comparison_run(*, comparison_id: int, progress: Progress | None = None) -> BacktestComparison:
    """Run a comparison's queued backtests one after the other in this process, reporting
    the progress over all of them; one that has ended is left as it is."""
    comparison = BacktestComparison.objects.get(pk=comparison_id)
    backtests = list(comparison.backtests.order_by("pk"))
    for index, backtest in enumerate(backtests):
        step = None if progress is None else _scaled(progress, index, len(backtests), backtest.kind)
        backtest_run(backtest_id=backtest.pk, progress=step)
    return comparison


def _scaled(progress: Progress, index: int, count: int, kind: str) -> Progress:
    """One backtest's progress as a share of the whole comparison's."""

    def step(fraction: float, message: str) -> None:
        progress((index + fraction) / count, f"{kind}: {message}")

    return step


@dataclass(frozen=True, slots=True)
class ComparisonState:
    status: str
    progress: float
    message: str


def comparison_state(comparison: BacktestComparison) -> ComparisonState:
    """The comparison's status from its backtests': failed if one failed, succeeded when all
    did, else running or queued; progress is their mean."""
    rows = list(comparison.backtests.order_by("pk").values_list("kind", "status", "progress"))
    statuses = {status for _, status, _ in rows}
    if BacktestStatus.FAILED in statuses:
        status = BacktestStatus.FAILED
    elif statuses == {BacktestStatus.SUCCEEDED}:
        status = BacktestStatus.SUCCEEDED
    elif statuses & {BacktestStatus.RUNNING, BacktestStatus.SUCCEEDED}:
        status = BacktestStatus.RUNNING
    else:
        status = BacktestStatus.QUEUED
    done = sum(1 for _, s, _ in rows if s == BacktestStatus.SUCCEEDED)
    progress = sum(1.0 if s == BacktestStatus.SUCCEEDED else p for _, s, p in rows)
    return ComparisonState(
        status=str(status),
        progress=progress / len(rows) if rows else 0.0,
        message=f"{done} of {len(rows)} backtests done",
    )


def run_labels(backtests: Sequence[Backtest]) -> list[str]:
    """Each backtest's column name: its kind, numbered when a kind comes twice."""
    kinds = [backtest.kind for backtest in backtests]
    seen: dict[str, int] = {}
    labels = []
    for kind in kinds:
        seen[kind] = seen.get(kind, 0) + 1
        labels.append(f"{kind} #{seen[kind]}" if kinds.count(kind) > 1 else kind)
    return labels


def comparison_report_for(comparison: BacktestComparison) -> Report:
    """The side-by-side report of a comparison whose backtests have all succeeded."""
    backtests = list(comparison.backtests.order_by("pk"))
    unfinished = [b for b in backtests if b.status != BacktestStatus.SUCCEEDED]
    if unfinished:
        raise InvalidStrategyConfig(
            {
                "comparison": [
                    f"backtest {b.pk} ({b.kind}) is {b.status}"
                    + (f": {b.error}" if b.error else "")
                    for b in unfinished
                ]
            }
        )
    labels = run_labels(backtests)
    runs = [run_from_backtest(b, label) for b, label in zip(backtests, labels, strict=True)]
    title = (
        f"Comparison {comparison.pk}: {comparison.symbol} {comparison.interval}, "
        f"{', '.join(run.label for run in runs)}"
    )
    return comparison_report(runs, market_for(runs[0]), title)
