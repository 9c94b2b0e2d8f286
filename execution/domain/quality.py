"""Execution quality of a parent order: what working it cost, measured against the market it met.

Pure: the live system's selector reads a parent's fills and reference prices from the database,
a backtest passes its own, and both get the same numbers from the same functions.

Conventions
- Costs and slippage are signed so that positive is worse for us, buys and sells alike: a buy
  filled above its arrival mid costs, and so does a sell filled below it.
- Basis points are of the arrival reference (1 bps = 0.01 %), rounded to ``BPS_PLACES`` places.
- Money is in the quote currency: convert fees charged in the base first
  (``execution.domain.positions.fee_in_quote``).

Formulas, with s = +1 for a buy and -1 for a sell, Q the parent quantity, m0 the arrival mid,
fills (q_i, p_i, f_i), F = sum q_i the filled quantity and m_T the final mid:

- average price      p = sum q_i p_i / F
- slippage_bps       = s (p - m0) / m0 x 10,000
- fill rate          = F / Q
- fees_bps           = sum f_i / sum q_i p_i x 10,000 (of the notional executed)
- implementation shortfall (Perold), against a paper portfolio that traded all of Q at m0
  for free:
      execution cost   = s sum q_i (p_i - m0)
      fees             = sum f_i
      opportunity cost = s (Q - F) (m_T - m0): the move the unfilled part missed, marked at the
                         final mid (zero when all of Q filled; unknown without a final mid)
      shortfall        = execution cost + fees + opportunity cost
      shortfall_bps    = shortfall / (Q m0) x 10,000
- baseline: one market order for Q at arrival, walking the opposite side of the L2 book at
  arrival best level first (displayed depth only: it cannot see hidden liquidity, nor the book
  refilling, nor the impact of its own order beyond the levels it takes):
      baseline cost     = s sum q_j (p_j - m0) + taker fee rate x sum q_j p_j
      baseline_cost_bps = baseline cost / (Q m0) x 10,000
      baseline_slippage_bps = s (average price - m0) / m0 x 10,000 (price only, no fees)
  improvement_bps = baseline_cost_bps - shortfall_bps: positive when the algorithm did better
  than crossing the spread at once. Known only when the displayed book held all of Q (a
  market order through a thinner book has no defined price) and the shortfall is known.
  Both sides pay fees and the baseline fills everything, so the shortfall (fees and the
  unfilled part included) is what compares with it: slippage alone would flatter an algorithm
  that waits and fills little.
"""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from execution.domain.errors import DomainError
from execution.domain.values import ZERO, Side, exact, quantize, to_decimal, to_positive

BPS_PLACES = 4
_BPS = Decimal(10_000)
_BPS_QUANTUM = Decimal(1).scaleb(-BPS_PLACES)

Level = tuple[Decimal, Decimal]  # (price, quantity)


def _bps(ratio: Decimal) -> Decimal:
    with exact():
        return (ratio * _BPS).quantize(_BPS_QUANTUM)


@dataclass(frozen=True, slots=True)
class QualityFill:
    """One fill of a child order. ``fee`` is in the quote currency (negative: a rebate)."""

    quantity: Decimal
    price: Decimal
    fee: Decimal
    at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "quantity", to_positive(self.quantity, field="fill quantity"))
        object.__setattr__(self, "price", to_positive(self.price, field="fill price"))
        object.__setattr__(self, "fee", to_decimal(self.fee, field="fill fee"))


def _side_levels(
    levels: Iterable[tuple[object, object]], name: str, better: int
) -> tuple[Level, ...]:
    parsed: list[Level] = []
    for index, (price, size) in enumerate(levels, start=1):
        level = (
            to_positive(price, field=f"{name} level {index} price"),
            to_positive(size, field=f"{name} level {index} quantity"),
        )
        if parsed and (parsed[-1][0] - level[0]) * better <= 0:
            raise DomainError(
                f"{name}s must be sorted best first with one level per price; level {index} "
                "breaks the order"
            )
        parsed.append(level)
    return tuple(parsed)


