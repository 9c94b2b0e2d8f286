"""The live strategy runner: every closed bar through each active strategy that trades it.

A closed bar reaches ``strategies_bar_closed`` (from the market feed, through
``execution.signals.bar_closed``, or from any caller). Its candle must be stored. With
``STRATEGY_RUNNER = "inline"`` (the embedded default) the bar is evaluated in this process
after commit; with ``"celery"`` (production) one ``strategies.evaluate_bar`` task per bar goes
to the queue of its instrument, ``strategies.bars.<n>`` (n = crc32(symbol) mod
``STRATEGY_RUNNER_QUEUES``). Each such queue is consumed by one solo worker
(``celery -A tradingsite worker --pool=solo -Q strategies.bars.0``): a broker queue is first in,
first out, so the bars of one instrument are evaluated in order, and instruments spread over
the queues. Whatever the delivery, a bar older than the last one a strategy evaluated on that
instrument is refused as stale, and a bar delivered twice is evaluated once.

Evaluating one strategy on one bar, ``strategy_evaluate``:

1. In one transaction, with the strategy's row locked: read its status now (a pause or stop
   takes effect from the next bar; nothing is cached), refuse a stale or repeated bar against
   its ``RunnerState``, feed the bar to its live state, and claim the ``StrategyEvaluation``
   row (unique per strategy, instrument and bar) together with the signal's record. A repeat,
   or a retry after a crash anywhere in this step, finds the claim or nothing at all: never a
   second signal.
2. After commit, a pending signal goes to ``signal_execute`` on the strategy's account, and its
   outcome (executed with its parent order, refused, skipped) is written on it in the same
   transaction as the parent order, with the signal's row locked (``signal_carry_out``). A
   crash between the two steps leaves the signal pending with nothing placed; the
   ``strategies.carry_out_pending_signals`` beat task then executes it while it is within its
   decay, or expires it: never lost, never executed twice.

Sizing: a full target (1.0) is ``RunnerState.order_size``, fixed at the strategy's first bar on
the instrument (``max_position_size`` of the account's equity at that close, on the lot grid,
at least the minimum quantity), like a backtest's order size. A signal to target t trades
t x order_size less the account's position in the instrument (so a strategy should have the
instrument to itself on its account). A signal older than ``signal_decay_seconds`` when it is
decided is recorded as expired; one beyond ``max_signals_per_minute`` (signals of the last 60
seconds of bar time) as skipped; neither is executed.

Live state: each process keeps each strategy's live runner (``Strategy.live()``) per instrument,
keyed by a version of its kind, config, model and activation time, so a config change or a
resume rebuilds it. A rebuilt (or first) runner is warmed up on the stored candles before the
bar, at most ``max(2 x warmup_bars, WARMUP_MIN_BARS)`` of them; a runner is also rebuilt when
another process evaluated the bars in between. Its warm-up decisions are not signals.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from execution.domain.errors import DomainError
from execution.domain.values import Side, exact
from execution.models import Candle, Instrument, Position
from execution.selectors import account_valuation
from execution.services.signal_execution import signal_execute
from strategies.domain.base import Bar, LiveStrategy
from strategies.domain.base import Signal as Decision
from strategies.kinds import kind_get
from strategies.market_inputs import LiveBookReading, bar_books
from strategies.models import (
    RunnerState,
    Signal,
    SignalOutcome,
    Strategy,
    StrategyEvaluation,
    StrategyStatus,
)
from strategies.services import interval_seconds, signal_record

logger = logging.getLogger(__name__)

WARMUP_MIN_BARS = 100
RATE_WINDOW = timedelta(seconds=60)


class Verdict(StrEnum):
    SIGNALLED = "signalled"  # a signal was recorded (see its outcome)
    NO_SIGNAL = "no_signal"  # evaluated; the target did not change
    INACTIVE = "inactive"  # paused, stopped, or no longer trading this bar
    DUPLICATE = "duplicate"  # this bar was evaluated already
    STALE = "stale"  # older than the last bar evaluated


@dataclass(frozen=True, slots=True)
class Evaluation:
    strategy_id: int
    symbol: str
    bar_start: datetime
    verdict: Verdict
    signal_id: int | None = None
    outcome: str | None = None


# --- entry points --------------------------------------------------------------------------------


def runner_queue(symbol: str) -> str:
    """The Celery queue of an instrument's bars."""
    return f"strategies.bars.{zlib.crc32(symbol.encode()) % settings.STRATEGY_RUNNER_QUEUES}"


