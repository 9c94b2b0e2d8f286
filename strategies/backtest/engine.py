"""The event-driven backtester on candles, on the rules of the pure execution domain.

Decisions are computed vectorised over the whole series (``Strategy.target_positions``); the
event loop then visits only the bars where something happens. There are two implementations
of the same rules, and a property test (tests/strategies/test_engine_fast.py) holds them to
identical fills, trades, refusals, position and Decimal final equity over random bars,
strategies, fees, slippage, latency, stops and risk limits:

- the reference (``run_backtest(..., reference=True)``): every order goes the live way through
  ``execution.domain``: an ``OrderRequest`` checked against the instrument's rules, the
  pre-trade checks of ``risk.check_order``, the candle fill model of ``MatchingEngine`` (the
  paper venue's), fees from a ``FeeSchedule``, ``exit_trigger`` for stops and take profits,
  and ``apply_fill`` for the position and P&L, all in exact Decimal, bar by bar;
- the fast path (the default, ``strategies.backtest.fast``): the same rules in integer ticks,
  lots and money units, vectorised where nothing depends on the path (fill prices, fees, the
  equity curve) and looping only over events. The Decimal fills, trades and position are
  built on demand from its fill arrays, by the domain's own ``FeeSchedule`` and
  ``apply_fill``; the final equity is exact at once. Pre-trade risk checks call
  ``risk.check_order`` itself in both paths.

Modelling assumptions (each is a choice; change it here and in both paths, not in a caller):

- A decision is taken at a bar's close and sent as a market order at the bar's end time; the
  fill model fills it at the open of the first bar that starts at or after it is active (the
  end time plus ``latency``), and at least ``latency_bars`` bars after the next one. A decision
  on the last bar, or one whose fill bar is past the data, never fills.
- The order is the difference between the new target and the position the earlier orders lead
  to (so a reversal is one order through zero, which closes one trade and opens the next).
  Target x ``order_size`` is rounded down onto the lot grid. An order the instrument's rules
  refuse (below the minimum quantity or notional at the decision's close) is not sent: it is
  recorded as a refusal, like a risk refusal, and the planned position stays where it was.
- Market fills are at the open moved against us by ``slippage_bps`` and rounded onto the tick
  grid against us (the fill model's rule); fees are quantity x price x ``fee_rate`` (taker),
  charged on every fill, entry and exit, protective exits included. Costs are always on; zero
  rates are allowed only because an agreement test needs them explicit.
- Within one bar, events happen in this order: orders due at the bar fill at its open; then
  the protective exits of the position that leaves watch the bar's range; then the strategy
  decides at the close. Several orders due at one bar fill one by one, in the order sent.
- Stop loss and take profit (``stop_loss``, ``take_profit``: fractions of the position's
  average entry price) rest at the venue from the fill that sets the position, with no
  latency, and are re-levelled whenever a fill changes it. A long's stop is
  entry x (1 - stop_loss) rounded down onto the tick grid and its take profit
  entry x (1 + take_profit) rounded up (a short's mirrored: stop rounded up, take profit down):
  the rounding is against us, like slippage. They are checked on every bar the position is
  held, the bar of the entry fill included (the entry is at its open, the bar's range comes
  after): a long's stop triggers when low <= stop, its take profit when high >= level (a
  short's mirrored). A bar that opens through a level fills at the open (a gap: worse than the
  stop, better than the take profit); otherwise at the level. If one bar reaches both levels
  we cannot know which came first and assume the stop (the worst case; the domain's
  ``exit_trigger`` rule). The exit closes the whole position as a taker market order: slipped
  against us from that price and charged the taker fee; it is stamped with the bar's start if
  it filled at the open, else with its end. A level that rounds to zero or below never
  triggers.
- After a protective exit the account is flat, the strategy's orders still in flight are
  cancelled (they were sized for a position that is gone), and the planned position is flat:
  the strategy re-enters only when its target changes again, at a decision at or after the
  exit's bar (the decision at that bar's close counts), sized from flat.
- Pre-trade risk (``risk``: ``execution.domain.risk.RiskLimits``, None for no checks) runs
  ``check_order`` on each order at its decision, with: equity = cash + position marked at the
  decision's close (exact); the position = the planned one (what the orders sent lead to);
  the mid = the decision's close; start-of-day equity = the account at the previous UTC day's
  last close (the initial cash on the first day); the daily loss limit once breached refuses
  new risk until the next UTC day. Cash and margin: margin 1 on both sides (a short ties up
  its value like a long); the available balance is equity minus the value, at the mid, of the
  position the order leaves after its reducing part (so a reversal needs balance for the new
  side only). A refused order is not sent and is recorded with every failed rule (``refusals``;
  ``refusal_counts`` by rule); the planned position stays.
- No spread beyond slippage on candles, no partial fills (no volume cap), no borrowing costs or
  funding. Without ``risk`` there is no cash or margin check: the account may hold any
  position the targets ask for. Positions are marked at each bar's close; a trade still open
  at the end is marked, not closed, and is reported apart.
- A trade runs from flat to flat (a flip closes one and opens the next at the same fill). Its
  entry price is the position's average entry, its exit price that of the fill closing it; its
  fees and slippage are those of its fills, a flip's split by quantity; ``exit_reason`` says
  whether a stop or take profit closed it. A fill's ``slippage_cost`` is against the open for
  a market order and against the trigger price (the level, or the open on a gap) for an exit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import cached_property

import numpy as np
import numpy.typing as npt

from execution.domain.errors import DomainError, RuleViolation
from execution.domain.matching import (
    Candle,
    CandleRules,
    EngineOrder,
    FeeSchedule,
    Grid,
    MatchingEngine,
)
from execution.domain.metrics import (
    ClosedTrade,
    EquityPoint,
    PerformanceSummary,
    closed_trades,
    summarize,
)
from execution.domain.orders import FillEvent, OrderRequest, OrderType
from execution.domain.positions import ExitReason, PositionState, apply_fill, exit_trigger
from execution.domain.risk import AccountRisk, RiskDecision, RiskLimits, check_order
from execution.domain.values import (
    ZERO,
    InstrumentSpec,
    Liquidity,
    Side,
    exact,
    to_decimal,
)
from strategies.domain.base import Bars, FloatArray, Strategy

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """One run's account, costs, protective exits and risk limits. Money in Decimal; rates
    and protective distances as fractions."""

    spec: InstrumentSpec
    order_size: Decimal  # the quantity held at target 1.0
    initial_cash: Decimal
    fee_rate: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal(1)
    latency_bars: int = 0  # whole bars between the decision's next bar and its fill bar
    latency: timedelta = timedelta(0)  # time from the decision to the order being active
    stop_loss: Decimal | None = None  # fraction of the average entry, in (0, 1)
    take_profit: Decimal | None = None  # fraction of the average entry, > 0
    risk: RiskLimits | None = None  # pre-trade checks; None: none

    def __post_init__(self) -> None:
        size = to_decimal(self.order_size, field="order_size")
        if size <= 0:
            raise DomainError(f"order_size must be greater than zero, got {size}")
        self.spec.check_quantity(self.spec.round_quantity(size))
        if to_decimal(self.initial_cash, field="initial_cash") <= 0:
            raise DomainError(f"initial_cash must be greater than zero, got {self.initial_cash}")
        fee = to_decimal(self.fee_rate, field="fee_rate")
        if not 0 <= fee < 1:
            raise DomainError(f"fee_rate must be a fraction in [0, 1), got {fee}")
        if to_decimal(self.slippage_bps, field="slippage_bps") < 0:
            raise DomainError(f"slippage_bps must not be negative, got {self.slippage_bps}")
        if type(self.latency_bars) is not int or self.latency_bars < 0:
            raise DomainError(f"latency_bars must be a whole number >= 0, got {self.latency_bars}")
        if self.latency < timedelta(0):
            raise DomainError(f"latency must not be negative, got {self.latency}")
        if self.stop_loss is not None:
            stop = to_decimal(self.stop_loss, field="stop_loss")
            if not 0 < stop < 1:
                raise DomainError(f"stop_loss must be a fraction in (0, 1), got {stop}")
        if self.take_profit is not None:
            take = to_decimal(self.take_profit, field="take_profit")
            if take <= 0:
                raise DomainError(f"take_profit must be greater than zero, got {take}")
        if self.risk is not None and not isinstance(self.risk, RiskLimits):
            raise DomainError(f"risk must be RiskLimits or None, got {type(self.risk).__name__}")

    @property
    def protective(self) -> bool:
        return self.stop_loss is not None or self.take_profit is not None


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of the run, with where it happened and what slippage cost."""

    bar: int
    at: datetime
    event: FillEvent
    slippage_cost: Decimal  # (fill price - reference price) x quantity against us
    reason: ExitReason | None = None  # a protective exit; None: a strategy order