@dataclass(frozen=True, slots=True)
class BookLevels:
    """The displayed L2 book at one moment: bids highest first, asks lowest first, as
    (price, quantity) in Decimals."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "bids", _side_levels(self.bids, "bid", better=1))
        object.__setattr__(self, "asks", _side_levels(self.asks, "ask", better=-1))
        if self.bids and self.asks and self.bids[0][0] >= self.asks[0][0]:
            raise DomainError(
                f"crossed book: best bid {self.bids[0][0]} is at or above best ask "
                f"{self.asks[0][0]}"
            )

    @property
    def mid(self) -> Decimal | None:
        """Halfway between the best bid and the best ask; None with a side empty."""
        if not self.bids or not self.asks:
            return None
        with exact():
            return (self.bids[0][0] + self.asks[0][0]) / 2

    def top(self, levels: int) -> BookLevels:
        """The best ``levels`` levels of each side."""
        return BookLevels(bids=self.bids[:levels], asks=self.asks[:levels])

    def walk(self, side: Side, quantity: Decimal) -> tuple[Level, ...]:
        """What a market order of ``side`` for ``quantity`` takes, level by level (less than
        ``quantity`` in all when the book is thinner)."""
        taken: list[Level] = []
        left = quantity
        with exact():
            for price, size in self.asks if side is Side.BUY else self.bids:
                if left <= 0:
                    break
                take = min(size, left)
                taken.append((price, take))
                left -= take
        return tuple(taken)


@dataclass(frozen=True, slots=True)
class ArrivalBook:
    """The book a parent order met when it was placed, as a parent stores it: the timestamp
    of the snapshot and its levels as decimal strings, best first."""

    at: datetime
    book: BookLevels

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "bids": [[f"{price:f}", f"{size:f}"] for price, size in self.book.bids],
            "asks": [[f"{price:f}", f"{size:f}"] for price, size in self.book.asks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArrivalBook:
        levels = {
            side: tuple((Decimal(price), Decimal(size)) for price, size in data[side])
            for side in ("bids", "asks")
        }
        return cls(
            at=datetime.fromisoformat(data["at"]),
            book=BookLevels(bids=levels["bids"], asks=levels["asks"]),
        )


@dataclass(frozen=True, slots=True)
class MarketBaseline:
    """A market order for the parent's quantity at arrival, walked through the book."""

    filled_quantity: Decimal
    average_price: Decimal | None
    complete: bool  # the displayed book held the whole quantity
    fees: Decimal
    cost: Decimal | None  # money, positive = worse than the arrival mid; None unless complete
    cost_bps: Decimal | None
    slippage_bps: Decimal | None  # the average price against the arrival mid; None unless complete


def market_baseline(
    *,
    side: Side,
    quantity: Decimal,
    arrival_mid: Decimal,
    book: BookLevels,
    taker_fee_rate: Decimal = ZERO,
) -> MarketBaseline:
    taken = book.walk(side, quantity)
    with exact():
        filled = sum((size for _, size in taken), ZERO)
        notional = sum((price * size for price, size in taken), ZERO)
        fees = notional * taker_fee_rate
        complete = filled == quantity
        average = quantize(notional / filled) if filled else None
        cost = side.sign * (notional - filled * arrival_mid) + fees if complete else None
        cost_bps = None if cost is None else _bps(cost / (quantity * arrival_mid))
        slippage_bps = (
            _bps(side.sign * (notional / filled - arrival_mid) / arrival_mid) if complete else None
        )
    return MarketBaseline(
        filled_quantity=filled,
        average_price=average,
        complete=complete,
        fees=quantize(fees),
        cost=None if cost is None else quantize(cost),
        cost_bps=cost_bps,
        slippage_bps=slippage_bps,
    )


@dataclass(frozen=True, slots=True)
class ExecutionQuality:
    """How one parent order was executed; see the module's docstring for the formulas."""

    side: Side
    quantity: Decimal
    arrival_mid: Decimal
    final_mid: Decimal | None
    filled_quantity: Decimal
    fill_rate: Decimal
    average_price: Decimal | None
    executed_notional: Decimal  # sum of quantity x price filled
    slippage_bps: Decimal | None  # None without fills
    fees: Decimal
    fees_bps: Decimal | None  # None without fills
    execution_cost: Decimal
    opportunity_cost: Decimal | None  # None: part unfilled and no final mid to mark it at
    shortfall: Decimal | None
    shortfall_bps: Decimal | None
    signal_to_first_fill: timedelta | None
    signal_to_complete: timedelta | None
    baseline: MarketBaseline | None  # None: no book at arrival to walk
    improvement_bps: Decimal | None

    @property
    def arrival_notional(self) -> Decimal:
        """The parent's size in money at arrival: quantity x arrival mid."""
        with exact():
            return self.quantity * self.arrival_mid