def _checked_bar(symbol: object, interval: object, bar_start: object) -> tuple[str, str, datetime]:
    errors: dict[str, str] = {}
    if not isinstance(symbol, str) or not Instrument.objects.filter(symbol=symbol).exists():
        errors["symbol"] = f"no such instrument: {symbol!r}"
    if not isinstance(interval, str) or interval_seconds(interval) is None:
        errors["interval"] = f"{interval!r} is not an interval such as 1m, 15m, 1h or 1d"
    if not isinstance(bar_start, datetime) or bar_start.utcoffset() is None:
        errors["bar_start"] = f"{bar_start!r} is not a time-zone-aware time"
    if errors:
        raise DomainError("; ".join(f"{key}: {message}" for key, message in errors.items()))
    assert isinstance(symbol, str) and isinstance(interval, str) and isinstance(bar_start, datetime)
    return symbol, interval, bar_start.astimezone(UTC)


def strategies_bar_closed(*, symbol: str, interval: str, bar_start: datetime) -> None:
    """A bar of ``symbol`` opening at ``bar_start`` has closed (its candle is stored): evaluate
    the strategies that trade it, after the current transaction commits, in this process or by
    a task (``STRATEGY_RUNNER``). Bad input raises DomainError naming the field."""
    symbol, interval, bar_start = _checked_bar(symbol, interval, bar_start)
    if settings.STRATEGY_RUNNER == "celery":
        from strategies.tasks import evaluate_bar  # tasks imports this module

        transaction.on_commit(
            lambda: evaluate_bar.apply_async(
                args=(symbol, interval, bar_start.isoformat()), queue=runner_queue(symbol)
            )
        )
    else:
        transaction.on_commit(
            lambda: bar_evaluate(symbol=symbol, interval=interval, bar_start=bar_start)
        )