@dataclass(frozen=True, slots=True)
class Trade:
    """A round trip, flat to flat; ``net_pnl`` is after fees (and slippage, in the prices)."""

    side: Side
    quantity: Decimal
    entry_bar: int
    entry_price: Decimal
    exit_bar: int | None  # None while open at the end
    exit_price: Decimal | None
    fees: Decimal
    slippage_cost: Decimal
    net_pnl: Decimal | None  # None while open
    exit_reason: ExitReason | None = None  # a stop or take profit closed it


@dataclass(frozen=True, slots=True)
class Refusal:
    """An order the strategy asked for and the instrument's rules or the risk checks refused."""

    bar: int  # the decision's bar
    side: Side
    quantity: Decimal
    violations: tuple[RuleViolation, ...]


@dataclass(frozen=True, slots=True)
class FillLog:
    """The run's fills as integer arrays (ticks, lots), in order: what both paths produce and
    the Decimal fills are built from."""

    bar: IntArray
    side: IntArray  # +1 buy, -1 sell
    lots: IntArray
    ticks: IntArray
    reference_ticks: IntArray  # what slippage is measured from: the open, or an exit's trigger
    at_end: BoolArray  # stamped with the bar's end (an exit inside the bar), else its start
    reason: IntArray  # 0 a strategy order, 1 stop loss, 2 take profit

    def __len__(self) -> int:
        return len(self.bar)


