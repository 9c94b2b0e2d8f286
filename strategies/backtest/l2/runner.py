"""The event-driven backtester on L2 data: strategy, risk, execution algorithm, matching, fills.

One run replays an ``L2Stream`` (book snapshots and trade prints) through the code the paper
venue and the live path run:

- decisions: a bar ``Strategy`` over bars built from the stream's mids
  (``bars_from_stream``), decided at each bar's end, or a ``BookStrategy`` with a target after
  every snapshot; both vectorised and causal, so the loop only visits where a target changes;
- each target change becomes a parent order worked by an algorithm from
  ``execution.domain.algos``: the one the config names, or the one ``plan_execution`` picks
  by urgency from the book features (as ``signal_execute`` does);
- each child order passes the pre-trade checks of ``execution.domain.risk`` (as
  ``order_place`` does; a refused child is a rejection and stops its parent, as live), then
  goes to the paper venue's ``MatchingEngine`` (its L2 book and queue fill model, with
  latency and seeded jitter); reports go back to the parent as ``parent_order_run`` sends them;
- fills are charged by ``FeeSchedule`` (maker or taker, as the engine says) and booked by
  ``apply_fill`` in exact Decimal; spread and slippage are whatever walking the book cost.

Assumptions, each a choice made here:

- The algorithm sees what ``market_view`` shows live: the touch of the latest displayed
  snapshot, no traded volume. The matching engine holds its own copy of the book, which our
  orders and trade prints consume until the next snapshot.
- Time: a bar decision is taken at the bar's end, before any event at that time; a book
  decision right after its snapshot. A parent's timer fires at its due time, before market
  data at that time and before a decision at the same time. Cancels take effect at once.
- A new target first cancels any working parent, then trades the difference between the
  target (x ``order_size``, rounded down onto the lot) and the position held: nothing is
  counted twice, and unfilled remainders are not chased.
- Accounting is margin style, as the paper venue's: cash moves by realised P&L net of fees;
  equity = cash + the position marked at the latest snapshot's mid. For the risk checks the
  margin in use is the position's cost (no leverage), open children reserve their remaining
  quantity at their limit (or the mid), and the day's loss limit counts from the first check
  of each UTC day.
- While no order is working the engine is fed lazily: before the next order, the latest
  snapshot and the trades after it. With nothing resting the engine would do nothing else
  with the skipped events, so the result is the same (``skip_idle=False`` feeds every event;
  the tests compare the two).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, runtime_checkable

import numpy as np

from execution.domain import algos
from execution.domain.errors import DomainError, RuleViolation
from execution.domain.matching import (
    EngineOrder,
    Execution,
    FeeSchedule,
    Grid,
    MatchingEngine,
    OrderBook,
)
from execution.domain.metrics import (
    EquityPoint,
    PerformanceSummary,
    closed_trades,
    periods_per_year_for,
    summarize,
)
from execution.domain.orders import FillEvent, OrderRequest, OrderStatus
from execution.domain.positions import PositionState, apply_fill
from execution.domain.quality import BookLevels, ExecutionQuality, QualityFill, execution_quality
from execution.domain.risk import AccountRisk, RiskLimits, check_order
from execution.domain.urgency import (
    ExecutionPlan,
    SkipExecution,
    TouchSnapshot,
    UrgencyConfig,
    book_features,
    plan_execution,
)
from execution.domain.values import ZERO, InstrumentSpec, Side, exact, to_decimal
from strategies.backtest.l2.stream import BOOK, FloatArray, IntArray, L2Stream, to_datetime
from strategies.domain.base import Bars, Strategy

# Follow-up steps of one parent per call, as execution.services.algos.MAX_ROUNDS.
MAX_ROUNDS = 20
TOUCH_HISTORY = 100  # touches behind the urgency features (spread_stability_norm_100)
_DAY_US = 86_400_000_000


class InvalidL2Config(DomainError):
    """A backtest setting is out of range; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@runtime_checkable
class BookStrategy(Protocol):
    """A strategy that decides on the book: a target in -1..1 after every snapshot, from
    snapshots and trades up to it only (vectorised, like ``Strategy.target_positions``)."""

    @property
    def name(self) -> str: ...

    def book_targets(self, stream: L2Stream) -> FloatArray: ...


