"""Writes of the strategies app: strategies (create, update, pause, resume, stop, clone,
delete), their signals, and backtests (start, run). Keyword-only, one transaction each; a
refusal raises ``InvalidStrategyConfig`` with messages by field (``config.fast_window``,
``account``, ...) and writes nothing."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from execution.domain.errors import DomainError
from execution.domain.urgency import InvalidConfig
from execution.domain.values import InstrumentSpec
from execution.models import Account, Instrument
from execution.selectors import candle_window
from mlmodels.models import ModelStatus, ModelVersion
from mlmodels.selectors import feature_differences
from strategies.backtest.engine import BacktestConfig, BacktestResult, Trade, run_backtest
from strategies.backtest.performance import performance_metrics
from strategies.backtest.walkforward import (
    WalkForwardModel,
    walk_forward_metrics,
    walk_forward_strategy,
)
from strategies.costs import BacktestCosts
from strategies.domain.base import Bars
from strategies.kinds import InvalidStrategyConfig, StrategyKind, kind_get
from strategies.l2_backtests import L2Execution, l2_backtest_compute, l2_costs_errors
from strategies.l2_history import l2_window_problem
from strategies.market_inputs import BacktestBookReading, bar_books, book_series
from strategies.models import (
    Backtest,
    BacktestData,
    BacktestStatus,
    Signal,
    SignalOutcome,
    Strategy,
    StrategyStatus,
)
from strategies.presets import StrategySettings, preset_values, settings_resolve

Progress = Callable[[float, str], None]
EQUITY_POINTS = 1000  # a saved equity curve has at most this many points
_INTERVAL = re.compile(r"^([1-9][0-9]{0,2})([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class StrategyStateError(DomainError):
    """A status change the strategy's current status does not allow."""


def interval_seconds(interval: str) -> int | None:
    """Seconds of a candle interval such as 15m, 1h, 1d, 1w; None if it is not one."""
    match = _INTERVAL.match(interval) if isinstance(interval, str) else None
    return int(match[1]) * _UNIT_SECONDS[match[2]] if match else None


# --- strategies ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Checked:
    kind: StrategyKind
    config: dict[str, Any]
    settings: StrategySettings
    account: Account
    instruments: list[Instrument]
    model_version: ModelVersion | None


def _check(
    *,
    owner_id: int,
    name: str,
    kind: str,
    account_id: int | None,
    symbols: Iterable[str],
    interval: str,
    config: Mapping[str, Any],
    settings: Mapping[str, Any],
    preset: str | None,
    model_version_id: int | None,
) -> _Checked:
    """Every field checked; every refusal collected, by field, before anything is written."""
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        errors["name"] = ["a name of 1 to 100 characters is required"]
    if interval_seconds(interval) is None:
        errors["interval"] = [f"{interval!r} is not an interval such as 15m, 1h, 1d or 1w"]
    strategy_kind: StrategyKind | None = None
    try:
        strategy_kind = kind_get(kind)
    except InvalidStrategyConfig as error:
        errors.update(error.errors)
    presets: dict[str, Any] = {}
    try:
        presets = preset_values(preset)
    except InvalidStrategyConfig as error:
        errors.update(error.errors)
    config_dict: dict[str, Any] = {}
    if strategy_kind is not None:
        # The preset's values for settings the kind's config has; the explicit config wins.
        from_preset = {k: v for k, v in presets.items() if k in strategy_kind.field_names()}
        try:
            if not isinstance(config, Mapping):
                raise InvalidStrategyConfig({"non_field_errors": ["must be a JSON object"]})
            built = strategy_kind.config_from_dict({**from_preset, **config})
            config_dict = strategy_kind.config_to_dict(built)
        except InvalidStrategyConfig as error:
            errors.update({f"config.{key}": messages for key, messages in error.errors.items()})
    resolved: StrategySettings | None = None
    try:
        resolved = settings_resolve(None if "preset" in errors else preset or None, settings)
    except InvalidStrategyConfig as error:
        errors.update(error.errors)
    account = None
    if isinstance(account_id, int):
        account = Account.objects.filter(pk=account_id, owner_id=owner_id).first()
    if account is None:
        errors["account"] = [f"you have no account {account_id}"]
    symbol_list = list(symbols) if not isinstance(symbols, str) else [symbols]
    instruments = list(Instrument.objects.filter(symbol__in=symbol_list))
    missing = sorted(set(symbol_list) - {i.symbol for i in instruments})
    if not symbol_list:
        errors["instruments"] = ["name at least one instrument"]
    elif missing:
        errors["instruments"] = [f"no such instrument: {', '.join(missing)}"]
    version = None
    if model_version_id is not None:
        version = ModelVersion.objects.filter(pk=model_version_id).first()
        if version is None:
            errors["model_version"] = [f"there is no model version {model_version_id}"]
    if strategy_kind is not None and "model_version" not in errors:
        if strategy_kind.needs_model and version is None:
            errors["model_version"] = [f"a {strategy_kind.name} strategy needs a model version"]
        elif not strategy_kind.needs_model and version is not None:
            errors["model_version"] = [f"a {strategy_kind.name} strategy takes no model"]
        elif version is not None:
            problems = []
            if version.status == ModelStatus.RETIRED:
                problems.append(f"model version {version.pk} is retired")
            if version.interval != interval:
                problems.append(
                    f"model version {version.pk} was trained on {version.interval} candles, "
                    f"not {interval}"
                )
            if version.symbol not in symbol_list:
                problems.append(
                    f"model version {version.pk} was trained on {version.symbol}, which this "
                    "strategy does not trade"
                )
            if problems:
                errors["model_version"] = problems
    if errors:
        raise InvalidStrategyConfig(errors)
    assert strategy_kind is not None and resolved is not None and account is not None
    return _Checked(strategy_kind, config_dict, resolved, account, instruments, version)