_REASONS: tuple[ExitReason | None, ...] = (None, ExitReason.STOP_LOSS, ExitReason.TAKE_PROFIT)
REASON_CODE = {reason: code for code, reason in enumerate(_REASONS)}


def fills_from_log(log: FillLog, bars: Bars, config: BacktestConfig) -> tuple[Fill, ...]:
    """The Decimal fills of a log, priced and charged by the domain (``Grid``, ``FeeSchedule``)."""
    grid = Grid(config.spec)
    fees = FeeSchedule(taker_rate=config.fee_rate)
    starts = bars.starts.astype("datetime64[us]")
    ends = _ends(starts)
    out: list[Fill] = []
    rows = zip(
        log.bar.tolist(),
        log.side.tolist(),
        log.lots.tolist(),
        log.ticks.tolist(),
        log.reference_ticks.tolist(),
        log.at_end.tolist(),
        log.reason.tolist(),
        strict=True,
    )
    for index, (bar, sign, lots, ticks, reference, at_end, reason) in enumerate(rows):
        quantity = grid.quantity(lots)
        price = grid.price(ticks)
        side = Side.BUY if sign > 0 else Side.SELL
        event = FillEvent(
            fill_id=f"paper-{index + 1}",
            side=side,
            quantity=quantity,
            price=price,
            fee=fees.fee(quantity, price, Liquidity.TAKER),
        )
        with exact():
            slippage = (price - grid.price(reference)) * quantity * sign
        at = (ends if at_end else starts)[bar].item().replace(tzinfo=UTC)
        out.append(Fill(bar, at, event, slippage, _REASONS[reason]))
    return tuple(out)