def bar_evaluate(
    *, symbol: str, interval: str, bar_start: datetime, now: datetime | None = None
) -> list[Evaluation]:
    """Evaluate every active strategy trading ``symbol`` at ``interval`` on the stored bar
    opening at ``bar_start``, in the order of their ids. One strategy that fails is logged and
    the others still run."""
    symbol, interval, bar_start = _checked_bar(symbol, interval, bar_start)
    candle = (
        Candle.objects.filter(instrument__symbol=symbol, interval=interval, open_time=bar_start)
        .select_related("instrument")
        .first()
    )
    if candle is None:
        raise DomainError(f"bar_start: no {interval} candle of {symbol} opening at {bar_start}")
    strategy_ids = list(
        Strategy.objects.filter(
            status=StrategyStatus.ACTIVE, interval=interval, instruments=candle.instrument
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    evaluations = []
    for strategy_id in strategy_ids:
        try:
            evaluations.append(strategy_evaluate(strategy_id=strategy_id, candle=candle, now=now))
        except Exception:
            logger.exception("runner: strategy %s failed on %s %s", strategy_id, symbol, bar_start)
    return evaluations


# --- one strategy, one bar -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Claimed:
    signal: Signal
    side: Side
    quantity: Decimal
    strength: float


def strategy_evaluate(
    *, strategy_id: int, candle: Candle, now: datetime | None = None
) -> Evaluation:
    """Evaluate one strategy on one stored closed candle (see the module docstring)."""
    now = now or timezone.now()
    instrument = candle.instrument
    bar_start = candle.open_time.astimezone(UTC)
    seconds = interval_seconds(candle.interval)
    assert seconds is not None
    at = bar_start + timedelta(seconds=seconds)  # the decision is at the bar's close
    key = (strategy_id, instrument.pk)

    def result(verdict: Verdict, signal: Signal | None = None) -> Evaluation:
        return Evaluation(
            strategy_id, instrument.symbol, bar_start, verdict,
            None if signal is None else signal.pk, None if signal is None else signal.outcome,
        )  # fmt: skip

    try:
        with transaction.atomic():
            strategy = (
                Strategy.objects.select_for_update().select_related("account").get(pk=strategy_id)
            )
            if (
                strategy.status != StrategyStatus.ACTIVE
                or strategy.interval != candle.interval
                or not strategy.instruments.filter(pk=instrument.pk).exists()
            ):
                return result(Verdict.INACTIVE)
            state = RunnerState.objects.filter(strategy=strategy, instrument=instrument).first()
            if state is not None and state.last_bar_start >= bar_start:
                repeated = StrategyEvaluation.objects.filter(
                    strategy=strategy, instrument=instrument, bar_start=bar_start
                ).exists()
                return result(Verdict.DUPLICATE if repeated else Verdict.STALE)
            live = _live(strategy, instrument, candle.interval, bar_start, state)
            bar = _bar(candle, live.index)
            if isinstance(live.runner, LiveBookReading) and live.runner.reads_book:
                (book,) = bar_books(
                    instrument_id=instrument.pk, interval=timedelta(seconds=seconds),
                    starts=[bar_start],
                )  # fmt: skip
                if book is None:
                    raise DomainError(
                        f"{strategy.name}: no stored L2 book at the close of {instrument.symbol}"
                        f" {bar_start.isoformat()} (the strategy reads the book)"
                    )
                decision = live.runner.on_bar(bar, book=book)
            else:
                decision = live.runner.on_bar(bar)
            live.index, live.last_bar = live.index + 1, bar_start
            if state is None:
                state = RunnerState(
                    strategy=strategy,
                    instrument=instrument,
                    order_size=_full_size(strategy, instrument, candle.close),
                    last_bar_start=bar_start,
                )
            state.last_bar_start = bar_start
            claimed = None
            if decision is not None:
                claimed = _signal_claim(strategy, instrument, state, decision, candle, at, now)
                state.target_position = decision.target_position
            state.save()
            StrategyEvaluation.objects.create(
                strategy=strategy,
                instrument=instrument,
                bar_start=bar_start,
                target_position=state.target_position,
                signal=None if claimed is None else claimed.signal,
            )
    except BaseException:
        _forget(key)  # the live state saw a bar the database did not record
        raise
    if claimed is None:
        return result(Verdict.NO_SIGNAL)
    if claimed.quantity > 0:
        signal_carry_out(signal_id=claimed.signal.pk, now=now)
        claimed.signal.refresh_from_db()
    return result(Verdict.SIGNALLED, claimed.signal)


def _on_grid(value: float, step: Decimal) -> Decimal:
    return max(step, (Decimal(repr(value)) / step).to_integral_value() * step)


def _full_size(strategy: Strategy, instrument: Instrument, close: float) -> Decimal:
    """The quantity of a full target: max_position_size of the equity at ``close``."""
    equity = account_valuation(strategy.account).equity
    price = _on_grid(close, instrument.tick_size)
    with exact():
        size = strategy.max_position_size * max(equity, Decimal(0)) / price
        lots = (size / instrument.lot_size).to_integral_value(rounding=ROUND_DOWN)
        full: Decimal = max(
            lots * instrument.lot_size, instrument.min_quantity, instrument.lot_size
        )
        return full


def _signal_claim(
    strategy: Strategy,
    instrument: Instrument,
    state: RunnerState,
    decision: Decision,
    candle: Candle,
    at: datetime,
    now: datetime,
) -> _Claimed:
    """Record the decision as a signal; pending (quantity > 0) only if it is to be executed."""
    position = Position.objects.filter(account=strategy.account, instrument=instrument).values_list(
        "quantity", flat=True
    ).first() or Decimal(0)
    with exact():
        delta = Decimal(repr(decision.target_position)) * state.order_size - position
        delta = (delta / instrument.lot_size).to_integral_value(rounding=ROUND_DOWN)
        delta *= instrument.lot_size
    side = decision.side or (Side.BUY if delta > 0 else Side.SELL)
    signal = signal_record(
        strategy_id=strategy.pk,
        symbol=instrument.symbol,
        at=at,
        side=side.value,
        target_position=decision.target_position,
        strength=decision.strength,
        price=_on_grid(candle.close, instrument.tick_size),
        size=abs(delta) if delta else None,
        stop_loss=decision.stop_loss,
        take_profit=decision.take_profit,
        metadata={**decision.metadata, "bar_start": candle.open_time.isoformat()},
    )
    skipped: tuple[SignalOutcome, str] | None = None
    age = (now - at).total_seconds()
    recent = (
        Signal.objects.filter(strategy=strategy, at__gt=at - RATE_WINDOW, at__lte=at)
        .exclude(pk=signal.pk)
        .exclude(outcome__in=[SignalOutcome.SKIPPED, SignalOutcome.EXPIRED])
        .count()
    )
    if age > strategy.signal_decay_seconds:
        skipped = (
            SignalOutcome.EXPIRED,
            f"decided {age:.0f} s after the bar closed, beyond the strategy's decay of "
            f"{strategy.signal_decay_seconds} s",
        )
    elif recent >= strategy.max_signals_per_minute:
        skipped = (
            SignalOutcome.SKIPPED,
            f"rate limit: {recent} signals in the last minute, the most the strategy allows "
            f"is {strategy.max_signals_per_minute}",
        )
    elif delta == 0 or (delta > 0) != (side is Side.BUY):
        skipped = (
            SignalOutcome.SKIPPED,
            f"the account's position {position} already meets the target "
            f"{decision.target_position} x {state.order_size}",
        )
    if skipped is not None:
        _signal_settle(signal, skipped[0], skipped[1])
        return _Claimed(signal, side, Decimal(0), decision.strength)
    return _Claimed(signal, side, abs(delta), decision.strength)


def signal_carry_out(*, signal_id: int, now: datetime | None = None) -> Signal | None:
    """Execute a pending signal and write its outcome, in one transaction with the signal's
    row locked: the parent order and the outcome commit together (the venue hears of the
    order after commit), so a crash anywhere leaves the signal pending with nothing placed,
    and a second carrier (a retry, the sweep) finds it settled or locked. None: not pending."""
    now = now or timezone.now()
    with transaction.atomic():
        signal = (
            Signal.objects.select_for_update(skip_locked=True)
            .select_related("strategy", "instrument")
            .filter(pk=signal_id, outcome=SignalOutcome.PENDING)
            .first()
        )
        if signal is None:
            return None
        strategy = signal.strategy
        age = (now - signal.at).total_seconds()
        if age > strategy.signal_decay_seconds:
            _signal_settle(
                signal, SignalOutcome.EXPIRED,
                f"still pending {age:.0f} s after the bar closed, beyond the strategy's decay "
                f"of {strategy.signal_decay_seconds} s",
            )  # fmt: skip
            return signal
        if not signal.size:
            _signal_settle(signal, SignalOutcome.SKIPPED, "nothing to trade")
            return signal
        try:
            with transaction.atomic():  # a refusal rolls back to here, not the lock
                outcome = signal_execute(
                    account_id=strategy.account_id,
                    symbol=signal.instrument.symbol,
                    side=signal.side,
                    strength=signal.strength,
                    base_quantity=signal.size,
                    strategy_id=strategy.pk,
                    actor=f"strategy:{strategy.pk}",
                    now=now,
                )
        except DomainError as error:
            _signal_settle(signal, SignalOutcome.REFUSED, str(error))
            return signal
        if outcome.parent_order is not None:
            detail = (
                f"{outcome.quantity} by parent order {outcome.parent_order.pk} ({outcome.urgency})"
            )
            _signal_settle(signal, SignalOutcome.EXECUTED, detail, outcome.parent_order.pk)
        elif outcome.refused:
            _signal_settle(signal, SignalOutcome.REFUSED, "; ".join(outcome.refused))
        else:
            _signal_settle(signal, SignalOutcome.SKIPPED, outcome.skipped or "not executed")
    return signal


def signals_pending_carry_out(*, older_than: timedelta = timedelta(seconds=5)) -> int:
    """The sweep for signals a crash left pending after their evaluation committed: each is
    executed now if it is still within its strategy's decay, else expired. Returns how many
    were settled."""
    now = timezone.now()
    pending = Signal.objects.filter(
        outcome=SignalOutcome.PENDING, created_at__lt=now - older_than
    ).values_list("pk", flat=True)
    return sum(
        signal_carry_out(signal_id=signal_id, now=now) is not None
        for signal_id in list(pending[:500])
    )


def _signal_settle(
    signal: Signal, outcome: SignalOutcome, detail: str, parent_order_id: str | None = None
) -> None:
    """A pending signal's outcome; a settled one is left as it is."""
    Signal.objects.filter(pk=signal.pk, outcome=SignalOutcome.PENDING).update(
        outcome=outcome, outcome_detail=detail[:300], parent_order_id=parent_order_id
    )
    signal.outcome = outcome


# --- live state, per process ---------------------------------------------------------------------


@dataclass(slots=True)
class _Live:
    version: str
    runner: LiveStrategy
    last_bar: datetime | None
    index: int


_live_states: dict[tuple[int, int], _Live] = {}
_live_lock = threading.Lock()


def _version(strategy: Strategy) -> str:
    activated = None if strategy.activated_at is None else strategy.activated_at.isoformat()
    material = [strategy.kind, strategy.config, strategy.model_version_id, activated]
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def _build(strategy: Strategy) -> Any:
    kind = kind_get(strategy.kind)
    config = kind.config_from_dict(strategy.config)
    if not kind.needs_model:
        return kind.build(config)
    from mlmodels.selectors import model_version_predictor

    if strategy.model_version is None:
        raise DomainError(f"strategy {strategy.name!r} needs a model version")
    return kind.strategy(config, model_version_predictor(strategy.model_version))


def _bar(candle: Candle, index: int) -> Bar:
    return Bar(
        index=index,
        start=candle.open_time.astimezone(UTC),
        open=candle.open,
        high=candle.high,
        low=candle.low,
        close=candle.close,
        volume=candle.volume,
    )


def _live(
    strategy: Strategy,
    instrument: Instrument,
    interval: str,
    bar_start: datetime,
    state: RunnerState | None,
) -> _Live:
    """This process's live runner, rebuilt and warmed up unless it is current."""
    key = (strategy.pk, instrument.pk)
    version = _version(strategy)
    last = None if state is None else state.last_bar_start
    with _live_lock:
        live = _live_states.get(key)
    if live is not None and live.version == version and live.last_bar == last:
        return live
    built = _build(strategy)
    runner: LiveStrategy = built.live()
    count = max(2 * int(built.warmup_bars), WARMUP_MIN_BARS)
    history = list(
        Candle.objects.filter(
            instrument=instrument, interval=interval, open_time__lt=bar_start
        ).order_by("-open_time")[:count]
    )[::-1]
    if isinstance(runner, LiveBookReading) and runner.reads_book:
        seconds = interval_seconds(interval)
        assert seconds is not None
        starts = [candle.open_time.astimezone(UTC) for candle in history]
        books = bar_books(
            instrument_id=instrument.pk, interval=timedelta(seconds=seconds), starts=starts
        )
        # Warmed up on the bars since the last one without a stored book.
        gap = max((i for i, book in enumerate(books) if book is None), default=-1)
        history, kept = history[gap + 1 :], books[gap + 1 :]
        for index, (candle, book) in enumerate(zip(history, kept, strict=True)):
            runner.on_bar(_bar(candle, index), book=book)  # warm-up: history, not signals
    else:
        for index, candle in enumerate(history):
            runner.on_bar(_bar(candle, index))  # warm-up: its decisions are history, not signals
    live = _Live(version, runner, last, len(history))
    with _live_lock:
        _live_states[key] = live
    return live


def _forget(key: tuple[int, int]) -> None:
    with _live_lock:
        _live_states.pop(key, None)


def runner_states_clear() -> None:
    """Forget every live runner of this process (tests; a restarted process starts so)."""
    with _live_lock:
        _live_states.clear()
