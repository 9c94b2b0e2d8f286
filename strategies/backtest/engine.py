"""The event-driven backtester on the pure execution domain.

Decisions are computed vectorised over the whole series (``Strategy.target_positions``); the
event loop then visits only the bars where something happens: a target change sends an order,
and the bar it fills on is fed to the paper fill model. Every order goes the live way through
``execution.domain``: an ``OrderRequest`` checked against the instrument's rules, the candle
fill model of ``MatchingEngine`` (the paper venue's), fees from a ``FeeSchedule``, and
``apply_fill`` for the position and P&L in exact Decimal. The equity curve is then marked to
market on every bar, vectorised from the position path and the closes.

Modelling assumptions (each is a choice; change it here, not in a caller):

- A decision is taken at a bar's close and sent as a market order at the bar's end time; the
  fill model fills it at the open of the first bar that starts at or after it is active (the
  end time plus ``latency``), and at least ``latency_bars`` bars after the next one. A decision
  on the last bar, or one whose fill bar is past the data, never fills.
- The order is the difference between the new target and the position the earlier orders lead
  to (so a reversal is one order through zero, which closes one trade and opens the next).
  Target x ``order_size`` is rounded down onto the lot grid.
- Market fills are at the open moved against us by ``slippage_bps`` and rounded onto the tick
  grid against us (the fill model's rule); fees are quantity x price x ``fee_rate`` (taker),
  charged on every fill, entry and exit. Costs are always on; zero rates are allowed only
  because an agreement test needs them explicit.
- No spread beyond slippage on candles, no partial fills (no volume cap), no margin or cash
  check: the account may hold any position the targets ask for. Positions are marked at each
  bar's close; a trade still open at the end is marked, not closed, and is reported apart.
- A trade runs from flat to flat (a flip closes one and opens the next at the same fill). Its
  entry price is the position's average entry, its exit price that of the fill closing it; its
  fees and slippage are those of its fills, a flip's split by quantity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from execution.domain.errors import DomainError
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
from execution.domain.positions import PositionState, apply_fill
from execution.domain.values import ZERO, InstrumentSpec, Liquidity, Side, exact, to_decimal
from strategies.domain.base import Bars, FloatArray, Strategy

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """One run's account and costs. Money in Decimal; rates as fractions of value."""

    spec: InstrumentSpec
    order_size: Decimal  # the quantity held at target 1.0
    initial_cash: Decimal
    fee_rate: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal(1)
    latency_bars: int = 0  # whole bars between the decision's next bar and its fill bar
    latency: timedelta = timedelta(0)  # time from the decision to the order being active

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


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of the run, with where it happened and what slippage cost."""

    bar: int
    at: datetime
    event: FillEvent
    slippage_cost: Decimal  # (fill price - open) x quantity against us


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


@dataclass(frozen=True, slots=True)
class BacktestResult:
    bars: Bars
    fills: tuple[Fill, ...]
    trades: tuple[Trade, ...]  # closed, in order
    open_trade: Trade | None
    position: PositionState  # at the end, exact
    initial_cash: Decimal
    final_equity: Decimal  # exact: cash + position marked at the last close
    equity: FloatArray  # marked to market at each bar's close (float64, for charts)
    drawdown: FloatArray  # equity / running peak - 1, <= 0

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


def _on_grid(values: FloatArray, step: Decimal, name: str) -> IntArray:
    units = np.rint(values / float(step))
    off = np.abs(values / float(step) - units) > 1e-6
    if off.any():
        bar = int(np.flatnonzero(off)[0])
        raise DomainError(f"bar {bar}: {name} {values[bar]} is not on the grid of {step}")
    return units.astype(np.int64)


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


def run_backtest(strategy: Strategy, bars: Bars, config: BacktestConfig) -> BacktestResult:
    """Run ``strategy`` over ``bars``; see the module docstring for every assumption."""
    n = len(bars)
    if n < 2:
        raise DomainError(f"a backtest needs at least 2 bars, got {n}")
    spec = config.spec
    grid = Grid(spec)
    targets = strategy.target_positions(bars)
    if len(targets) != n or not bool(np.all(np.abs(targets) <= 1.0)):
        raise DomainError(f"{strategy.name}: targets must be one value in -1..1 per bar")
    opens = _on_grid(bars.open, spec.tick_size, "open")
    highs = _on_grid(bars.high, spec.tick_size, "high")
    lows = _on_grid(bars.low, spec.tick_size, "low")
    closes = _on_grid(bars.close, spec.tick_size, "close")
    volumes = np.floor(bars.volume / float(spec.lot_size)).astype(np.int64)
    starts = bars.starts.astype("datetime64[us]")
    step = starts[-1] - starts[-2]
    ends = np.concatenate((starts[1:], [starts[-1] + step]))

    # The event bars: where the target changes.
    previous = np.concatenate(([0.0], targets[:-1]))
    decisions = np.flatnonzero(targets != previous)
    active = ends[decisions] + np.timedelta64(config.latency // timedelta(microseconds=1), "us")
    fill_bars = np.maximum(
        np.searchsorted(starts, active, side="left"), decisions + 1 + config.latency_bars
    )

    engine = MatchingEngine(
        latency=config.latency, candle_rules=CandleRules(slippage_bps=config.slippage_bps)
    )
    fees = FeeSchedule(taker_rate=config.fee_rate)
    state = PositionState()
    trades = _Trades()
    fills: list[Fill] = []
    planned = ZERO  # the position all orders sent so far lead to
    pending: list[tuple[int, EngineOrder]] = []

    def fill_through(bar: int) -> None:
        nonlocal state
        start = starts[bar].item().replace(tzinfo=UTC)
        end = ends[bar].item().replace(tzinfo=UTC)
        candle = Candle(
            int(opens[bar]),
            int(highs[bar]),
            int(lows[bar]),
            int(closes[bar]),
            int(volumes[bar]),
            start,
            end,
        )
        open_price = grid.price(int(opens[bar]))
        for execution in engine.on_candle(spec.symbol, candle):
            quantity = grid.quantity(execution.lots)
            price = grid.price(execution.ticks)
            event = FillEvent(
                fill_id=execution.fill_id,
                side=execution.side,
                quantity=quantity,
                price=price,
                fee=fees.fee(quantity, price, Liquidity.TAKER),
            )
            with exact():
                slippage = (price - open_price) * quantity * execution.side.sign
            fill = Fill(bar=bar, at=execution.timestamp, event=event, slippage_cost=slippage)
            effect = apply_fill(state, event)
            trades.add(fill, effect.before, effect.after, effect.closed_quantity)
            state = effect.after
            fills.append(fill)

    for decision, fill_bar in zip(decisions.tolist(), fill_bars.tolist(), strict=True):
        if fill_bar >= n:
            break  # fills past the data never happen; later decisions fill later still
        while pending and pending[0][0] < fill_bar:
            bar = pending[0][0]
            fill_through(bar)
            pending = [item for item in pending if item[0] != bar]
        with exact():
            wanted = spec.round_quantity(
                Decimal(repr(float(targets[decision]))) * config.order_size
            )
            delta = wanted - planned
        if not delta:
            continue
        side = Side.BUY if delta > 0 else Side.SELL
        request = OrderRequest.build(
            spec,
            side=side,
            order_type=OrderType.MARKET,
            quantity=abs(delta),
            reference_price=grid.price(int(closes[decision])),
        )
        order = EngineOrder(
            order_id=f"bt{decision}",
            symbol=spec.symbol,
            side=request.side,
            order_type=request.order_type,
            lots=grid.lots(request.quantity),
        )
        engine.submit(order, ends[decision].item().replace(tzinfo=UTC))
        pending.append((fill_bar, order))
        planned = wanted
    for bar in sorted({bar for bar, _ in pending}):
        fill_through(bar)

    equity = _mark_to_market(fills, bars.close, float(config.initial_cash))
    peak = np.maximum.accumulate(equity)
    with exact():
        final = (
            config.initial_cash
            + state.realized_pnl
            + state.unrealized_pnl(grid.price(int(closes[-1])))
        )
    return BacktestResult(
        bars=bars,
        fills=tuple(fills),
        trades=tuple(trades.closed),
        open_trade=trades.open_trade(state),
        position=state,
        initial_cash=config.initial_cash,
        final_equity=final,
        equity=equity,
        drawdown=equity / peak - 1.0,
    )


def _mark_to_market(fills: list[Fill], close: FloatArray, initial_cash: float) -> FloatArray:
    """Cash plus position value at every close, from the fills alone (float64)."""
    n = len(close)
    cash_change = np.zeros(n)
    quantity_change = np.zeros(n)
    if fills:
        bars = np.fromiter((f.bar for f in fills), dtype=np.int64, count=len(fills))
        signed = np.fromiter(
            (float(f.event.quantity) * f.event.side.sign for f in fills),
            dtype=np.float64,
            count=len(fills),
        )
        prices = np.fromiter((float(f.event.price) for f in fills), np.float64, len(fills))
        paid = np.fromiter((float(f.event.fee) for f in fills), np.float64, len(fills))
        np.add.at(cash_change, bars, -signed * prices - paid)
        np.add.at(quantity_change, bars, signed)
    result: FloatArray = initial_cash + np.cumsum(cash_change) + np.cumsum(quantity_change) * close
    return result