class _Trades:
    """Builds the trade list from fills and their effects on the position."""

    def __init__(self) -> None:
        self.closed: list[Trade] = []
        self.entry_bar = 0
        self.fees = ZERO
        self.slippage = ZERO

    def add(self, fill: Fill, before: PositionState, after: PositionState, closed: Decimal) -> None:
        event = fill.event
        with exact():
            closing_share = closed / event.quantity
            if closed:
                self.fees += event.fee * closing_share
                self.slippage += fill.slippage_cost * closing_share
                if after.quantity == 0 or (after.quantity > 0) != (before.quantity > 0):
                    gross = before.quantity * event.price - before.cost_basis
                    entry = before.average_entry_price
                    assert entry is not None and before.side is not None
                    self.closed.append(
                        Trade(
                            side=before.side,
                            quantity=abs(before.quantity),
                            entry_bar=self.entry_bar,
                            entry_price=entry,
                            exit_bar=fill.bar,
                            exit_price=event.price,
                            fees=self.fees,
                            slippage_cost=self.slippage,
                            net_pnl=gross - self.fees,
                            exit_reason=fill.reason,
                        )
                    )
                    self.fees = self.slippage = ZERO
            if event.quantity != closed:
                if before.quantity == 0 or closed:
                    self.entry_bar = fill.bar
                self.fees += event.fee * (1 - closing_share)
                self.slippage += fill.slippage_cost * (1 - closing_share)

    def open_trade(self, state: PositionState) -> Trade | None:
        if state.side is None:
            return None
        entry = state.average_entry_price
        assert entry is not None
        return Trade(
            side=state.side,
            quantity=abs(state.quantity),
            entry_bar=self.entry_bar,
            entry_price=entry,
            exit_bar=None,
            exit_price=None,
            fees=self.fees,
            slippage_cost=self.slippage,
            net_pnl=None,
        )


def ledger(fills: tuple[Fill, ...]) -> tuple[tuple[Trade, ...], Trade | None, PositionState]:
    """Trades, the open trade and the final position, by ``apply_fill`` over the fills."""
    state = PositionState()
    trades = _Trades()
    for fill in fills:
        effect = apply_fill(state, fill.event)
        trades.add(fill, effect.before, effect.after, effect.closed_quantity)
        state = effect.after
    return tuple(trades.closed), trades.open_trade(state), state


class BacktestResult:
    """One run's result. ``final_equity``, ``equity``, ``drawdown`` and ``log`` are computed by
    the run; the Decimal ``fills``, ``trades``, ``open_trade`` and ``position`` are built from the
    log when first read (the fast path) or were built by the run (the reference)."""

    def __init__(
        self,
        *,
        bars: Bars,
        config: BacktestConfig,
        log: FillLog,
        final_equity: Decimal,
        equity: FloatArray,
        refusals: tuple[Refusal, ...],
        fills: tuple[Fill, ...] | None = None,
        built: tuple[tuple[Trade, ...], Trade | None, PositionState] | None = None,
    ) -> None:
        self.bars = bars
        self.config = config
        self.log = log
        self.initial_cash = config.initial_cash
        self.final_equity = final_equity  # exact: cash + position marked at the last close
        self.equity = equity  # marked to market at each bar's close (float64, for charts)
        peak = np.maximum.accumulate(equity)
        self.drawdown: FloatArray = equity / peak - 1.0  # <= 0
        self.refusals = refusals
        if fills is not None:
            self.__dict__["fills"] = fills
        if built is not None:
            self.__dict__["_ledger"] = built

    @cached_property
    def fills(self) -> tuple[Fill, ...]:
        return fills_from_log(self.log, self.bars, self.config)

    @cached_property
    def _ledger(self) -> tuple[tuple[Trade, ...], Trade | None, PositionState]:
        return ledger(self.fills)

    @property
    def trades(self) -> tuple[Trade, ...]:
        """Closed trades, in order."""
        return self._ledger[0]

    @property
    def open_trade(self) -> Trade | None:
        return self._ledger[1]

    @property
    def position(self) -> PositionState:
        """At the end, exact."""
        return self._ledger[2]

    @property
    def refusal_counts(self) -> dict[str, int]:
        """Refused orders by rule (an order refused by two rules counts under both)."""
        return dict(Counter(v.rule for refusal in self.refusals for v in refusal.violations))

    @property
    def total_costs(self) -> Decimal:
        with exact():
            return sum((f.event.fee + f.slippage_cost for f in self.fills), ZERO)

    def closed_trades(self) -> list[ClosedTrade]:
        return closed_trades((fill.at, fill.event) for fill in self.fills)

    def equity_curve(self, close_prices: list[Decimal]) -> list[EquityPoint]:
        """The exact Decimal equity at each bar's close, given the closes as Decimals."""
        points: list[EquityPoint] = []
        state = PositionState()
        fills = iter(self.fills)
        upcoming = next(fills, None)
        times = self.bars.starts.astype("datetime64[us]").tolist()
        with exact():
            for index, close in enumerate(close_prices):
                while upcoming is not None and upcoming.bar == index:
                    state = apply_fill(state, upcoming.event).after
                    upcoming = next(fills, None)
                equity = self.initial_cash + state.realized_pnl + state.unrealized_pnl(close)
                points.append((times[index].replace(tzinfo=UTC), equity))
        return points

    def summary(self, periods_per_year: float, close_prices: list[Decimal]) -> PerformanceSummary:
        """Every metric, by ``execution.domain.metrics`` on the exact curve."""
        return summarize(self.equity_curve(close_prices), self.closed_trades(), periods_per_year)