def execution_quality(
    *,
    side: Side,
    quantity: Decimal,
    arrival_mid: Decimal,
    fills: Sequence[QualityFill],
    mids: Sequence[tuple[datetime, Decimal]] = (),
    signal_at: datetime | None = None,
    book: BookLevels | None = None,
    taker_fee_rate: Decimal = ZERO,
) -> ExecutionQuality:
    """The quality of a parent's execution.

    ``arrival_mid`` is the mid when the parent started; ``mids`` the market's mids over the
    parent's life (the latest is the final mid that marks an unfilled rest); ``signal_at`` the
    time of the decision that caused the parent; ``book`` the L2 book at arrival, for the
    market-order baseline, charged ``taker_fee_rate`` on its notional.
    """
    quantity = to_positive(quantity, field="quantity")
    arrival_mid = to_positive(arrival_mid, field="arrival mid")
    final_mid = max(mids, key=lambda point: point[0])[1] if mids else None
    ordered = sorted(fills, key=lambda fill: fill.at)
    sign = side.sign
    with exact():
        filled = sum((fill.quantity for fill in ordered), ZERO)
        if filled > quantity:
            raise DomainError(f"fills add up to {filled}, above the parent's quantity {quantity}")
        notional = sum((fill.quantity * fill.price for fill in ordered), ZERO)
        fees = sum((fill.fee for fill in ordered), ZERO)
        execution_cost = sign * (notional - filled * arrival_mid)
        unfilled = quantity - filled
        opportunity_cost: Decimal | None = ZERO
        if unfilled:
            opportunity_cost = (
                None if final_mid is None else sign * unfilled * (final_mid - arrival_mid)
            )
        shortfall = None if opportunity_cost is None else execution_cost + fees + opportunity_cost
        shortfall_bps = None if shortfall is None else _bps(shortfall / (quantity * arrival_mid))
        average = notional / filled if filled else None
        slippage_bps = (
            None if average is None else _bps(sign * (average - arrival_mid) / arrival_mid)
        )
        fees_bps = _bps(fees / notional) if filled else None
        fill_rate = filled / quantity
    baseline = None
    improvement_bps = None
    if book is not None:
        baseline = market_baseline(
            side=side,
            quantity=quantity,
            arrival_mid=arrival_mid,
            book=book,
            taker_fee_rate=taker_fee_rate,
        )
        if baseline.cost_bps is not None and shortfall_bps is not None:
            improvement_bps = baseline.cost_bps - shortfall_bps
    return ExecutionQuality(
        side=side,
        quantity=quantity,
        arrival_mid=arrival_mid,
        final_mid=final_mid,
        filled_quantity=filled,
        fill_rate=quantize(fill_rate),
        average_price=None if average is None else quantize(average),
        executed_notional=quantize(notional),
        slippage_bps=slippage_bps,
        fees=quantize(fees),
        fees_bps=fees_bps,
        execution_cost=quantize(execution_cost),
        opportunity_cost=None if opportunity_cost is None else quantize(opportunity_cost),
        shortfall=None if shortfall is None else quantize(shortfall),
        shortfall_bps=shortfall_bps,
        signal_to_first_fill=_since(signal_at, ordered[0].at if ordered else None),
        signal_to_complete=_since(signal_at, _completed_at(ordered, quantity)),
        baseline=baseline,
        improvement_bps=improvement_bps,
    )


def _completed_at(fills: Sequence[QualityFill], quantity: Decimal) -> datetime | None:
    """When the fills (in time order) first added up to ``quantity``."""
    total = ZERO
    with exact():
        for fill in fills:
            total += fill.quantity
            if total == quantity:
                return fill.at
    return None


def _since(start: datetime | None, end: datetime | None) -> timedelta | None:
    return None if start is None or end is None else end - start


# -- aggregation ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QualitySummary:
    """Parents of one group (a strategy, an algorithm). Means are over the parents where the
    figure is known; weighted means weigh each parent by its size at arrival, in money:
    slippage by filled quantity x arrival mid, shortfall and improvement by quantity x arrival
    mid. (Money rather than raw quantity: a group may span instruments, whose quantities do
    not add up; within one instrument the two weightings differ only by the moves of the mid.)

    The comparison with the market-order baseline is over the parents that have one
    (``baseline_count``): ``baseline_cost_bps`` and ``baseline_slippage_bps`` are weighted
    like the shortfall, ``weighted_improvement_bps`` is their baseline cost less their
    shortfall, and ``improvement_pct`` that improvement as a percentage of the baseline cost
    (25 means the algorithms cost a quarter less than crossing the book at once). All four are
    None when no parent of the group has a baseline.
    """

    count: int
    filled_count: int  # parents with at least one fill
    baseline_count: int  # parents with an improvement over the market baseline
    arrival_notional: Decimal  # sum of quantity x arrival mid
    fill_rate: Decimal  # filled quantity x arrival mid over arrival_notional
    mean_fill_rate: Decimal
    fees: Decimal
    fees_bps: Decimal | None  # of the notional executed; None when nothing was
    mean_slippage_bps: Decimal | None
    median_slippage_bps: Decimal | None
    weighted_slippage_bps: Decimal | None
    mean_shortfall_bps: Decimal | None
    weighted_shortfall_bps: Decimal | None
    baseline_cost_bps: Decimal | None
    baseline_slippage_bps: Decimal | None
    mean_improvement_bps: Decimal | None
    weighted_improvement_bps: Decimal | None
    improvement_pct: Decimal | None
    # Over the parents where the time is known (a signal time, a first fill, completion).
    median_signal_to_first_fill: timedelta | None
    mean_signal_to_first_fill: timedelta | None
    median_signal_to_complete: timedelta | None
    mean_signal_to_complete: timedelta | None