@dataclass(frozen=True)
class L2BacktestConfig:
    """One run's account, costs and execution. Money in Decimal; fee rates as fractions."""

    order_size: Decimal  # the quantity held at target 1.0
    initial_cash: Decimal
    maker_fee_rate: Decimal = Decimal("0.0002")
    taker_fee_rate: Decimal = Decimal("0.0005")
    latency: timedelta = timedelta(milliseconds=20)
    latency_jitter: timedelta = timedelta(0)
    seed: int = 0  # the engine's latency jitter
    # An algorithm kind of execution.domain.algos and its parameters; None: chosen by urgency.
    algorithm: str | None = "market"
    algorithm_params: Mapping[str, object] = field(default_factory=dict)
    urgency: UrgencyConfig = field(default_factory=UrgencyConfig)
    signal_strength: float = 1.0  # what plan_execution reads as the signal's strength
    risk_limits: RiskLimits = field(default_factory=RiskLimits)
    bar_interval: timedelta = timedelta(minutes=1)  # bars for a bar strategy
    mark_interval: timedelta = timedelta(minutes=1)  # points of the equity curve

    def __post_init__(self) -> None:
        size = _decimal(self.order_size, "order_size")
        if size <= 0:
            raise InvalidL2Config("order_size", f"order_size must be positive, got {size}")
        cash = _decimal(self.initial_cash, "initial_cash")
        if cash <= 0:
            raise InvalidL2Config("initial_cash", f"initial_cash must be positive, got {cash}")
        try:
            FeeSchedule(maker_rate=self.maker_fee_rate, taker_rate=self.taker_fee_rate)
        except DomainError as error:
            raise InvalidL2Config("taker_fee_rate", str(error)) from None
        for name in ("maker_fee_rate", "taker_fee_rate"):
            if not -1 < _decimal(getattr(self, name), name) < 1:
                raise InvalidL2Config(name, f"{name} must be a fraction in (-1, 1)")
        for name in ("latency", "latency_jitter"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value < timedelta(0):
                raise InvalidL2Config(name, f"{name} must be a duration >= 0, got {value!r}")
        for name in ("bar_interval", "mark_interval"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value < timedelta(microseconds=1):
                raise InvalidL2Config(name, f"{name} must be a positive duration, got {value!r}")
        strength = self.signal_strength
        if isinstance(strength, bool) or not isinstance(strength, int | float):
            raise InvalidL2Config("signal_strength", "signal_strength must be a number in 0..1")
        if not 0 <= strength <= 1:
            raise InvalidL2Config("signal_strength", f"signal_strength {strength} is not in 0..1")
        if self.algorithm is not None:
            try:
                algos.algorithm_from_config(self.algorithm, dict(self.algorithm_params))
            except algos.InvalidAlgoConfig as error:
                name = "algorithm" if error.field == "kind" else f"algorithm_params.{error.field}"
                raise InvalidL2Config(name, str(error)) from None


def _decimal(value: object, name: str) -> Decimal:
    try:
        return to_decimal(value, field=name)
    except DomainError as error:
        raise InvalidL2Config(name, str(error)) from None


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class L2Fill:
    """One fill; ``cost_vs_mid`` is what it paid over the mid of the latest snapshot
    (spread and walk for a taker; negative, the half-spread earned, for a maker)."""

    at: datetime
    event: FillEvent
    client_order_id: str
    parent_id: str
    mid: Decimal
    cost_vs_mid: Decimal


@dataclass(frozen=True, slots=True)
class L2Trade:
    """A round trip, flat to flat; ``net_pnl`` is after fees (spread and slippage are in the
    prices, and shown apart as ``cost_vs_mid``)."""

    side: Side
    quantity: Decimal
    opened_at: datetime
    entry_price: Decimal
    closed_at: datetime | None  # None while open at the end
    exit_price: Decimal | None
    fees: Decimal
    cost_vs_mid: Decimal
    net_pnl: Decimal | None  # None while open


@dataclass(frozen=True, slots=True)
class ParentReport:
    """One parent order as it ended (or stood at the end of the data), and how well it was
    executed against its arrival mid (``execution.domain.quality``)."""

    parent: algos.ParentOrder
    signal_at: datetime
    quality: ExecutionQuality | None  # None: no two-sided book at arrival


@dataclass(frozen=True, slots=True)
class RiskRefusal:
    """A child order the pre-trade checks refused (its parent then stopped)."""

    at: datetime
    client_order_id: str
    side: Side
    quantity: Decimal
    violations: tuple[RuleViolation, ...]


@dataclass(frozen=True, slots=True)
class SkippedSignal:
    """A target change that sent nothing: the urgency plan skipped it, or the instrument
    refused its size."""

    at: datetime
    target: float
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class L2BacktestResult:
    strategy: str
    fills: tuple[L2Fill, ...]
    trades: tuple[L2Trade, ...]  # closed, in order
    open_trade: L2Trade | None
    parents: tuple[ParentReport, ...]
    refusals: tuple[RiskRefusal, ...]
    skipped: tuple[SkippedSignal, ...]
    position: PositionState  # at the end, exact
    initial_cash: Decimal
    final_mid: Decimal
    final_equity: Decimal  # initial cash + realised + unrealised at the final mid, exact
    equity_curve: tuple[EquityPoint, ...]  # exact, every mark interval and at the end
    mark_interval: timedelta
    events: int  # market events in the stream
    engine_events: int  # of them, fed to the matching engine

    @property
    def total_fees(self) -> Decimal:
        with exact():
            return sum((fill.event.fee for fill in self.fills), ZERO)

    @property
    def total_cost_vs_mid(self) -> Decimal:
        with exact():
            return sum((fill.cost_vs_mid for fill in self.fills), ZERO)

    def summary(self) -> PerformanceSummary:
        """Every metric, by ``execution.domain.metrics`` on the exact curve."""
        trades = closed_trades((fill.at, fill.event) for fill in self.fills)
        return summarize(self.equity_curve, trades, periods_per_year_for(self.mark_interval))


# -- decisions ---------------------------------------------------------------------------------


def bars_from_stream(stream: L2Stream, interval: timedelta) -> tuple[Bars, IntArray]:
    """Bars of the snapshots' mids on a grid of ``interval`` from the epoch (bars without a
    snapshot are left out), volume from the trades; and each bar's end in microseconds."""
    step = interval // timedelta(microseconds=1)
    if step <= 0:
        raise InvalidL2Config("bar_interval", f"bar_interval must be positive, got {interval}")
    ids = stream.book_us // step
    keys, first = np.unique(ids, return_index=True)
    last = np.concatenate((first[1:], [len(ids)])) - 1
    tick = stream.spec.tick_size
    places = max(0, -int(tick.normalize().as_tuple().exponent)) + 1  # a half tick
    mids = np.round(stream.mid_ticks * float(tick), places)
    lots = np.zeros(len(keys), dtype=np.int64)
    if len(stream.trade_us):
        trade_ids = stream.trade_us // step
        bar = np.searchsorted(keys, trade_ids)
        inside = (bar < len(keys)) & (keys[np.minimum(bar, len(keys) - 1)] == trade_ids)
        np.add.at(lots, bar[inside], stream.trade_lots[inside])
    bars = Bars(
        starts=(keys * step).astype("datetime64[us]"),
        open=mids[first],
        high=np.maximum.reduceat(mids, first),
        low=np.minimum.reduceat(mids, first),
        close=mids[last],
        volume=lots.astype(np.float64) * float(stream.spec.lot_size),
    )
    ends: IntArray = (keys + 1) * step
    return bars, ends


@dataclass(frozen=True, slots=True)
class _Decisions:
    positions: list[int]  # the last event a decision has seen
    times: list[int]  # when it is taken, microseconds
    targets: list[float]


def _changes(
    targets: FloatArray, positions: IntArray, times: IntArray, stream: L2Stream
) -> _Decisions:
    if not bool(np.all(np.abs(targets) <= 1.0)):  # also refuses NaN
        raise DomainError("targets must be numbers in -1..1")
    previous = np.concatenate(([0.0], targets[:-1]))
    changed = np.flatnonzero(targets != previous)
    # A decision taken after the last event meets no market.
    changed = changed[times[changed] <= stream.times[-1]]
    return _Decisions(
        positions[changed].tolist(), times[changed].tolist(), targets[changed].tolist()
    )


def _bar_decisions(strategy: Strategy, stream: L2Stream, interval: timedelta) -> _Decisions:
    bars, ends = bars_from_stream(stream, interval)
    targets = np.asarray(strategy.target_positions(bars), dtype=np.float64)
    if len(targets) != len(bars):
        raise DomainError(f"{strategy.name}: one target per bar expected")
    positions = np.searchsorted(stream.times, ends, side="left") - 1
    return _changes(targets, positions, ends, stream)


def _book_decisions(strategy: BookStrategy, stream: L2Stream) -> _Decisions:
    targets = np.asarray(strategy.book_targets(stream), dtype=np.float64)
    if len(targets) != len(stream.book_us):
        raise DomainError(f"{strategy.name}: one target per snapshot expected")
    positions = np.flatnonzero(stream.kinds == BOOK)
    return _changes(targets, positions, stream.book_us, stream)


@dataclass(frozen=True)
class TouchImbalance:
    """A book strategy: long while the touch imbalance (bid - ask) / (bid + ask) size is
    above ``threshold``, short below -``threshold``, holding its target in between
    (``order_imbalance_l1`` of mlmodels.features)."""

    threshold: float = 0.6

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise InvalidL2Config("threshold", f"threshold must be in (0, 1), got {self.threshold}")

    @property
    def name(self) -> str:
        return f"touch_imbalance_{self.threshold:g}"

    def book_targets(self, stream: L2Stream) -> FloatArray:
        bid, ask = stream.bid_lots[:, 0], stream.ask_lots[:, 0]
        imbalance = (bid - ask) / (bid + ask)
        signal = np.where(
            imbalance > self.threshold, 1.0, np.where(imbalance < -self.threshold, -1.0, np.nan)
        )
        # Hold the last signal: forward fill, flat before the first.
        index = np.where(np.isnan(signal), 0, np.arange(len(signal)))
        held = signal[np.maximum.accumulate(index)]
        result: FloatArray = np.nan_to_num(held, nan=0.0)
        return result


# -- the run -----------------------------------------------------------------------------------


def run_l2_backtest(
    strategy: Strategy | BookStrategy,
    stream: L2Stream,
    config: L2BacktestConfig,
    *,
    skip_idle: bool = True,
) -> L2BacktestResult:
    """Run ``strategy`` over ``stream``; the module docstring states every assumption.
    ``skip_idle=False`` feeds every event to the matching engine (slower, same result)."""
    if isinstance(strategy, BookStrategy):
        decisions = _book_decisions(strategy, stream)
    else:
        decisions = _bar_decisions(strategy, stream, config.bar_interval)
    run = _Run(stream, config, skip_idle)
    run.replay(decisions)
    return run.result(strategy.name)


class _Parent:
    """A working parent with what the backtest keeps beside its pure state."""

    __slots__ = ("arrival_book", "fills", "signal_at", "state")

    def __init__(
        self, state: algos.ParentOrder, signal_at: datetime, arrival_book: BookLevels
    ) -> None:
        self.state = state
        self.signal_at = signal_at
        self.arrival_book = arrival_book
        self.fills: list[QualityFill] = []


class _Run:
    def __init__(self, stream: L2Stream, config: L2BacktestConfig, skip_idle: bool) -> None:
        self.stream = stream
        self.config = config
        self.skip_idle = skip_idle
        self.spec: InstrumentSpec = stream.spec
        self.symbol = stream.spec.symbol
        self.grid = Grid(stream.spec)
        self.fees = FeeSchedule(maker_rate=config.maker_fee_rate, taker_rate=config.taker_fee_rate)
        self.engine = MatchingEngine(
            venue="backtest",
            latency=config.latency,
            latency_jitter=config.latency_jitter,
            seed=config.seed,
        )
        # Python lists: the event loop reads them one item at a time.
        self.times: list[int] = stream.times.tolist()
        self.kinds: list[int] = stream.kinds.tolist()
        self.rows: list[int] = stream.rows.tolist()
        self.last_book: list[int] = stream.last_book.tolist()
        self.trade_ticks: list[int] = stream.trade_ticks.tolist()
        self.trade_lots: list[int] = stream.trade_lots.tolist()
        self.trade_buy: list[bool] = stream.trade_buy.tolist()
        self.synced = 0  # the engine has seen (or could skip) events [0, synced)
        self.engine_events = 0
        self.clock = self.times[0]  # microseconds; never goes back
        self.position = PositionState()
        self.active: dict[str, _Parent] = {}
        self.finished: list[ParentReport] = []
        self.orders: dict[str, EngineOrder] = {}
        self.child_parent: dict[str, str] = {}
        self.reported: dict[str, tuple[OrderStatus, int]] = {}
        self.rejected: set[str] = set()
        self.waiting: dict[str, datetime] = {}  # parents due in the past, until a report
        self.fills: list[L2Fill] = []
        self.refusals: list[RiskRefusal] = []
        self.skipped: list[SkippedSignal] = []
        self.parent_count = 0
        self.day = -1
        self.day_start_equity = config.initial_cash
        self.loss_limit_breached = False

    # -- the loop --------------------------------------------------------------------------

    def replay(self, decisions: _Decisions) -> None:
        times, count = self.times, len(self.times)
        positions, at, targets = decisions.positions, decisions.times, decisions.targets
        total, next_decision, position = len(positions), 0, 0
        while True:
            if not self.active:
                # Nothing works: jump to the next decision.
                if next_decision == total:
                    break
                position = max(position, positions[next_decision] + 1)
                self._decide(targets[next_decision], at[next_decision], position)
                next_decision += 1
                continue
            if position == count:
                for index in range(next_decision, total):  # decisions after the last event
                    self._decide(targets[index], at[index], position)
                break
            now = times[position]
            while True:  # timers and decisions before this event, in time order
                due = self._next_due()
                decision = (
                    at[next_decision]
                    if next_decision < total and positions[next_decision] < position
                    else None
                )
                if due is not None and due <= now and (decision is None or due <= decision):
                    self._fire_timers(due, position)
                elif decision is not None:
                    self._decide(targets[next_decision], decision, position)
                    next_decision += 1
                else:
                    break
            self._sync(position)
            self._settle(self._feed(position), position + 1)
            position += 1
            self.synced = position
            self.clock = max(self.clock, now)
            for parent_id in [p for p, parent in self.active.items() if self._stale(parent)]:
                self._drive(parent_id, position)

    def _next_due(self) -> int | None:
        due: int | None = None
        for parent_id, parent in self.active.items():
            moment = parent.state.next_due_at
            # A parent still due after its timer fired waits for a report, not for time.
            if moment is not None and self.waiting.get(parent_id) != moment:
                micros = (moment - _EPOCH) // _MICROSECOND
                due = micros if due is None else min(due, micros)
        return due

    def _fire_timers(self, due: int, position: int) -> None:
        self.clock = max(self.clock, due)
        for parent_id, parent in list(self.active.items()):
            moment = parent.state.next_due_at
            if moment is not None and (moment - _EPOCH) // _MICROSECOND <= self.clock:
                self._drive(parent_id, position)
                parent = self.active.get(parent_id, parent)
                after = parent.state.next_due_at
                if after is not None and (after - _EPOCH) // _MICROSECOND <= self.clock:
                    self.waiting[parent_id] = after

    # -- the engine --------------------------------------------------------------------------

    def _feed(self, index: int) -> list[Execution]:
        self.engine_events += 1
        at = to_datetime(self.times[index])
        row = self.rows[index]
        if self.kinds[index] == BOOK:
            bids, asks = self.stream.levels(row)
            return self.engine.on_book(self.symbol, OrderBook(bids, asks, at))
        side = Side.BUY if self.trade_buy[row] else Side.SELL
        return self.engine.on_trade(
            self.symbol, self.trade_ticks[row], self.trade_lots[row], side, at
        )

    def _sync(self, position: int) -> None:
        """Bring the engine up to the events before ``position``."""
        start = self.synced
        if start >= position:
            return
        if self.skip_idle and not self.engine.open_orders():
            # Nothing rests: only the latest snapshot and the prints after it shape the book.
            start = max(start, self.last_book[position - 1])
        for index in range(start, position):
            self._settle(self._feed(index), index + 1)
        self.synced = position

    def _settle(self, executions: list[Execution], position: int) -> None:
        """Charge fees and book fills, as the paper venue does."""
        if not executions:
            return
        grid, fees = self.grid, self.fees
        mid = self._mid(position)
        for fill_id, order_id, _, side, lots, ticks, liquidity, timestamp in executions:
            quantity = grid.quantity(lots)
            price = grid.price(ticks)
            fee = fees.fee(quantity, price, liquidity)
            event = FillEvent(fill_id, side, quantity, price, fee, liquidity)
            self.position = apply_fill(self.position, event).after
            parent_id = self.child_parent[order_id]
            with exact():
                cost = (price - mid) * quantity * side.sign
            self.fills.append(L2Fill(timestamp, event, order_id, parent_id, mid, cost))
            parent = self.active.get(parent_id)
            if parent is not None:
                parent.fills.append(QualityFill(quantity, price, fee, timestamp))

    # -- parents -----------------------------------------------------------------------------

    def _decide(self, target: float, moment: int, position: int) -> None:
        self.clock = max(self.clock, moment)
        now = to_datetime(self.clock)
        for parent_id in list(self.active):
            self._apply(parent_id, self.active[parent_id].state.cancel(now), position)
            self._drive(parent_id, position)
        with exact():
            wanted = self.spec.round_quantity(Decimal(repr(target)) * self.config.order_size)
            delta = wanted - self.position.quantity
        if not delta:
            return
        side = Side.BUY if delta > 0 else Side.SELL
        quantity = abs(delta)
        view = self._view(position)
        if view.mid is None:
            self._skip(now, target, "no_market", "no two-sided book yet")
            return
        config = self.config
        kind, params = config.algorithm, config.algorithm_params
        if kind is None:
            plan = self._plan(side, quantity, position, view)
            if isinstance(plan, SkipExecution):
                self._skip(now, target, plan.rule, plan.reason)
                return
            kind, params, quantity = plan.algorithm_kind, plan.algorithm_params, plan.quantity
        algorithm = algos.algorithm_from_config(kind, dict(params))
        self.parent_count += 1
        parent_id = f"bt{self.parent_count}"
        try:
            step = algorithm.start(
                parent_id=parent_id,
                spec=self.spec,
                side=side,
                quantity=quantity,
                now=now,
                market=view,
            )
        except DomainError as error:  # a size the instrument refuses
            self._skip(now, target, "instrument", str(error))
            return
        self.active[parent_id] = _Parent(step.parent, now, self._book_levels(position))
        self._apply(parent_id, algos.Step(step.parent, step.actions), position)
        self._drive(parent_id, position)

    def _plan(
        self, side: Side, quantity: Decimal, position: int, view: algos.MarketView
    ) -> ExecutionPlan | SkipExecution:
        book = self._book_levels(position)
        features = book_features(
            bids=book.bids, asks=book.asks, now=view.timestamp, history=self._touches(position)
        )
        assert view.best_bid is not None and view.best_ask is not None
        return plan_execution(
            features=features,
            strength=self.config.signal_strength,
            side=side,
            base_quantity=quantity,
            best_bid=view.best_bid,
            best_ask=view.best_ask,
            spec=self.spec,
            config=self.config.urgency,
        )

    def _drive(self, parent_id: str, position: int) -> None:
        """``parent_order_run``: reports in, what is due, actions out, until nothing moves."""
        now = to_datetime(self.clock)
        for _ in range(MAX_ROUNDS):
            parent = self.active[parent_id]
            state = parent.state
            step = algos.Step(state)
            for report in self._reports(state):
                step = _merge(step, step.parent.on_child_report(report, now))
            due = step.parent.next_due_at
            if step.parent.ending is None and (due is None or due <= now or step.actions):
                step = _merge(step, step.parent.on_tick(now, self._view(position)))
            if step.parent == state and not step.actions:
                break
            self._apply(parent_id, step, position)
        parent = self.active[parent_id]
        if parent.state.ending is not None and not parent.state.working_children:
            del self.active[parent_id]
            self.finished.append(self._report(parent, position))

    def _apply(self, parent_id: str, step: algos.Step, position: int) -> None:
        """Keep the step's state, then carry out its actions."""
        self.active[parent_id].state = step.parent
        for action in step.actions:
            if isinstance(action, algos.PlaceChild):
                self._place(parent_id, action, position)
            elif isinstance(action, algos.CancelChild):
                order = self.orders.get(action.client_order_id)
                if order is not None and order.status.is_open:
                    self.engine.cancel(action.client_order_id)

    def _place(self, parent_id: str, action: algos.PlaceChild, position: int) -> None:
        request, client_order_id = action.request, action.client_order_id
        now = to_datetime(self.clock)
        self.child_parent[client_order_id] = parent_id
        decision = check_order(request, self.config.risk_limits, self._risk(position, request))
        if decision.loss_limit_breached_now:
            self.loss_limit_breached = True
        if not decision.accepted:
            self.rejected.add(client_order_id)
            self.refusals.append(
                RiskRefusal(
                    now, client_order_id, request.side, request.quantity, tuple(decision.violations)
                )
            )
            return
        grid = self.grid
        order = EngineOrder(
            order_id=client_order_id,
            symbol=self.symbol,
            side=request.side,
            order_type=request.order_type,
            lots=grid.lots(request.quantity),
            time_in_force=request.time_in_force,
            limit_ticks=None if request.price is None else grid.ticks(request.price),
        )
        self.orders[client_order_id] = order
        self._sync(position)
        self._settle(self.engine.submit(order, now), position)

    def _reports(self, state: algos.ParentOrder) -> Iterator[algos.ChildReport]:
        """The venue's word on children that moved since the parent last heard."""
        grid = self.grid
        for child in state.children:
            if not child.is_working:
                continue
            client_order_id = child.client_order_id
            if client_order_id in self.rejected:
                yield algos.ChildReport(client_order_id, OrderStatus.REJECTED, ZERO)
                continue
            order = self.orders[client_order_id]
            key = (order.status, order.filled_lots)
            if self.reported.get(client_order_id) == key:
                continue
            self.reported[client_order_id] = key
            lots = order.filled_lots
            yield algos.ChildReport(
                client_order_id,
                order.status,
                grid.quantity(lots),
                grid.average_price(order.filled_notional, lots) if lots else None,
            )

    def _stale(self, parent: _Parent) -> bool:
        for child in parent.state.children:
            if child.is_working:
                order = self.orders.get(child.client_order_id)
                if order is None or self.reported.get(child.client_order_id) != (
                    order.status,
                    order.filled_lots,
                ):
                    return True
        return False

    def _report(self, parent: _Parent, position: int) -> ParentReport:
        state = parent.state
        quality = None
        arrival_mid = parent.arrival_book.mid
        if arrival_mid is not None:
            end = state.ending.at if state.ending is not None else to_datetime(self.clock)
            quality = execution_quality(
                side=state.side,
                quantity=state.quantity,
                arrival_mid=arrival_mid,
                fills=parent.fills,
                mids=[(end, self._mid(position))],
                signal_at=parent.signal_at,
                book=parent.arrival_book,
                taker_fee_rate=self.config.taker_fee_rate,
            )
        return ParentReport(state, parent.signal_at, quality)

    def _skip(self, now: datetime, target: float, rule: str, reason: str) -> None:
        self.skipped.append(SkippedSignal(now, target, rule, reason))

    # -- the account and the market as of an event -------------------------------------------

    def _risk(self, position: int, request: OrderRequest | None = None) -> AccountRisk:
        """The account as the checks see it; for ``request``, the margin of the part of the
        position it closes counts as available (as in the candle backtester), so a reversal
        needs balance for its new side only."""
        state, mid = self.position, self._mid(position)
        day = self.clock // _DAY_US
        with exact():
            cash = self.config.initial_cash + state.realized_pnl
            equity = cash + state.unrealized_pnl(mid)
            reserved = ZERO
            for order in self.engine.open_orders(self.symbol):
                price = mid if order.limit_ticks is None else self.grid.price(order.limit_ticks)
                reserved += self.grid.quantity(order.remaining_lots) * price
            available = cash - abs(state.cost_basis) - reserved
            held = abs(state.quantity)
            if request is not None and held and (request.side.sign * state.quantity) < 0:
                available += abs(state.cost_basis) * min(request.quantity, held) / held
        if day != self.day:
            self.day, self.day_start_equity, self.loss_limit_breached = day, equity, False
        return AccountRisk(
            equity=equity,
            available_balance=available,
            start_of_day_equity=self.day_start_equity,
            loss_limit_breached=self.loss_limit_breached,
            position_quantity=state.quantity,
            mid_price=mid,
            taker_fee_rate=self.config.taker_fee_rate,
        )

    def _snapshot(self, position: int) -> int:
        """The row of the latest snapshot among the events before ``position`` (else the
        first)."""
        index = self.last_book[position - 1] if position > 0 else -1
        return self.rows[index] if index >= 0 else 0

    def _mid(self, position: int) -> Decimal:
        return self.stream.mid(self._snapshot(position))

    def _view(self, position: int) -> algos.MarketView:
        row = self._snapshot(position)
        stream = self.stream
        return algos.MarketView(
            timestamp=to_datetime(int(stream.book_us[row])),
            best_bid=stream.price(int(stream.bid_ticks[row, 0])),
            best_ask=stream.price(int(stream.ask_ticks[row, 0])),
        )

    def _book_levels(self, position: int) -> BookLevels:
        row = self._snapshot(position)
        bids, asks = self.stream.levels(row)
        grid = self.grid
        return BookLevels(
            bids=tuple((grid.price(p), grid.quantity(s)) for p, s in bids),
            asks=tuple((grid.price(p), grid.quantity(s)) for p, s in asks),
        )

    def _touches(self, position: int) -> list[TouchSnapshot]:
        """The touches of the snapshots before the latest one (the urgency history)."""
        row = self._snapshot(position)
        stream, grid = self.stream, self.grid
        return [
            TouchSnapshot(
                to_datetime(int(stream.book_us[r])),
                grid.price(int(stream.bid_ticks[r, 0])),
                grid.quantity(int(stream.bid_lots[r, 0])),
                grid.price(int(stream.ask_ticks[r, 0])),
                grid.quantity(int(stream.ask_lots[r, 0])),
            )
            for r in range(max(0, row - TOUCH_HISTORY + 1), row)
        ]

    # -- the result --------------------------------------------------------------------------

    def result(self, name: str) -> L2BacktestResult:
        end = len(self.times)
        if not self.skip_idle:
            self._sync(end)
        for parent_id in list(self.active):  # still working when the data ran out
            self.finished.append(self._report(self.active.pop(parent_id), end))
        final_mid = self._mid(end)
        state = self.position
        with exact():
            final = self.config.initial_cash + state.realized_pnl + state.unrealized_pnl(final_mid)
        trades, open_trade = _trades(self.fills, state)
        return L2BacktestResult(
            strategy=name,
            fills=tuple(self.fills),
            trades=tuple(trades),
            open_trade=open_trade,
            parents=tuple(sorted(self.finished, key=lambda r: int(r.parent.parent_id[2:]))),
            refusals=tuple(self.refusals),
            skipped=tuple(self.skipped),
            position=state,
            initial_cash=self.config.initial_cash,
            final_mid=final_mid,
            final_equity=final,
            equity_curve=tuple(self._curve(final)),
            mark_interval=self.config.mark_interval,
            events=end,
            engine_events=self.engine_events,
        )

    def _curve(self, final: Decimal) -> list[EquityPoint]:
        """Equity at every mark time and at the last event: fills up to the time, the
        position marked at the latest snapshot's mid."""
        stream = self.stream
        step = self.config.mark_interval // _MICROSECOND
        first, last = self.times[0], self.times[-1]
        marks = list(range((first // step + 1) * step, last, step))
        rows = np.searchsorted(stream.book_us, np.array(marks, dtype=np.int64), side="right") - 1
        points: list[EquityPoint] = [(to_datetime(first), self.config.initial_cash)]
        state = PositionState()
        fills = iter(self.fills)
        upcoming = next(fills, None)
        cash = self.config.initial_cash
        for mark, row in zip(marks, rows.tolist(), strict=True):
            moment = to_datetime(mark)
            while upcoming is not None and upcoming.at <= moment:
                state = apply_fill(state, upcoming.event).after
                upcoming = next(fills, None)
            with exact():
                equity = cash + state.realized_pnl + state.unrealized_pnl(stream.mid(row))
            points.append((moment, equity))
        points.append((to_datetime(last), final))
        return points


def _merge(first: algos.Step, second: algos.Step) -> algos.Step:
    return algos.Step(second.parent, first.actions + second.actions)


def _trades(fills: list[L2Fill], end: PositionState) -> tuple[list[L2Trade], L2Trade | None]:
    """Round trips from the fills, flat to flat; a flip closes one and opens the next, its
    fee and cost split by quantity."""
    closed: list[L2Trade] = []
    state = PositionState()
    opened_at: datetime | None = None
    fees = cost = ZERO
    for fill in fills:
        event = fill.event
        effect = apply_fill(state, event)
        before, after = effect.before, effect.after
        with exact():
            share = effect.closed_quantity / event.quantity
            if before.quantity == 0:
                opened_at = fill.at
            if effect.closed_quantity:
                fees += event.fee * share
                cost += fill.cost_vs_mid * share
                if after.quantity == 0 or effect.opened:
                    entry = before.average_entry_price
                    assert entry is not None and before.side is not None and opened_at
                    gross = before.quantity * event.price - before.cost_basis
                    closed.append(
                        L2Trade(
                            before.side,
                            abs(before.quantity),
                            opened_at,
                            entry,
                            fill.at,
                            event.price,
                            fees,
                            cost,
                            gross - fees,
                        )
                    )
                    fees = cost = ZERO
                    opened_at = fill.at
            fees += event.fee * (1 - share)
            cost += fill.cost_vs_mid * (1 - share)
        state = after
    if end.side is None or opened_at is None:
        return closed, None
    entry = end.average_entry_price
    assert entry is not None
    return closed, L2Trade(
        end.side, abs(end.quantity), opened_at, entry, None, None, fees, cost, None
    )


_MICROSECOND = timedelta(microseconds=1)
_EPOCH = to_datetime(0)