def _name_taken(owner_id: int, name: str, exclude: int | None = None) -> bool:
    taken = Strategy.objects.filter(owner_id=owner_id, name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    return taken.exists()


@transaction.atomic
def strategy_create(
    *,
    owner_id: int,
    name: str,
    kind: str,
    account_id: int | None,
    symbols: Iterable[str],
    interval: str,
    config: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    preset: str | None = None,
    model_version_id: int | None = None,
    visibility: str = "private",
) -> Strategy:
    """A new strategy, paused until resumed. Settings: defaults, then the preset, then
    ``settings``; the kind's config: defaults, then the preset's values for its keys, then
    ``config``."""
    checked = _check(
        owner_id=owner_id, name=name, kind=kind, account_id=account_id, symbols=symbols,
        interval=interval, config=config or {}, settings=settings or {}, preset=preset,
        model_version_id=model_version_id,
    )  # fmt: skip
    if _name_taken(owner_id, name):
        raise InvalidStrategyConfig({"name": [f"you already have a strategy called {name!r}"]})
    strategy = Strategy.objects.create(
        name=name,
        kind=checked.kind.name,
        owner_id=owner_id,
        account=checked.account,
        interval=interval,
        config=checked.config,
        preset=preset or "",
        model_version=checked.model_version,
        visibility=visibility,
        paused_at=timezone.now(),
        **checked.settings.to_dict(),
    )
    strategy.instruments.set(checked.instruments)
    return strategy


@transaction.atomic
def strategy_update(
    *,
    strategy_id: int,
    owner_id: int,
    changes: Mapping[str, Any],
) -> Strategy:
    """Change some of a strategy's fields (those of ``strategy_create``). A new ``config``
    replaces the old one (defaults and the preset fill what it leaves out); a new ``preset``
    is applied to the settings not given in the same change."""
    strategy = Strategy.objects.select_for_update().get(pk=strategy_id, owner_id=owner_id)
    known = {
        "name", "kind", "account_id", "symbols", "interval", "config", "settings", "preset",
        "model_version_id", "visibility",
    }  # fmt: skip
    unknown = sorted(set(changes) - known)
    if unknown:
        raise InvalidStrategyConfig({key: ["cannot be changed"] for key in unknown})
    current = {s: getattr(strategy, s) for s in StrategySettings.names()}
    preset = changes.get("preset", strategy.preset or None)
    if "preset" in changes:
        current = {}  # the new preset's values replace the old settings
    settings = {**current, **changes.get("settings", {})}
    name = changes.get("name", strategy.name)
    checked = _check(
        owner_id=owner_id,
        name=name,
        kind=changes.get("kind", strategy.kind),
        account_id=changes.get("account_id", strategy.account_id),
        symbols=changes.get("symbols", [i.symbol for i in strategy.instruments.all()]),
        interval=changes.get("interval", strategy.interval),
        config=changes.get("config", strategy.config),
        settings=settings,
        preset=preset,
        model_version_id=changes.get("model_version_id", strategy.model_version_id),
    )
    if _name_taken(owner_id, name, exclude=strategy.pk):
        raise InvalidStrategyConfig({"name": [f"you already have a strategy called {name!r}"]})
    strategy.name = name
    strategy.kind = checked.kind.name
    strategy.account = checked.account
    strategy.interval = changes.get("interval", strategy.interval)
    strategy.config = checked.config
    strategy.preset = preset or ""
    strategy.model_version = checked.model_version
    strategy.visibility = changes.get("visibility", strategy.visibility)
    for key, value in checked.settings.to_dict().items():
        setattr(strategy, key, value)
    strategy.save()
    strategy.instruments.set(checked.instruments)
    return strategy


def _transition(strategy_id: int, owner_id: int | None, to: StrategyStatus) -> Strategy:
    query = Strategy.objects.select_for_update()
    if owner_id is not None:
        query = query.filter(owner_id=owner_id)
    strategy = query.get(pk=strategy_id)
    if strategy.status == to:
        return strategy  # asked twice: nothing to do
    if strategy.status == StrategyStatus.STOPPED:
        raise StrategyStateError(f"strategy {strategy.name!r} is stopped; clone it to run again")
    now = timezone.now()
    strategy.status = to
    stamp = {
        StrategyStatus.ACTIVE: "activated_at",
        StrategyStatus.PAUSED: "paused_at",
        StrategyStatus.STOPPED: "stopped_at",
    }[to]
    setattr(strategy, stamp, now)
    strategy.save(update_fields=["status", stamp, "updated_at"])
    return strategy


@transaction.atomic
def strategy_resume(*, strategy_id: int, owner_id: int | None = None) -> Strategy:
    """Active: its signals go to its account. A stopped strategy stays stopped."""
    return _transition(strategy_id, owner_id, StrategyStatus.ACTIVE)


@transaction.atomic
def strategy_pause(*, strategy_id: int, owner_id: int | None = None) -> Strategy:
    """Paused: it emits nothing until resumed."""
    return _transition(strategy_id, owner_id, StrategyStatus.PAUSED)


@transaction.atomic
def strategy_stop(*, strategy_id: int, owner_id: int | None = None) -> Strategy:
    """Stopped for good (its record and signals stay); clone it to run it again."""
    return _transition(strategy_id, owner_id, StrategyStatus.STOPPED)


@transaction.atomic
def strategy_clone(
    *, strategy_id: int, preset: str | None = None, name: str | None = None
) -> Strategy:
    """A paused copy for the same owner; with ``preset``, the preset's values replace the
    original's (settings and config keys alike). Named "<name> (<preset>)" unless given,
    numbered when taken."""
    original = Strategy.objects.get(pk=strategy_id)
    chosen = preset_values(preset)
    base = name or (f"{original.name} ({preset})" if preset else f"{original.name} (copy)")
    candidate, number = base, 2
    while _name_taken(original.owner_id, candidate):
        candidate, number = f"{base} {number}", number + 1
    names = StrategySettings.names()
    settings = {s: getattr(original, s) for s in names if s not in chosen}
    config = {k: v for k, v in original.config.items() if k not in chosen}
    return strategy_create(
        owner_id=original.owner_id,
        name=candidate[:100],
        kind=original.kind,
        account_id=original.account_id,
        symbols=[i.symbol for i in original.instruments.all()],
        interval=original.interval,
        config=config,
        settings=settings,
        preset=preset or original.preset or None,
        model_version_id=original.model_version_id,
        visibility=original.visibility,
    )


@transaction.atomic
def strategy_delete(*, strategy_id: int, owner_id: int) -> None:
    """Delete a strategy that never signalled; one with signals on record is stopped instead
    (refused here). Its backtests stay, with their snapshot of kind and config."""
    strategy = Strategy.objects.select_for_update().get(pk=strategy_id, owner_id=owner_id)
    count = strategy.signals.count()
    if count:
        raise StrategyStateError(
            f"strategy {strategy.name!r} has {count} signals on record: stop it instead"
        )
    strategy.delete()


@transaction.atomic
def signal_record(
    *,
    strategy_id: int,
    symbol: str,
    at: datetime,
    side: str,
    target_position: float,
    strength: float = 1.0,
    confidence: float | None = None,
    price: Decimal | None = None,
    size: Decimal | None = None,
    stop_loss: Decimal | None = None,
    take_profit: Decimal | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Signal:
    """Record a strategy's decision, pending until the execution path settles it."""
    return Signal.objects.create(
        strategy_id=strategy_id,
        instrument=Instrument.objects.get(symbol=symbol),
        at=at,
        side=side,
        target_position=target_position,
        strength=strength,
        confidence=confidence,
        price=price,
        size=size,
        stop_loss=stop_loss,
        take_profit=take_profit,
        metadata=dict(metadata or {}),
        outcome=SignalOutcome.PENDING,
    )


# --- backtests ----------------------------------------------------------------------------------


def backtest_start(
    *,
    owner_id: int,
    strategy_id: int | None = None,
    kind: str | None = None,
    config: Mapping[str, Any] | None = None,
    symbol: str | None = None,
    interval: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    costs: Mapping[str, Any] | None = None,
    data: str = BacktestData.CANDLES,
    execution: Mapping[str, Any] | None = None,
    queue: bool = True,
) -> Backtest:
    """Queue a backtest for the ``strategies.run_backtest`` task, of one of the owner's
    strategies (its kind, config, first instrument and interval unless given) or of a kind
    and config; refused input writes nothing. ``queue=False`` leaves it for the caller to
    run (``backtest_run``, as the ``backtest`` command does in the foreground). ``data="l2"``
    runs on the stored L2 books and trades of the window, worked by ``execution``
    (``strategies.l2_backtests.L2Execution``)."""
    errors: dict[str, list[str]] = {}
    strategy = None
    if strategy_id is not None:
        strategy = Strategy.objects.filter(pk=strategy_id, owner_id=owner_id).first()
        if strategy is None:
            raise InvalidStrategyConfig({"strategy": [f"you have no strategy {strategy_id}"]})
        kind = kind or strategy.kind
        config = strategy.config if config is None else config
        interval = interval or strategy.interval
        if symbol is None:
            first = strategy.instruments.order_by("symbol").first()
            symbol = first.symbol if first else None
    if kind is None:
        raise InvalidStrategyConfig({"kind": ["name a strategy or a kind"]})
    config_dict: dict[str, Any] = {}
    strategy_kind: StrategyKind | None = None
    try:
        strategy_kind = kind_get(kind)
        config_dict = strategy_kind.config_to_dict(strategy_kind.config_from_dict(config or {}))
    except InvalidStrategyConfig as error:
        for key, messages in error.errors.items():
            errors[key if key == "kind" else f"config.{key}"] = messages
    if symbol is None or not Instrument.objects.filter(symbol=symbol).exists():
        errors["symbol"] = [f"no such instrument: {symbol}"]
    if interval is None or interval_seconds(interval) is None:
        errors["interval"] = [f"{interval!r} is not an interval such as 15m, 1h, 1d or 1w"]
    if start is not None and end is not None and start >= end:
        errors["end"] = ["end must be after start"]
    needs_model = strategy_kind is not None and strategy_kind.needs_model
    model_version = None
    if needs_model and "symbol" not in errors and "interval" not in errors:
        assert symbol is not None and interval is not None
        try:
            model_version = backtest_model_version(
                strategy=strategy, symbol=symbol, interval=interval
            )
        except InvalidStrategyConfig as error:
            errors.update(error.errors)
    costs_dict: dict[str, Any] = {}
    try:
        costs_dict = BacktestCosts.from_dict(costs or {}).to_dict()
    except InvalidStrategyConfig as error:
        errors.update({f"costs.{key}": messages for key, messages in error.errors.items()})
    execution_dict: dict[str, Any] = {}
    if data not in BacktestData.values:
        errors["data"] = [f"data must be one of {', '.join(BacktestData.values)}, got {data!r}"]
    elif data == BacktestData.L2:
        errors.update(_l2_errors(costs_dict, execution, strategy_kind, errors, symbol, start, end))
        if not any(key.startswith("execution.") for key in errors):
            execution_dict = L2Execution.from_dict(execution or {}).to_dict()
    elif execution:
        errors["execution"] = ["execution settings apply to L2 backtests only (data=l2)"]
    if errors:
        raise InvalidStrategyConfig(errors)
    assert symbol is not None and interval is not None
    with transaction.atomic():
        backtest = Backtest.objects.create(
            owner_id=owner_id, strategy=strategy, kind=kind, config=config_dict, symbol=symbol,
            interval=interval, start=start, end=end, costs=costs_dict,
            model_version=model_version, data=data, execution=execution_dict,
            message="waiting for a worker",
        )  # fmt: skip
        from strategies.tasks import run_backtest as task  # tasks imports this module

        backtest_id = backtest.pk
        if queue:
            transaction.on_commit(lambda: task.delay(backtest_id))
    return backtest


def _l2_errors(
    costs: Mapping[str, Any],
    execution: Mapping[str, Any] | None,
    kind: StrategyKind | None,
    errors: Mapping[str, list[str]],
    symbol: str | None,
    start: datetime | None,
    end: datetime | None,
) -> dict[str, list[str]]:
    """What refuses an L2 backtest: a model kind, costs it cannot honour, bad execution
    settings, or a window without stored L2 data."""
    found: dict[str, list[str]] = {}
    if kind is not None and kind.needs_model:
        found["data"] = [f"a {kind.name} backtest runs on candles only (walk-forward refits)"]
    if costs and not any(key.startswith("costs.") for key in errors):
        problems = l2_costs_errors(BacktestCosts.from_dict(costs))
        found.update({f"costs.{key}": messages for key, messages in problems.items()})
    try:
        L2Execution.from_dict(execution or {})
    except InvalidStrategyConfig as error:
        found.update({f"execution.{key}": messages for key, messages in error.errors.items()})
    if "symbol" not in errors and "end" not in errors:
        assert symbol is not None
        problem = l2_window_problem(symbol=symbol, start=start, end=end)
        if problem is not None:
            found["data"] = [problem]
    return found


def walk_forward_model(version: ModelVersion) -> WalkForwardModel:
    """What ``version`` was trained with, for fitting it again fold by fold in a backtest;
    a stored value this library refuses is named under ``model_version``."""
    try:
        return WalkForwardModel.from_plain(
            training_config=version.training_config,
            feature_config=version.feature_config,
            feature_names=version.feature_names,
            label=f"{version.name} v{version.version}",
        )
    except InvalidConfig as error:
        raise InvalidStrategyConfig(
            {"model_version": [f"model version {version.pk}: {error.key}: {error}"]}
        ) from None


def backtest_model_version(
    *, strategy: Strategy | None, symbol: str, interval: str
) -> ModelVersion:
    """The model version whose training a backtest of a model kind repeats walk-forward: the
    strategy's, or without a strategy the active one for ``symbol`` and ``interval``. A missing
    or mismatched one is refused under ``model_version``."""
    versions = ModelVersion.objects.defer("artifact")  # a backtest refits; it never loads it
    if strategy is not None:
        version_id = strategy.model_version_id
        version = None if version_id is None else versions.filter(pk=version_id).first()
        if version is None:
            raise InvalidStrategyConfig(
                {"model_version": [f"strategy {strategy.name!r} has no model version"]}
            )
    else:
        version = (
            versions.filter(symbol=symbol, interval=interval, status=ModelStatus.ACTIVE)
            .order_by("-activated_at", "-pk")
            .first()
        )
        if version is None:
            raise InvalidStrategyConfig(
                {
                    "model_version": [
                        f"no model version is active for {symbol} {interval}: activate one, "
                        "or backtest a strategy that names one"
                    ]
                }
            )
    problems = [
        f"model version {version.pk} was trained on {what}, not {wanted}"
        for what, wanted in ((version.symbol, symbol), (version.interval, interval))
        if what != wanted
    ]
    if version.algorithm != "xgboost":
        problems.append(f"model version {version.pk} is {version.algorithm}, not xgboost")
    differences = feature_differences(version)
    if differences:
        problems.append(
            f"model version {version.pk} was trained on other feature definitions: "
            + "; ".join(differences)
        )
    if problems:
        raise InvalidStrategyConfig({"model_version": problems})
    walk_forward_model(version)
    return version


class BacktestProgress:
    """A run's progress callback: writes the fraction and a message on the row."""

    def __init__(self, backtest_id: int) -> None:
        self.backtest_id = backtest_id

    def __call__(self, fraction: float, message: str) -> None:
        Backtest.objects.filter(pk=self.backtest_id, status=BacktestStatus.RUNNING).update(
            progress=min(max(float(fraction), 0.0), 1.0), message=message[:200]
        )


def backtest_run(*, backtest_id: int, progress: Progress | None = None) -> Backtest:
    """Run a queued backtest (or one whose worker died) to its end and save its metrics,
    equity curve and trades. One that has ended is left as it is (a task may come twice)."""
    claimed = Backtest.objects.filter(
        pk=backtest_id, status__in=[BacktestStatus.QUEUED, BacktestStatus.RUNNING]
    ).update(status=BacktestStatus.RUNNING, started_at=timezone.now(), progress=0.0, error="")
    backtest = Backtest.objects.get(pk=backtest_id)
    if not claimed:
        return backtest
    report = progress or BacktestProgress(backtest.pk)
    try:
        saved = _backtest_compute(backtest, report)
    except Exception as error:
        Backtest.objects.filter(pk=backtest.pk).update(
            status=BacktestStatus.FAILED,
            error=str(error) or type(error).__name__,
            message="failed",
            finished_at=timezone.now(),
        )
        if not isinstance(error, DomainError):
            raise  # a bug, not bad input: let the worker log it
        backtest.refresh_from_db()
        return backtest
    Backtest.objects.filter(pk=backtest.pk).update(
        status=BacktestStatus.SUCCEEDED,
        progress=1.0,
        message="done",
        finished_at=timezone.now(),
        **saved,
    )
    backtest.refresh_from_db()
    return backtest


def _bars(backtest: Backtest) -> Bars:
    window = candle_window(
        symbol=backtest.symbol,
        interval=backtest.interval,
        start=backtest.start or _EARLIEST,
        end=backtest.end or _LATEST,
    )
    return Bars(
        starts=window.open_time.astype("datetime64[us]"),
        open=window.open,
        high=window.high,
        low=window.low,
        close=window.close,
        volume=window.volume,
    )


def _on_grid(value: float, step: Decimal) -> Decimal:
    return (Decimal(repr(value)) / step).to_integral_value() * step


def _backtest_compute(backtest: Backtest, report: Progress) -> dict[str, Any]:
    if backtest.data == BacktestData.L2:
        seconds = interval_seconds(backtest.interval) or 60
        return l2_backtest_compute(backtest, report, interval=timedelta(seconds=seconds))
    report(0.05, "loading candles")
    bars = _bars(backtest)
    if len(bars) < 2:
        raise DomainError(
            f"{backtest.symbol} has {len(bars)} stored {backtest.interval} candles in the "
            "window: a backtest needs at least 2 (import some with manage.py marketdata_import)"
        )
    spec: InstrumentSpec = Instrument.objects.get(symbol=backtest.symbol).spec()
    costs = BacktestCosts.from_dict(backtest.costs)
    order_size = costs.order_size
    if order_size is None:
        order_size = (costs.initial_cash / Decimal(repr(float(bars.close[0])))).quantize(
            Decimal(1), rounding=ROUND_DOWN
        )
        order_size = (order_size // spec.lot_size) * spec.lot_size
    kind = kind_get(backtest.kind)
    model = None
    if kind.needs_model:
        # The version chosen when the backtest was asked for, even if another is active now.
        if backtest.model_version_id is None:
            raise DomainError("this backtest of a model kind names no model version")
        version = ModelVersion.objects.defer("artifact").get(pk=backtest.model_version_id)
        model = walk_forward_model(version)
    strategy = walk_forward_strategy(
        kind.name, kind.config_from_dict(backtest.config), bars, model=model,
        progress=lambda fraction, message: report(0.05 + 0.15 * fraction, message),
    )  # fmt: skip
    if isinstance(strategy, BacktestBookReading) and strategy.reads_book:
        # Its book at each bar's close, as the live runner gives it (strategies.market_inputs).
        starts = [_moment(start) for start in bars.starts]
        books = bar_books(
            instrument_id=Instrument.objects.get(symbol=backtest.symbol).pk,
            interval=timedelta(seconds=interval_seconds(backtest.interval) or 60),
            starts=starts,
        )
        strategy.use_books(book_series(books, starts))
    walk_forward = walk_forward_metrics(strategy, bars)
    config = BacktestConfig(
        spec=spec,
        order_size=order_size,
        initial_cash=costs.initial_cash,
        fee_rate=costs.fee_rate,
        slippage_bps=costs.slippage_bps,
        latency_bars=costs.latency_bars,
        latency=timedelta(seconds=float(costs.latency_seconds)),
        stop_loss=costs.stop_loss,
        take_profit=costs.take_profit,
        risk=costs.risk_limits(),
    )
    report(0.2, f"running {strategy.name} over {len(bars)} bars")
    result = run_backtest(strategy, bars, config)
    report(0.7, "computing metrics")
    seconds = interval_seconds(backtest.interval) or 3600
    closes = [_on_grid(float(c), spec.tick_size) for c in bars.close]
    performance = _performance(result, closes, 365 * 86400 / seconds, bars)
    report(0.9, "saving")
    return {
        "metrics": {
            **performance,
            **_cost_metrics(result),
            "order_size": str(order_size),
            "bars": len(bars),
            "first_bar": _iso(bars.starts[0]),
            "last_bar": _iso(bars.starts[-1]),
            "open_trade": _trade(result.open_trade, bars) if result.open_trade else None,
            **({"walk_forward": walk_forward} if walk_forward else {}),
        },
        "equity_curve": _equity_curve(result),
        "trades": [_trade(trade, bars) for trade in result.trades],
    }


def _performance(
    result: BacktestResult, closes: list[Decimal], periods_per_year: float, bars: Bars
) -> dict[str, Any]:
    open_trade = result.open_trade
    return performance_metrics(
        result.equity_curve(closes), result.closed_trades(), periods_per_year, span=_span(bars),
        open_since=None if open_trade is None else _moment(bars.starts[open_trade.entry_bar]),
    )  # fmt: skip


def _cost_metrics(result: BacktestResult) -> dict[str, Any]:
    fees = sum((f.event.fee for f in result.fills), Decimal(0))
    slippage = sum((f.slippage_cost for f in result.fills), Decimal(0))
    return {
        "initial_cash": str(result.initial_cash),
        "final_equity": str(result.final_equity),
        "fills": len(result.fills),
        "total_fees": str(fees),
        "total_slippage_cost": str(slippage),
        "total_costs": str(result.total_costs),
        "refusals": result.refusal_counts,
        "protective_exits": dict(
            Counter(str(t.exit_reason) for t in result.trades if t.exit_reason is not None)
        ),
    }


def _span(bars: Bars) -> timedelta:
    """From the first bar's close to the last's: the time the equity curve covers."""
    span = (bars.starts[-1] - bars.starts[0]).astype("timedelta64[us]").item()
    assert isinstance(span, timedelta)
    return span


def _moment(value: np.datetime64) -> datetime:
    moment = value.astype("datetime64[us]").item()
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC)


def _iso(value: np.datetime64) -> str:
    return _moment(value).isoformat()


def _equity_curve(result: BacktestResult) -> list[list[Any]]:
    """[time, equity] at each bar's close, evenly thinned to EQUITY_POINTS (last included)."""
    n = len(result.equity)
    picks = np.unique(np.linspace(0, n - 1, min(n, EQUITY_POINTS)).round().astype(np.int64))
    return [[_iso(result.bars.starts[i]), round(float(result.equity[i]), 2)] for i in picks]


def _trade(trade: Trade, bars: Bars) -> dict[str, Any]:
    return {
        "side": str(trade.side.value),
        "quantity": str(trade.quantity),
        "entry_time": _iso(bars.starts[trade.entry_bar]),
        "entry_price": str(trade.entry_price),
        "exit_time": None if trade.exit_bar is None else _iso(bars.starts[trade.exit_bar]),
        "exit_price": None if trade.exit_price is None else str(trade.exit_price),
        "fees": str(trade.fees),
        "slippage_cost": str(trade.slippage_cost),
        "net_pnl": None if trade.net_pnl is None else str(trade.net_pnl),
    }