K = TypeVar("K", bound=Hashable)


def summarize_quality(items: Iterable[tuple[K, ExecutionQuality]]) -> dict[K, QualitySummary]:
    """One summary per key (in the order keys first appear), e.g. keyed by strategy id or by
    algorithm."""
    groups: dict[K, list[ExecutionQuality]] = {}
    for key, quality in items:
        groups.setdefault(key, []).append(quality)
    return {key: _summary(group) for key, group in groups.items()}


def _summary(group: Sequence[ExecutionQuality]) -> QualitySummary:
    compared = [q for q in group if q.improvement_bps is not None]
    with exact():
        slippage = [
            (q.slippage_bps, q.filled_quantity * q.arrival_mid)
            for q in group
            if q.slippage_bps is not None
        ]
        shortfall = [
            (q.shortfall_bps, q.arrival_notional) for q in group if q.shortfall_bps is not None
        ]
        improvement = [(_known(q.improvement_bps), q.arrival_notional) for q in compared]
        baseline_cost = [(_known(_baseline(q).cost_bps), q.arrival_notional) for q in compared]
        arrival_notional = sum((q.arrival_notional for q in group), ZERO)
        filled_notional = sum((q.filled_quantity * q.arrival_mid for q in group), ZERO)
        executed = sum((q.executed_notional for q in group), ZERO)
        fees = sum((q.fees for q in group), ZERO)
        mean_fill_rate = quantize(sum((q.fill_rate for q in group), ZERO) / len(group))
        median = statistics.median(v for v, _ in slippage) if slippage else None
        improvement_total = sum((v * w for v, w in improvement), ZERO)
        baseline_total = sum((v * w for v, w in baseline_cost), ZERO)
        improvement_pct = (
            _round_bps(improvement_total / baseline_total * 100) if baseline_total else None
        )
    return QualitySummary(
        count=len(group),
        filled_count=len(slippage),
        baseline_count=len(compared),
        arrival_notional=quantize(arrival_notional),
        fill_rate=quantize(filled_notional / arrival_notional),
        mean_fill_rate=mean_fill_rate,
        fees=quantize(fees),
        fees_bps=_bps(fees / executed) if executed else None,
        mean_slippage_bps=_mean([(v, Decimal(1)) for v, _ in slippage]),
        median_slippage_bps=None if median is None else _round_bps(median),
        weighted_slippage_bps=_mean(slippage),
        mean_shortfall_bps=_mean([(v, Decimal(1)) for v, _ in shortfall]),
        weighted_shortfall_bps=_mean(shortfall),
        baseline_cost_bps=_mean(baseline_cost),
        baseline_slippage_bps=_mean(
            [(_known(_baseline(q).slippage_bps), q.arrival_notional) for q in compared]
        ),
        mean_improvement_bps=_mean([(v, Decimal(1)) for v, _ in improvement]),
        weighted_improvement_bps=_mean(improvement),
        improvement_pct=improvement_pct,
        median_signal_to_first_fill=_median_time(q.signal_to_first_fill for q in group),
        mean_signal_to_first_fill=_mean_time(q.signal_to_first_fill for q in group),
        median_signal_to_complete=_median_time(q.signal_to_complete for q in group),
        mean_signal_to_complete=_mean_time(q.signal_to_complete for q in group),
    )


def _known(value: Decimal | None) -> Decimal:
    assert value is not None  # the caller kept only the parents that have it
    return value


def _baseline(quality: ExecutionQuality) -> MarketBaseline:
    assert quality.baseline is not None  # an improvement implies a baseline
    return quality.baseline


def _median_time(times: Iterable[timedelta | None]) -> timedelta | None:
    known = sorted(time for time in times if time is not None)
    if not known:
        return None
    middle = len(known) // 2
    return known[middle] if len(known) % 2 else (known[middle - 1] + known[middle]) / 2


def _mean_time(times: Iterable[timedelta | None]) -> timedelta | None:
    known = [time for time in times if time is not None]
    return sum(known, timedelta(0)) / len(known) if known else None


def _round_bps(value: Decimal) -> Decimal:
    with exact():
        return value.quantize(_BPS_QUANTUM)


def _mean(values: Sequence[tuple[Decimal, Decimal]]) -> Decimal | None:
    """The mean of the values (bps) weighted by the weights; None without values."""
    with exact():
        total = sum((weight for _, weight in values), ZERO)
        if not total:
            return None
        return _round_bps(sum((value * weight for value, weight in values), ZERO) / total)
