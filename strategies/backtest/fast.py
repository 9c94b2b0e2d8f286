"""The fast path of the candle backtester: the rules of ``strategies.backtest.engine`` (see its
docstring for every assumption) in integer ticks, lots and money units.

Integers instead of Decimal objects, with the domain's roundings done exactly on them:

- prices are ticks and quantities lots (int64 arrays, Python ints in the loop);
- money (cost basis, realised P&L, fees) is in units of 10^-18, the stored precision, so
  ``quantize`` (half even) is an exact integer division and nothing else rounds;
- slippage is bps as an exact fraction N/D: a buy fills at ceil(open x (D + N) / D) ticks, a
  sell at max(1, floor(open x (D - N) / D)), the ``MatchingEngine`` candle rule.

Two lanes. With no protective exits, no risk limits and no order the instrument's rules refuse,
every order follows from the targets alone, so fills, fees and the final equity are computed
vectorised (numpy int64, with overflow bounds checked; Python ints for the sums). Otherwise an
event loop visits the orders' fill bars, the decisions and, for stops and take profits, finds
the first bar of each holding that reaches a level with numpy over the holding's slice.
Pre-trade risk checks call ``execution.domain.risk.check_order`` itself, with Decimal inputs
built from the integers.

The reference path (``run_backtest(..., reference=True)``) runs the same rules bar by bar in
Decimal through execution.domain; tests/strategies/test_engine_fast.py holds the two to
identical fills, trades, refusals, position and final equity.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

import numpy as np

from execution.domain.errors import RuleViolation
from execution.domain.matching import Grid
from execution.domain.orders import OrderRequest, OrderType
from execution.domain.values import ZERO, Side, exact
from strategies.backtest.engine import (
    BacktestConfig,
    BacktestResult,
    FillLog,
    IntArray,
    Plan,
    Refusal,
    mark_to_market,
    risk_decision,
)
from strategies.domain.base import Bars

_SCALE = 10**18  # money units per unit of the quote currency: the stored precision
_SAFE = 1 << 62  # int64 products below this cannot overflow


def _fraction(value: Decimal) -> tuple[int, int]:
    numerator, denominator = value.as_integer_ratio()
    return numerator, denominator


def _half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half to even (denominator > 0), exactly."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


class _Rules:
    """The run's rules as integers."""

    def __init__(self, config: BacktestConfig) -> None:
        spec = config.spec
        self.tl = int(spec.tick_size * spec.lot_size * _SCALE)  # money units per tick x lot
        self.lot = int(spec.lot_size * _SCALE)
        self.tick = int(spec.tick_size * _SCALE)
        # fee of one tick x lot, in money units, as a fraction (quantized per fill)
        with exact():
            self.fee_num, self.fee_den = _fraction(spec.tick_size * spec.lot_size * config.fee_rate)
        self.fee_num *= _SCALE
        slip_num, self.slip_den = _fraction(config.slippage_bps / Decimal(10_000))
        self.slip_up = self.slip_den + slip_num
        self.slip_down = self.slip_den - slip_num
        self.min_quantity = spec.min_quantity * _SCALE  # Decimal: compared with lots x lot
        self.min_notional = spec.min_notional * _SCALE  # with lots x ticks x tl
        self.stop = None if config.stop_loss is None else _fraction(config.stop_loss)
        self.take = None if config.take_profit is None else _fraction(config.take_profit)

    def fee(self, lots: int, ticks: int) -> int:
        return _half_even(lots * ticks * self.fee_num, self.fee_den)

    def slipped(self, ticks: int, side: int) -> int:
        if side > 0:
            return -((-ticks * self.slip_up) // self.slip_den)
        return max(1, ticks * self.slip_down // self.slip_den)

    def levels(self, quantity: int, cost: int) -> tuple[int | None, int | None]:
        """Stop and take-profit ticks of a position (lots, cost in money units)."""
        # The average entry, quantized to the stored precision like PositionState's.
        entry = _half_even(abs(cost) * _SCALE, abs(quantity) * self.lot)
        long = quantity > 0
        stop = take = None
        if self.stop is not None:
            num, den = self.stop
            factor = den - num if long else den + num
            total, part = entry * factor, den * self.tick
            stop = total // part if long else -(-total // part)
        if self.take is not None:
            num, den = self.take
            factor = den + num if long else den - num
            total, part = entry * factor, den * self.tick
            take = -(-total // part) if long else total // part
        return (stop if stop and stop > 0 else None), (take if take and take > 0 else None)


def run_fast(bars: Bars, config: BacktestConfig, p: Plan) -> BacktestResult:
    rules = _Rules(config)
    if not config.protective and config.risk is None:
        result = _vectorised(bars, config, p, rules)
        if result is not None:
            return result
    return _event_loop(bars, config, p, rules)


def _final_equity(config: BacktestConfig, p: Plan, pnl: int, any_fills: bool) -> Decimal:
    """initial cash + realised + unrealised (``pnl``, money units), as the reference adds it."""
    if not any_fills:
        with exact():
            close = Grid(config.spec).price(int(p.closes[-1]))
            return config.initial_cash + ZERO + (ZERO * close - ZERO)
    with exact():
        return config.initial_cash + Decimal(pnl).scaleb(-18)


def _vectorised(
    bars: Bars, config: BacktestConfig, p: Plan, rules: _Rules
) -> BacktestResult | None:
    """Every order from the targets alone; None when this lane does not apply."""
    delta = np.diff(p.wanted_lots, prepend=0)
    orders = np.flatnonzero(delta)
    lots = np.abs(delta[orders])
    side = np.sign(delta[orders])
    decided = p.decisions[orders]
    bar = p.fill_bars[orders]
    count = len(orders)
    if count:
        top = int(lots.max()) * max(int(p.highs.max()), int(p.closes.max()))
        if top * max(rules.slip_up, rules.slip_den) * 2 >= _SAFE or top * count >= _SAFE:
            return None  # numbers too large for int64: the loop uses Python ints
        smallest = int(lots.min())
        if smallest * rules.lot < rules.min_quantity:
            return None  # an order the instrument refuses: the loop records it
        if rules.min_notional and int((lots * p.closes[decided]).min()) * rules.tl < (
            rules.min_notional
        ):
            return None
    opens = p.opens[bar]
    up = -((-opens * rules.slip_up) // rules.slip_den)
    down = np.maximum(1, opens * rules.slip_down // rules.slip_den)
    ticks = np.where(side > 0, up, down).astype(np.int64)
    traded = lots * ticks
    if rules.fee_den == 1:
        fees = int(traded.sum()) * rules.fee_num
    else:
        fees = sum(rules.fee(1, x) for x in traded.tolist())
    position = int((side * lots).sum())
    pnl = -int((side * traded).sum()) * rules.tl - fees + position * int(p.closes[-1]) * rules.tl
    log = FillLog(
        bar=bar,
        side=side.astype(np.int64),
        lots=lots.astype(np.int64),
        ticks=ticks,
        reference_ticks=opens,
        at_end=np.zeros(count, dtype=np.bool_),
        reason=np.zeros(count, dtype=np.int64),
    )
    return BacktestResult(
        bars=bars,
        config=config,
        log=log,
        final_equity=_final_equity(config, p, pnl, bool(count)),
        equity=mark_to_market(log, bars.close, config),
        refusals=(),
    )


def _event_loop(bars: Bars, config: BacktestConfig, p: Plan, rules: _Rules) -> BacktestResult:
    n = p.n
    spec = config.spec
    grid = Grid(spec)
    opens, highs, lows, closes = p.opens, p.highs, p.lows, p.closes
    tl = rules.tl
    protective = config.protective
    risk = config.risk

    quantity = cost = realized = 0  # lots; money units
    planned = 0  # lots the orders sent so far lead to
    stop: int | None = None
    take: int | None = None
    pending: deque[tuple[int, int, int]] = deque()  # (fill bar, side, lots), in fill order
    cursor = 0  # the first bar whose range protective exits have not watched yet
    out_bar: list[int] = []
    out_side: list[int] = []
    out_lots: list[int] = []
    out_ticks: list[int] = []
    out_reference: list[int] = []
    out_end: list[bool] = []
    out_reason: list[int] = []
    refusals: list[Refusal] = []
    day = -1
    start_equity = config.initial_cash
    breached = False

    def equity_units(bar: int) -> int:
        return realized + quantity * int(closes[bar]) * tl - cost

    def new_day(bar: int) -> None:
        nonlocal day, start_equity, breached
        first = int(p.day_first[bar])
        if first == day:
            return
        day = first
        with exact():
            start_equity = (
                config.initial_cash
                if first == 0
                else config.initial_cash + Decimal(equity_units(first - 1)).scaleb(-18)
            )
        breached = False

    def fill(bar: int, side: int, lots: int, ticks: int, reference: int, reason: int) -> None:
        nonlocal quantity, cost, realized, stop, take
        signed = side * lots
        if quantity == 0 or (quantity > 0) == (signed > 0):
            quantity += signed
            cost += signed * ticks * tl
        else:
            held = abs(quantity)
            closed = min(lots, held)
            removed = cost if closed == held else _half_even(cost * closed, held)
            realized += (1 if quantity > 0 else -1) * closed * ticks * tl - removed
            cost -= removed
            quantity += signed
            if lots > closed:
                cost = (1 if signed > 0 else -1) * (lots - closed) * ticks * tl
        realized -= rules.fee(lots, ticks)
        out_bar.append(bar)
        out_side.append(side)
        out_lots.append(lots)
        out_ticks.append(ticks)
        out_reference.append(reference)
        out_end.append(False)  # an exit inside the bar sets it
        out_reason.append(reason)
        if protective:
            stop, take = rules.levels(quantity, cost) if quantity else (None, None)

    def first_exit(low: int, high: int) -> int:
        """The first bar in low..high (inclusive) whose range reaches a level, or -1."""
        long = quantity > 0
        hits = None
        if stop is not None:
            hits = lows[low : high + 1] <= stop if long else highs[low : high + 1] >= stop
        if take is not None:
            more = highs[low : high + 1] >= take if long else lows[low : high + 1] <= take
            hits = more if hits is None else hits | more
        if hits is None:
            return -1
        index = int(hits.argmax())
        return low + index if hits[index] else -1

    def exit_at(bar: int) -> None:
        nonlocal planned
        long = quantity > 0
        opening = int(opens[bar])
        if stop is not None and (lows[bar] <= stop if long else highs[bar] >= stop):
            reason, trigger = 1, (min(stop, opening) if long else max(stop, opening))
        else:
            assert take is not None
            reason, trigger = 2, (max(take, opening) if long else min(take, opening))
        side = -1 if long else 1
        lots = abs(quantity)
        fill(bar, side, lots, rules.slipped(trigger, side), trigger, reason)
        out_end[-1] = trigger != opening
        pending.clear()  # sized for a position that is gone
        planned = 0

    def advance(through: int) -> None:
        """Process every event up to and including bar ``through`` (before its decision)."""
        nonlocal cursor
        while True:
            due = pending[0][0] if pending else n
            end = min(through, due - 1)
            if quantity and (stop is not None or take is not None) and cursor <= end:
                hit = first_exit(cursor, end)
                if hit >= 0:
                    if risk is not None:
                        new_day(hit)
                    exit_at(hit)
                    cursor = hit + 1
                    continue
            cursor = max(cursor, end + 1)
            if due > through:
                return
            if risk is not None:
                new_day(due)
            opening = int(opens[due])
            while pending and pending[0][0] == due:
                _, side, lots = pending.popleft()
                fill(due, side, lots, rules.slipped(opening, side), opening, 0)

    decisions = p.decisions.tolist()
    fill_bars = p.fill_bars.tolist()
    wanted = p.wanted_lots.tolist()
    for k, decided in enumerate(decisions):
        advance(decided)
        delta = wanted[k] - planned
        if not delta:
            continue
        side = 1 if delta > 0 else -1
        lots = abs(delta)
        close = int(closes[decided])
        if lots * rules.lot < rules.min_quantity or lots * close * tl < rules.min_notional:
            refusals.append(_refused_by_instrument(config, grid, decided, side, lots, close))
            continue
        if risk is not None:
            new_day(decided)
            order_side = Side.BUY if side > 0 else Side.SELL
            mid = grid.price(close)
            request = OrderRequest.build(
                spec,
                side=order_side,
                order_type=OrderType.MARKET,
                quantity=grid.quantity(lots),
                reference_price=mid,
            )
            with exact():
                equity = config.initial_cash + Decimal(equity_units(decided)).scaleb(-18)
            decision = risk_decision(
                risk,
                request,
                equity=equity,
                start_of_day_equity=start_equity,
                breached=breached,
                planned=grid.quantity(planned) if planned else ZERO,
                mid=mid,
                fee_rate=config.fee_rate,
            )
            breached = breached or decision.loss_limit_breached_now
            if not decision.accepted:
                violations = tuple(decision.violations)
                refusals.append(Refusal(decided, order_side, request.quantity, violations))
                continue
        pending.append((fill_bars[k], side, lots))
        planned = wanted[k]
    advance(n - 1)

    count = len(out_bar)
    log = FillLog(
        bar=_ints(out_bar),
        side=_ints(out_side),
        lots=_ints(out_lots),
        ticks=_ints(out_ticks),
        reference_ticks=_ints(out_reference),
        at_end=np.array(out_end, dtype=np.bool_),
        reason=_ints(out_reason),
    )
    return BacktestResult(
        bars=bars,
        config=config,
        log=log,
        final_equity=_final_equity(config, p, equity_units(n - 1), bool(count)),
        equity=mark_to_market(log, bars.close, config),
        refusals=tuple(refusals),
    )


def _ints(values: list[int]) -> IntArray:
    return np.array(values, dtype=np.int64)


def _refused_by_instrument(
    config: BacktestConfig, grid: Grid, bar: int, side: int, lots: int, close: int
) -> Refusal:
    """The instrument rule an order breaks, in the domain's words (``OrderRequest.build``)."""
    order_side = Side.BUY if side > 0 else Side.SELL
    quantity = grid.quantity(lots)
    try:
        OrderRequest.build(
            config.spec,
            side=order_side,
            order_type=OrderType.MARKET,
            quantity=quantity,
            reference_price=grid.price(close),
        )
    except RuleViolation as violation:
        return Refusal(bar, order_side, quantity, (violation,))
    raise AssertionError(f"bar {bar}: the integer check refused an order the domain accepts")