# -- what both paths share: the vectorised decisions and the grid --------------------------------


def on_grid(values: FloatArray, step: Decimal, name: str) -> IntArray:
    units = np.rint(values / float(step))
    off = np.abs(values / float(step) - units) > 1e-6
    if off.any():
        bar = int(np.flatnonzero(off)[0])
        raise DomainError(f"bar {bar}: {name} {values[bar]} is not on the grid of {step}")
    return units.astype(np.int64)


def _micros(duration: timedelta) -> np.timedelta64:
    return np.timedelta64(duration // timedelta(microseconds=1), "us")


def _ends(starts: npt.NDArray[np.datetime64]) -> npt.NDArray[np.datetime64]:
    step = starts[-1] - starts[-2]
    return np.concatenate((starts[1:], [starts[-1] + step]))


@dataclass(frozen=True, slots=True)
class Plan:
    """The run's inputs on the grid and the strategy's decisions, computed vectorised."""

    opens: IntArray
    highs: IntArray
    lows: IntArray
    closes: IntArray
    starts: npt.NDArray[np.datetime64]
    ends: npt.NDArray[np.datetime64]
    decisions: IntArray  # the bars where the target changes and whose order can fill
    fill_bars: IntArray  # the bar each decision's order fills at (non-decreasing)
    wanted_lots: IntArray  # the target at each decision x order_size, in lots, rounded down
    day_first: IntArray  # per bar: the first bar of its UTC day

    @property
    def n(self) -> int:
        return len(self.opens)


def plan(strategy: Strategy, bars: Bars, config: BacktestConfig) -> Plan:
    n = len(bars)
    if n < 2:
        raise DomainError(f"a backtest needs at least 2 bars, got {n}")
    spec = config.spec
    targets = strategy.target_positions(bars)
    if len(targets) != n or not bool(np.all(np.abs(targets) <= 1.0)):
        raise DomainError(f"{strategy.name}: targets must be one value in -1..1 per bar")
    opens = on_grid(bars.open, spec.tick_size, "open")
    highs = on_grid(bars.high, spec.tick_size, "high")
    lows = on_grid(bars.low, spec.tick_size, "low")
    closes = on_grid(bars.close, spec.tick_size, "close")
    if not bool(np.all(lows >= 1)):
        bar = int(np.flatnonzero(lows < 1)[0])
        raise DomainError(f"bar {bar}: low {bars.low[bar]} is not a positive price")
    starts = bars.starts.astype("datetime64[us]")
    ends = _ends(starts)

    previous = np.concatenate(([0.0], targets[:-1]))
    decisions = np.flatnonzero(targets != previous)
    active = ends[decisions] + _micros(config.latency)
    fill_bars = np.maximum(
        np.searchsorted(starts, active, side="left"), decisions + 1 + config.latency_bars
    )
    # Fills past the data never happen; fill bars never decrease, so the rest is a prefix.
    keep = int(np.searchsorted(fill_bars, n, side="left"))
    decisions, fill_bars = decisions[:keep], fill_bars[:keep]
    chosen = targets[decisions]
    values, inverse = np.unique(chosen, return_inverse=True)
    with exact():
        lots = [
            int(spec.round_quantity(Decimal(repr(float(v))) * config.order_size) / spec.lot_size)
            for v in values.tolist()
        ]
    wanted = np.array(lots, dtype=np.int64)[inverse] if keep else np.zeros(0, np.int64)

    days = starts.astype("datetime64[D]").astype(np.int64)
    new_day = np.ones(n, dtype=bool)
    new_day[1:] = days[1:] != days[:-1]
    day_first = np.maximum.accumulate(np.where(new_day, np.arange(n), 0))
    return Plan(
        opens,
        highs,
        lows,
        closes,
        starts,
        ends,
        decisions.astype(np.int64),
        fill_bars.astype(np.int64),
        wanted,
        day_first,
    )


def risk_decision(
    limits: RiskLimits,
    request: OrderRequest,
    *,
    equity: Decimal,
    start_of_day_equity: Decimal,
    breached: bool,
    planned: Decimal,
    mid: Decimal,
    fee_rate: Decimal,
) -> RiskDecision:
    """``check_order`` with the account as the module docstring assumes it (margin 1 on the
    position the order leaves after its reducing part)."""
    with exact():
        qty = request.quantity
        opposite = planned and (planned > 0) != (request.side is Side.BUY)
        reducing = min(qty, abs(planned)) if opposite else ZERO
        available = equity - (abs(planned) - reducing) * mid
    return check_order(
        request,
        limits,
        AccountRisk(
            equity=equity,
            available_balance=available,
            start_of_day_equity=start_of_day_equity,
            loss_limit_breached=breached,
            position_quantity=planned,
            mid_price=mid,
            taker_fee_rate=fee_rate,
        ),
    )


def mark_to_market(log: FillLog, close: FloatArray, config: BacktestConfig) -> FloatArray:
    """Cash plus position value at every close, from the fills alone (float64, for charts)."""
    n = len(close)
    spec = config.spec
    cash_change: npt.NDArray[np.float64] = np.zeros(n)
    quantity_change: npt.NDArray[np.float64] = np.zeros(n)
    if len(log):
        signed = (log.side * log.lots).astype(np.float64)
        notional = signed * log.ticks.astype(np.float64)
        unit = float(spec.tick_size * spec.lot_size)
        fee = np.abs(notional) * float(spec.tick_size * spec.lot_size * config.fee_rate)
        cash_change = np.bincount(log.bar, weights=-notional * unit - fee, minlength=n).astype(
            np.float64
        )
        lots = np.bincount(log.bar, weights=signed, minlength=n).astype(np.float64)
        quantity_change = lots * np.float64(spec.lot_size)
    result: FloatArray = (
        float(config.initial_cash) + np.cumsum(cash_change) + np.cumsum(quantity_change) * close
    )
    return result


def protective_levels(
    config: BacktestConfig, long: bool, entry: Decimal
) -> tuple[int | None, int | None]:
    """The stop and take-profit levels in ticks for a position entered at ``entry`` (Decimal,
    the reference's rule; the fast path has the integer twin)."""
    tick = config.spec.tick_size
    stop = take = None
    with exact():
        if config.stop_loss is not None:
            level = entry * (1 - config.stop_loss if long else 1 + config.stop_loss) / tick
            stop = int(level.to_integral_value(ROUND_FLOOR if long else ROUND_CEILING))
        if config.take_profit is not None:
            level = entry * (1 + config.take_profit if long else 1 - config.take_profit) / tick
            take = int(level.to_integral_value(ROUND_CEILING if long else ROUND_FLOOR))
    return (stop if stop and stop > 0 else None), (take if take and take > 0 else None)


def run_backtest(
    strategy: Strategy, bars: Bars, config: BacktestConfig, *, reference: bool = False
) -> BacktestResult:
    """Run ``strategy`` over ``bars``; see the module docstring for every assumption.

    ``reference=True`` runs the slow bar-by-bar Decimal path through execution.domain that the
    fast path is tested against."""
    prepared = plan(strategy, bars, config)
    if reference:
        return _run_reference(bars, config, prepared)
    from strategies.backtest.fast import run_fast  # fast imports this module

    return run_fast(bars, config, prepared)


# -- the reference: bar by bar, in Decimal, through execution.domain ----------------------------


def _slipped_price(price: Decimal, side: Side, config: BacktestConfig) -> Decimal:
    """The candle model's slippage rule on a Decimal price: against us, onto the grid."""
    tick = config.spec.tick_size
    with exact():
        moved = price * (1 + side.sign * config.slippage_bps / _BPS) / tick
        if side is Side.BUY:
            return moved.to_integral_value(ROUND_CEILING) * tick
        return max(Decimal(1), moved.to_integral_value(ROUND_FLOOR)) * tick


def _run_reference(bars: Bars, config: BacktestConfig, p: Plan) -> BacktestResult:
    n = p.n
    spec = config.spec
    grid = Grid(spec)
    engine = MatchingEngine(
        latency=config.latency, candle_rules=CandleRules(slippage_bps=config.slippage_bps)
    )
    fees = FeeSchedule(taker_rate=config.fee_rate)
    state = PositionState()
    fills: list[Fill] = []
    trades = _Trades()
    refusals: list[Refusal] = []
    planned = ZERO  # the position all orders sent so far lead to
    pending: list[tuple[int, EngineOrder]] = []
    references: list[int] = []  # per fill: the ticks its slippage is measured from
    levels: tuple[int | None, int | None] = (None, None)
    day = -1  # the bar whose UTC day the start-of-day equity is for (its first bar)
    start_equity = config.initial_cash
    breached = False

    def equity_at(bar: int) -> Decimal:
        with exact():
            close = grid.price(int(p.closes[bar]))
            return config.initial_cash + state.realized_pnl + state.unrealized_pnl(close)

    def new_day(bar: int) -> None:
        nonlocal day, start_equity, breached
        if config.risk is None or int(p.day_first[bar]) == day:
            return
        day = int(p.day_first[bar])
        start_equity = config.initial_cash if day == 0 else equity_at(day - 1)
        breached = False

    def record(bar: int, fill: Fill, reference: int) -> None:
        nonlocal state, levels
        references.append(reference)
        effect = apply_fill(state, fill.event)
        trades.add(fill, effect.before, effect.after, effect.closed_quantity)
        state = effect.after
        fills.append(fill)
        entry = state.average_entry_price
        if entry is None or not config.protective:
            levels = (None, None)
        else:
            levels = protective_levels(config, state.quantity > 0, entry)

    def fill_through(bar: int) -> None:
        candle = Candle(
            int(p.opens[bar]),
            int(p.highs[bar]),
            int(p.lows[bar]),
            int(p.closes[bar]),
            0,
            _utc(p.starts[bar]),
            _utc(p.ends[bar]),
        )
        open_price = grid.price(int(p.opens[bar]))
        for execution in engine.on_candle(spec.symbol, candle):
            quantity = grid.quantity(execution.lots)
            price = grid.price(execution.ticks)
            event = FillEvent(
                fill_id=f"paper-{len(fills) + 1}",
                side=execution.side,
                quantity=quantity,
                price=price,
                fee=fees.fee(quantity, price, Liquidity.TAKER),
            )
            with exact():
                slippage = (price - open_price) * quantity * execution.side.sign
            fill = Fill(bar=bar, at=execution.timestamp, event=event, slippage_cost=slippage)
            record(bar, fill, int(p.opens[bar]))

    def protect(bar: int) -> None:
        nonlocal pending, planned
        stop, take = levels
        long = state.quantity > 0
        reason = exit_trigger(
            quantity=state.quantity,
            stop_loss_price=None if stop is None else grid.price(stop),
            take_profit_price=None if take is None else grid.price(take),
            low=grid.price(int(p.lows[bar])),
            high=grid.price(int(p.highs[bar])),
        )
        if reason is None:
            return
        level = stop if reason is ExitReason.STOP_LOSS else take
        assert level is not None
        opening = int(p.opens[bar])
        worse_for_long = reason is ExitReason.STOP_LOSS
        trigger = min(level, opening) if long == worse_for_long else max(level, opening)
        side = Side.SELL if long else Side.BUY
        price = _slipped_price(grid.price(trigger), side, config)
        quantity = abs(state.quantity)
        event = FillEvent(
            fill_id=f"paper-{len(fills) + 1}",
            side=side,
            quantity=quantity,
            price=price,
            fee=fees.fee(quantity, price, Liquidity.TAKER),
        )
        with exact():
            slippage = (price - grid.price(trigger)) * quantity * side.sign
        at = _utc((p.starts if trigger == opening else p.ends)[bar])
        record(bar, Fill(bar, at, event, slippage, reason), trigger)
        for _, order in pending:  # sized for a position that is gone
            engine.cancel(order.order_id)
        pending = []
        planned = ZERO

    def decide(k: int, bar: int) -> None:
        nonlocal planned, breached
        with exact():
            wanted = grid.quantity(int(p.wanted_lots[k])) if p.wanted_lots[k] else ZERO
            delta = wanted - planned
        if not delta:
            return
        side = Side.BUY if delta > 0 else Side.SELL
        mid = grid.price(int(p.closes[bar]))
        try:
            request = OrderRequest.build(
                spec,
                side=side,
                order_type=OrderType.MARKET,
                quantity=abs(delta),
                reference_price=mid,
            )
        except RuleViolation as violation:
            refusals.append(Refusal(bar, side, abs(delta), (violation,)))
            return
        if config.risk is not None:
            new_day(bar)
            decision = risk_decision(
                config.risk,
                request,
                equity=equity_at(bar),
                start_of_day_equity=start_equity,
                breached=breached,
                planned=planned,
                mid=mid,
                fee_rate=config.fee_rate,
            )
            breached = breached or decision.loss_limit_breached_now
            if not decision.accepted:
                refusals.append(Refusal(bar, side, abs(delta), tuple(decision.violations)))
                return
        order = EngineOrder(
            order_id=f"bt{bar}",
            symbol=spec.symbol,
            side=request.side,
            order_type=request.order_type,
            lots=grid.lots(request.quantity),
        )
        # latency_bars hold the order back before it reaches the venue, whose latency follows:
        # it becomes active at its fill bar's start at the latest, and after the bar before.
        fill_bar = int(p.fill_bars[k])
        arrives = max(p.ends[bar], p.starts[fill_bar] - _micros(config.latency))
        engine.submit(order, _utc(arrives))
        pending.append((fill_bar, order))
        planned = wanted

    decisions = p.decisions.tolist()
    k = 0
    for bar in range(n):
        if pending and pending[0][0] == bar:
            new_day(bar)
            fill_through(bar)
            pending = [item for item in pending if item[0] != bar]
        if state.quantity and levels != (None, None):
            new_day(bar)
            protect(bar)
        if k < len(decisions) and decisions[k] == bar:
            decide(k, bar)
            k += 1

    log = _log_of(fills, references, grid, p)
    with exact():
        final = (
            config.initial_cash
            + state.realized_pnl
            + state.unrealized_pnl(grid.price(int(p.closes[-1])))
        )
    built = (tuple(trades.closed), trades.open_trade(state), state)
    return BacktestResult(
        bars=bars,
        config=config,
        log=log,
        final_equity=final,
        equity=mark_to_market(log, bars.close, config),
        refusals=tuple(refusals),
        fills=tuple(fills),
        built=built,
    )


def _log_of(fills: list[Fill], references: list[int], grid: Grid, p: Plan) -> FillLog:
    count = len(fills)
    return FillLog(
        bar=np.fromiter((f.bar for f in fills), np.int64, count),
        side=np.fromiter((f.event.side.sign for f in fills), np.int64, count),
        lots=np.fromiter((grid.lots(f.event.quantity) for f in fills), np.int64, count),
        ticks=np.fromiter((grid.ticks(f.event.price) for f in fills), np.int64, count),
        reference_ticks=np.array(references, dtype=np.int64),
        at_end=np.fromiter((f.at == _utc(p.ends[f.bar]) for f in fills), np.bool_, count),
        reason=np.fromiter((REASON_CODE[f.reason] for f in fills), np.int64, count),
    )


def _utc(moment: np.datetime64) -> datetime:
    value = moment.item()
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC)
