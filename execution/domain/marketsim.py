"""An L2 order-book and trade-flow simulator that follows a real candle series.

No package ships L2 books or trades, so instruments with candles only get a synthetic book
and tape from a published model, steered so that its mid price follows the candles.

Model
-----
The book is the zero-intelligence model of Cont, Stoikov & Talreja, "A stochastic model for
order book dynamics", Operations Research 58(3), 2010 (CST). Prices are integer ticks; each
side is a row of queues (in lots) at consecutive ticks from its touch. Orders are independent
Poisson flows:

- limit orders arrive at distance i >= 1 ticks from the *opposite* touch at rate
  ``limit_rate * i ** -limit_rate_decay`` (CST's power law k / i^alpha); i smaller than the
  spread puts the order inside the spread, and the one nearest the opposite touch becomes
  the new touch. Every limit order is ``limit_order_size`` mean market orders (CST: all
  orders one unit);
- every resting limit order is cancelled at rate ``cancel_rate`` (CST: a rate per distance;
  one rate for all distances is a simplification);
- market orders take the opposite side from its touch outwards, walking levels while they
  are larger than the touch. A queue that empties moves the touch: in CST this is how
  prices move.

CST's market orders are a Poisson flow. Here their times are a Hawkes process with an
exponential kernel (each order triggers ``hawkes_branching`` more on average), the
order-flow model of Bacry, Mastromatteo & Muzy, "Hawkes processes in finance", Market
Microstructure and Liquidity 1(1), 2015, simulated exactly in its cluster form (Hawkes &
Oakes 1974). A triggered order keeps its trigger's side with probability
``side_persistence`` (a parent order split into pieces), else either side evenly; this gives
the runs of same-side trades real tapes show. Sizes have a Pareto tail of exponent
``order_size_tail`` (Gopikrishnan et al. 2000 measure about 1.5 for traded volumes).

All rates are per market order, not per second (CST's parameters as ratios to their
market-order rate mu): in a bar whose volume brings m market orders per second, limit orders
arrive at ``limit_rate * m`` per second. A busy bar has a busier book, not a thinner one. The
mean market order is the series' median bar volume / ``orders_per_bar``, so the defaults
suit any instrument and lot size. The default rates are of the order of CST's fit to a Tokyo
stock (k about 1.9 and cancellations a little below mu, relative to mu; alpha about 0.5).
With them the spread is one tick nearly all the time: a large-tick book, whatever the tick.

Calibration to the candles
--------------------------
Each bar (open time t; its length T is the smallest spacing of the candles unless given)
gets ``substeps`` book snapshots, at t + j * T / substeps (whole microseconds).

1. Mid target. The mid starts at the open, visits the bar's extremes at two random distinct
   snapshots inside the bar, and is at the close on the bar's last snapshot. The extreme
   nearer the open comes first (low then high in an up bar, high then low in a down bar: the
   shorter path). Between these points the target is a straight line plus a Brownian bridge
   pinned at both ends (standard deviation ``path_noise`` * (high - low) / sqrt(substeps) per
   step), clipped to [low, high].
2. Flows. Between snapshots the CST flows act for one sub-step: cancellations and limit
   orders at the resting levels in closed form (an M/M/infinity queue: surviving orders
   binomial, surviving arrivals Poisson), then limit orders inside the spread.
3. Re-quote. The whole book then moves by the whole number of ticks that brings its mid
   nearest the target, keeping the queues and spread the flows made. So every snapshot's mid
   is within half a tick of the target: of the open on a bar's first snapshot, of the close
   on its last, of the high and the low where the target visits them, and never more than
   half a tick outside [low, high].
4. Trades. The market orders whose times fall in a bar share exactly its volume, rounded to
   lots. Hawkes immigrants of a bar are Poisson with mean (volume / mean market order) *
   (1 - ``hawkes_branching``), so a bar expects volume / mean market order orders; its
   volume is then split among the orders it got in proportion to their Pareto sizes (at
   least one lot each, odd lots to the largest remainders). A bar with volume and no order
   gets one; a bar with fewer lots than orders keeps as many orders as it has lots. An order
   arriving between snapshots j and j + 1 trades against snapshot j's book, as the orders
   before it in that interval left it. A new (immigrant) order buys with probability
   (1 + ``flow_tilt`` * lean) / 2, lean being the target's move over the interval in units
   of the bar's root mean square move, capped at 1: linear impact read backwards, so trade
   flow leans with the price.

What it does not reproduce
--------------------------
- Price formation. The mid is the target path, not a result of the flows: the flows move
  the touch between snapshots (queue depletion, orders inside the spread), and the re-quote
  moves the whole book, as dealers re-quote a spot FX market. In a thin order-driven market
  prices move through trades, which this does not model. Net trade flow explains a bar's
  move only loosely (on EURUSD hours, a correlation of about 0.2 with the defaults).
- The order of a bar's extremes and its intrabar volume profile: both are guesses (shorter
  path; clusters spread evenly over the bar), so real ticks would disagree bar by bar.
- Continuity of the book across bars. Each bar starts from the model's stationary book (a
  one-tick spread, queues drawn from their stationary law) around its open, so the bars of a
  chunk run as one vectorised pass. Queues forget their start within a few
  1 / ``cancel_rate`` market orders, and the mid already jumps where an open differs from the
  previous close. Hawkes clusters do carry across bars and chunks.
- Interleaving inside a sub-step: limit orders and cancellations act at its start, market
  orders after, against that book.
- Trade prices are at or through the touch, so they can lie up to half a spread, plus any
  walk, beyond the candle's high or low: the candles are read as mid-price candles.
- Depth beyond the tracked ``2 * levels + 10`` ticks per side: a market order that empties
  them trades its remainder one tick further (CST's assumption of depth beyond their
  window), and a spread wider than the tracked ticks gets a bid at that distance from the
  ask. The shown levels are never fewer than ``levels``: missing ones get one limit order at
  the deep end.

Output
------
``simulate_events`` yields ``BookSnapshot`` and ``Trade`` events in time order: a snapshot at
each sub-step (``levels`` non-empty levels per side, bids highest first, asks lowest first,
prices on the tick grid and sizes on the lot grid as Decimal, never crossed), then the trades
of the interval after it (strictly after it and before the next snapshot; one trade per market
order and price level it took). A snapshot's ``bids``/``asks``/``at`` are what
``execution.services.marketdata.paper_book_update`` takes. ``simulate_bar_flow`` gives the
same market as per-bar numpy columns for features (``BarFlow``). Both are deterministic: the
same seed, candles, grid and config give the same output (numpy's PCG64, one stream per fixed
chunk of bars).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from execution.domain.errors import DomainError
from execution.domain.urgency import (
    InvalidConfig,
    about,
    config_from_dict,
    config_schema,
    parse_settings,
)
from execution.domain.values import Side, exact, to_decimal, to_positive

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Level = tuple[Decimal, Decimal]  # (price, size), as paper_book_update takes it

# Snapshots simulated in one vectorised pass: bounds memory (32 bytes per level and snapshot)
# and the wait for the first event. Fixed, because a chunk's random stream depends on its bars.
_CHUNK_SNAPSHOTS = 1 << 16
_MAX_BAR_LOTS = 1 << 40  # keeps cumulative sizes well inside int64 in the book walk
_SENTINEL = 1 << 41  # the depth of the hidden level beyond the tracked ones
_ROW_STRIDE = 1 << 42  # separates the rows of the flattened book for one searchsorted
_MIN_STEP_NS = 1_000_000  # a sub-step of at least 1 ms
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_GENERATIONS = 10_000  # a Hawkes cluster with branching < 1 dies out long before this


class InvalidCandle(DomainError):
    """A candle is malformed; ``row`` is its index in the series, ``field`` the bad value."""

    def __init__(self, row: int, field: str, message: str) -> None:
        super().__init__(message)
        self.row = row
        self.field = field


@dataclass(frozen=True)
class MarketSimConfig:
    """Parameters of the simulated order flow (rates are per market order, see the module
    docstring) and of the output."""

    levels: int = field(
        default=10, metadata=about("price levels per side in each snapshot", minimum=1, maximum=100)
    )
    substeps: int = field(
        default=60,
        metadata=about(
            "book snapshots per bar; the mid is steered at each", minimum=4, maximum=100_000
        ),
    )
    orders_per_bar: float = field(
        default=100.0,
        metadata=about(
            "expected market orders in a bar of the series' median volume (a bar's expected "
            "count is in proportion to its volume)",
            minimum=1,
        ),
    )
    order_size_tail: float = field(
        default=1.5,
        metadata=about(
            "Pareto tail exponent of market order sizes (smaller: heavier tail)",
            minimum=1.05,
            maximum=10,
        ),
    )
    limit_rate: float = field(
        default=2.0,
        metadata=about(
            "limit orders per market order arriving one tick from the opposite touch (CST k/mu)",
            positive=True,
        ),
    )
    limit_rate_decay: float = field(
        default=0.5,
        metadata=about(
            "power-law decay of limit arrivals with distance from the opposite touch (CST alpha)",
            minimum=0,
            maximum=5,
        ),
    )
    cancel_rate: float = field(
        default=0.75,
        metadata=about(
            "cancellations of each resting limit order per market order (CST theta/mu)",
            positive=True,
        ),
    )
    limit_order_size: float = field(
        default=2.0,
        metadata=about(
            "the size of every limit order, in mean market orders (at least one lot)",
            positive=True,
        ),
    )
    hawkes_branching: float = field(
        default=0.6,
        metadata=about(
            "market orders each market order triggers on average (below 1: stationary)",
            minimum=0,
            maximum=0.95,
        ),
    )
    hawkes_memory: float = field(
        default=0.25,
        metadata=about(
            "mean delay of a triggered market order, in mean gaps between the bar's orders",
            positive=True,
        ),
    )
    side_persistence: float = field(
        default=0.7,
        metadata=about(
            "probability that a triggered market order has its trigger's side",
            minimum=0,
            maximum=1,
        ),
    )
    flow_tilt: float = field(
        default=0.5,
        metadata=about(
            "how far new market orders lean with the mid's move over their interval: P(buy) = "
            "(1 + flow_tilt * move / the bar's root mean square move, capped at 1) / 2",
            minimum=0,
            maximum=1,
        ),
    )
    path_noise: float = field(
        default=0.3,
        metadata=about(
            "Brownian bridge noise of the mid target, in bar ranges per sqrt(substeps)",
            minimum=0,
            maximum=10,
        ),
    )
    large_order_size: float = field(
        default=5.0,
        metadata=about(
            "a market order of at least this many mean market orders is large in BarFlow",
            positive=True,
        ),
    )

    def __post_init__(self) -> None:
        parse_settings(self)

    @property
    def tracked_levels(self) -> int:
        """Ticks per side the book keeps (more than it shows, so a walk rarely runs out)."""
        return 2 * self.levels + 10

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> MarketSimConfig:
        return config_from_dict(cls, data)

    @classmethod
    def schema(cls) -> dict[str, Any]:
        return config_schema(cls)


@dataclass(frozen=True, slots=True)
class Candle:
    """One bar of the series to follow; ``at`` is its open time (time zone aware). Prices are
    read as mid prices; ``volume`` is in the instrument's quantity (base units)."""

    at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """The L2 book at one moment: ``levels`` (price, size) pairs per side, best first."""

    at: datetime
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @property
    def mid(self) -> Decimal:
        with exact():
            return (self.bids[0][0] + self.asks[0][0]) / 2


@dataclass(frozen=True, slots=True)
class Trade:
    """One print: a market order took ``size`` at ``price``; ``aggressor`` is its side."""

    at: datetime
    price: Decimal
    size: Decimal
    aggressor: Side


MarketEvent = BookSnapshot | Trade


@dataclass(frozen=True)
class BarFlow:
    """Per-bar trade flow and the book at each bar's last snapshot, for feature computation.

    Times are int64 nanoseconds since the Unix epoch (UTC); everything else is float64.
    Volumes are in the instrument's quantity (lots * lot size); an order's volume counts in
    the bar its time falls in. Large volumes count market orders of at least
    ``large_order_lots`` lots (whole orders, however many levels they walked). The book
    arrays are [bars, levels], best level first: the snapshot at ``close_time_ns``, whose mid
    is the bar's close to within half a tick.
    """

    open_time_ns: IntArray
    close_time_ns: IntArray
    buy_volume: FloatArray
    sell_volume: FloatArray
    buy_orders: FloatArray
    sell_orders: FloatArray
    trade_count: FloatArray
    large_buy_volume: FloatArray
    large_sell_volume: FloatArray
    bid_price: FloatArray
    bid_size: FloatArray
    ask_price: FloatArray
    ask_size: FloatArray
    mean_order_size: float
    large_order_min_size: float


def simulate_events(
    candles: Sequence[Candle],
    *,
    tick_size: Decimal,
    lot_size: Decimal,
    seed: int,
    config: MarketSimConfig | None = None,
    bar_duration: timedelta | None = None,
) -> Iterator[MarketEvent]:
    """Book snapshots and trades in time order that follow ``candles`` (see the module
    docstring). Inputs are checked before the first event; bad ones raise ``InvalidCandle``,
    ``InvalidConfig`` or ``DomainError`` naming the value."""
    market = _prepare(candles, tick_size, lot_size, seed, config, bar_duration)
    return _events(market)


def simulate_bar_flow(
    candles: Sequence[Candle],
    *,
    tick_size: Decimal,
    lot_size: Decimal,
    seed: int,
    config: MarketSimConfig | None = None,
    bar_duration: timedelta | None = None,
) -> BarFlow:
    """The per-bar columns of the same simulation ``simulate_events`` streams (same seed and
    inputs, same market)."""
    market = _prepare(candles, tick_size, lot_size, seed, config, bar_duration)
    levels = market.config.levels
    bars = len(market.open)
    columns = {name: np.zeros(bars) for name in _FLOW_COLUMNS}
    books = {name: np.zeros((bars, levels)) for name in ("bid_price", "ask_price")}
    books |= {name: np.zeros((bars, levels)) for name in ("bid_size", "ask_size")}
    close_time = np.zeros(bars, dtype=np.int64)
    large = market.large_lots
    for chunk in _simulate(market):
        span = slice(chunk.first_bar, chunk.first_bar + chunk.bars)
        bar, size, buy = chunk.order_bar, chunk.order_lots, chunk.order_buy
        sell = ~buy
        is_large = size >= large
        for name, mask, weights in (
            ("buy_volume", buy, size),
            ("sell_volume", sell, size),
            ("buy_orders", buy, None),
            ("sell_orders", sell, None),
            ("large_buy_volume", buy & is_large, size),
            ("large_sell_volume", sell & is_large, size),
        ):
            picked = None if weights is None else weights[mask]
            counted = np.bincount(bar[mask], weights=picked, minlength=chunk.bars)
            columns[name][span] = counted if weights is None else _floats(counted, market.lot)
        columns["trade_count"][span] = np.bincount(chunk.trade_bar, minlength=chunk.bars)
        close_time[span] = chunk.snapshot_ns[:, -1]
        books["bid_price"][span] = _floats(chunk.bid_ticks[:, -1], market.tick)
        books["ask_price"][span] = _floats(chunk.ask_ticks[:, -1], market.tick)
        books["bid_size"][span] = _floats(chunk.bid_lots[:, -1], market.lot)
        books["ask_size"][span] = _floats(chunk.ask_lots[:, -1], market.lot)
    return BarFlow(
        open_time_ns=market.open_ns.copy(),
        close_time_ns=close_time,
        **columns,
        **books,
        mean_order_size=market.order_lots * float(market.lot),
        large_order_min_size=float(large * market.lot),
    )


def _floats(counts: npt.NDArray[Any], step: Decimal) -> FloatArray:
    """Whole ticks or lots as the floats nearest their decimal prices or sizes."""
    exponent = step.normalize().as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    floats: FloatArray = np.round(counts * float(step), places)
    return floats


_FLOW_COLUMNS = (
    "buy_volume",
    "sell_volume",
    "buy_orders",
    "sell_orders",
    "trade_count",
    "large_buy_volume",
    "large_sell_volume",
)


# -- input -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Market:
    """Validated inputs in integer ticks, lots and nanoseconds."""

    open_ns: IntArray
    open: IntArray
    high: IntArray
    low: IntArray
    close: IntArray
    volume: IntArray
    bar_ns: int
    step_ns: int
    order_lots: float  # the mean market order
    limit_lots: int
    large_lots: int
    tick: Decimal
    lot: Decimal
    config: MarketSimConfig
    seed: int


def _prepare(
    candles: Sequence[Candle],
    tick_size: Decimal,
    lot_size: Decimal,
    seed: int,
    config: MarketSimConfig | None,
    bar_duration: timedelta | None,
) -> _Market:
    config = MarketSimConfig() if config is None else config
    if not isinstance(config, MarketSimConfig):
        raise DomainError(f"config must be a MarketSimConfig, got {type(config).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DomainError(f"seed must be a whole number >= 0, got {seed!r}")
    tick = to_positive(tick_size, field="tick_size")
    lot = to_positive(lot_size, field="lot_size")
    if not isinstance(candles, Sequence) or not candles:
        raise DomainError("candles must be a non-empty sequence of Candle")
    rows = [_candle_row(row, candle, tick, lot, config) for row, candle in enumerate(candles)]
    times = [candle.at for candle in candles]
    bar = _bar_duration(times, bar_duration)
    bar_ns = (bar // timedelta(microseconds=1)) * 1000
    step_ns = bar_ns // config.substeps // 1000 * 1000  # whole microseconds, as datetimes
    if step_ns < _MIN_STEP_NS:
        raise InvalidConfig(
            "substeps",
            f"substeps {config.substeps} cut a {bar} bar into steps shorter than 1 ms",
        )
    ticks = np.array([row[:4] for row in rows], dtype=np.int64)
    volume = np.array([row[4] for row in rows], dtype=np.int64)
    traded = volume[volume > 0]  # bars without volume are closed markets
    order_lots = max(1.0, float(np.median(traded)) / config.orders_per_bar) if len(traded) else 1.0
    return _Market(
        open_ns=np.array(
            [(at - _EPOCH) // timedelta(microseconds=1) * 1000 for at in times], dtype=np.int64
        ),
        open=ticks[:, 0],
        high=ticks[:, 1],
        low=ticks[:, 2],
        close=ticks[:, 3],
        volume=volume,
        bar_ns=bar_ns,
        step_ns=step_ns,
        order_lots=order_lots,
        limit_lots=max(1, round(config.limit_order_size * order_lots)),
        large_lots=max(1, math.ceil(config.large_order_size * order_lots)),
        tick=tick,
        lot=lot,
        config=config,
        seed=seed,
    )


def _candle_row(
    row: int, candle: object, tick: Decimal, lot: Decimal, config: MarketSimConfig
) -> tuple[int, int, int, int, int]:
    """A candle as (open, high, low, close) ticks and volume lots, rounded to the nearest."""
    if not isinstance(candle, Candle):
        raise InvalidCandle(row, "candle", f"candles[{row}] is a {type(candle).__name__}")
    at = candle.at
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise InvalidCandle(row, "at", f"candles[{row}] at: {at!r} is not a time-zone-aware time")
    name = f"candles[{row}] ({at.isoformat()})"

    def parse(attribute: str) -> Decimal:
        try:
            return to_positive(getattr(candle, attribute), field=f"{name} {attribute}")
        except DomainError as error:
            raise InvalidCandle(row, attribute, str(error)) from None

    open_, high, low, close = (parse(attribute) for attribute in ("open", "high", "low", "close"))
    for attribute, value, bad, rule in (
        ("high", high, high < max(open_, close), "below the open or close"),
        ("low", low, low > min(open_, close), "above the open or close"),
    ):
        if bad:
            raise InvalidCandle(row, attribute, f"{name}: {attribute} {value} is {rule}")
    try:
        volume = to_decimal(candle.volume, field=f"{name} volume")
    except DomainError as error:
        raise InvalidCandle(row, "volume", str(error)) from None
    if volume < 0:
        raise InvalidCandle(row, "volume", f"{name}: volume {volume} is negative")
    with exact():
        ticks = tuple(
            int((price / tick).to_integral_value(ROUND_HALF_EVEN))
            for price in (open_, high, low, close)
        )
        lots = int((volume / lot).to_integral_value(ROUND_HALF_EVEN))
    floor = 4 * config.tracked_levels  # the deepest bid a walk and a wide spread can reach
    if ticks[2] <= floor:
        raise InvalidCandle(
            row,
            "low",
            f"{name}: low {low} is only {ticks[2]} ticks of {tick} above zero; the book's "
            f"bids need more than {floor}: use a smaller tick_size or fewer levels",
        )
    if lots > _MAX_BAR_LOTS:
        raise InvalidCandle(
            row, "volume", f"{name}: volume {volume} is more than 2**40 lots of {lot}"
        )
    return ticks[0], ticks[1], ticks[2], ticks[3], lots


def _bar_duration(times: list[datetime], bar_duration: timedelta | None) -> timedelta:
    gaps = [later - earlier for earlier, later in pairwise(times)]
    for row, gap in enumerate(gaps, start=1):
        if gap <= timedelta(0):
            raise InvalidCandle(
                row,
                "at",
                f"candles[{row}] at {times[row].isoformat()} is not after candles[{row - 1}] "
                f"at {times[row - 1].isoformat()}",
            )
    if bar_duration is None:
        if not gaps:
            raise DomainError("bar_duration: one candle has no spacing to infer it from")
        return min(gaps)  # the bar length; larger gaps are closed markets (weekends)
    if not isinstance(bar_duration, timedelta) or bar_duration <= timedelta(0):
        raise DomainError(f"bar_duration must be a positive timedelta, got {bar_duration!r}")
    for row, gap in enumerate(gaps, start=1):
        if gap < bar_duration:
            raise InvalidCandle(
                row,
                "at",
                f"candles[{row}] at {times[row].isoformat()} starts before candles[{row - 1}]'s "
                f"{bar_duration} bar ends",
            )
    return bar_duration


# -- simulation ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Chunk:
    """The simulated market of consecutive bars, in ticks, lots and nanoseconds.

    Snapshot arrays are [bars, substeps] or [bars, substeps, levels]; orders and trades are
    flat, trades sorted by (bar, step, time) and tagged with the snapshot they traded against.
    """

    first_bar: int
    bars: int
    snapshot_ns: IntArray
    bid_ticks: IntArray
    bid_lots: IntArray
    ask_ticks: IntArray
    ask_lots: IntArray
    order_bar: IntArray
    order_lots: IntArray
    order_buy: BoolArray
    trade_bar: IntArray
    trade_step: IntArray
    trade_ns: IntArray
    trade_ticks: IntArray
    trade_lots: IntArray
    trade_buy: BoolArray


@dataclass(frozen=True, slots=True)
class _Orders:
    """Market orders of a chunk, sorted by (step, bar, side, time): one step is a slice."""

    bar: IntArray
    step: IntArray
    ns: IntArray
    lots: IntArray
    buy: BoolArray


def _simulate(market: _Market) -> Iterator[_Chunk]:
    bars = len(market.open)
    per_chunk = max(1, _CHUNK_SNAPSHOTS // market.config.substeps)
    pending = _Pending.none()
    for index, first in enumerate(range(0, bars, per_chunk)):
        span = slice(first, min(first + per_chunk, bars))
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(market.seed, spawn_key=(index,)))
        )
        targets = _mid_targets(rng, market, span)
        orders, pending = _market_orders(rng, market, span, targets, pending)
        yield _run_book(rng, market, span, targets, orders)


def _mid_targets(rng: np.random.Generator, market: _Market, span: slice) -> FloatArray:
    """The steered mid in ticks at every snapshot, [bars, substeps] (module docstring, 1)."""
    open_, high = market.open[span].astype(float), market.high[span].astype(float)
    low, close = market.low[span].astype(float), market.close[span].astype(float)
    bars, steps = len(open_), market.config.substeps
    first = rng.integers(1, steps - 1, size=bars)
    second = rng.integers(1, steps - 2, size=bars)
    second = second + (second >= first)  # distinct from first, uniform over the others
    k1, k2 = np.minimum(first, second)[:, None], np.maximum(first, second)[:, None]
    low_first = (close >= open_)[:, None]
    v1 = np.where(low_first, low[:, None], high[:, None])
    v2 = np.where(low_first, high[:, None], low[:, None])
    k = np.arange(steps)[None, :]
    start_k = np.where(k < k1, 0, np.where(k < k2, k1, k2))
    end_k = np.where(k < k1, k1, np.where(k < k2, k2, steps - 1))
    start_v = np.where(k < k1, open_[:, None], np.where(k < k2, v1, v2))
    end_v = np.where(k < k1, v1, np.where(k < k2, v2, close[:, None]))
    frac = (k - start_k) / (end_k - start_k)
    sigma = market.config.path_noise * (high - low) / math.sqrt(steps)
    walk = np.zeros((bars, steps))
    walk[:, 1:] = np.cumsum(rng.standard_normal((bars, steps - 1)), axis=1) * sigma[:, None]
    walk_start = np.take_along_axis(walk, start_k, axis=1)
    walk_end = np.take_along_axis(walk, end_k, axis=1)
    bridge = walk - walk_start - frac * (walk_end - walk_start)
    target: FloatArray = np.clip(
        start_v + frac * (end_v - start_v) + bridge, low[:, None], high[:, None]
    )
    return target


@dataclass(frozen=True, slots=True)
class _Pending:
    """Hawkes orders triggered in earlier chunks that fall in later bars (trading time)."""

    time: FloatArray
    buy: BoolArray

    @staticmethod
    def none() -> _Pending:
        return _Pending(np.zeros(0), np.zeros(0, dtype=bool))


def _market_orders(
    rng: np.random.Generator,
    market: _Market,
    span: slice,
    targets: FloatArray,
    pending: _Pending,
) -> tuple[_Orders, _Pending]:
    """The chunk's market orders: Hawkes times and sides, then sizes that share each bar's
    volume (module docstring, 4). Time here is trading time: bar b covers [b T, (b + 1) T)
    seconds, so a cluster runs on across a closed market as across a bar boundary."""
    cfg = market.config
    bar_s = market.bar_ns / 1e9
    total_bars = len(market.open)
    first, end = span.start, span.stop
    volume = market.volume[first:end]
    expected = volume / market.order_lots
    # Immigrants: uniform in their bar, buying with the tilt toward the target's move.
    immigrants = rng.poisson(expected * (1 - cfg.hawkes_branching))
    bar = np.repeat(np.arange(first, end), immigrants)
    offset = rng.uniform(0.0, bar_s, size=len(bar))
    step = np.minimum((offset * 1e9).astype(np.int64) // market.step_ns, cfg.substeps - 1)
    # Linear impact read backwards: the expected imbalance of new orders in an interval is in
    # proportion to the mid's move over it, in units of the bar's root mean square move.
    moves = np.zeros_like(targets)
    moves[:, :-1] = np.diff(targets, axis=1)
    typical = np.sqrt(np.square(moves).sum(axis=1, keepdims=True) / (cfg.substeps - 1))
    lean = np.clip(moves / np.where(typical > 0, typical, 1.0), -1.0, 1.0)[bar - first, step]
    time = bar * bar_s + offset
    buy = rng.random(len(bar)) < (1 + cfg.flow_tilt * lean) / 2
    # Descendants, generation by generation (the cluster form of the Hawkes process).
    every_order_gap = bar_s / np.maximum(market.volume / market.order_lots, 1.0)
    times, sides = [time], [buy]
    for _ in range(_MAX_GENERATIONS):
        if not len(time):
            break
        children = rng.poisson(cfg.hawkes_branching, size=len(time))
        parent = np.repeat(np.arange(len(time)), children)
        parent_bar = np.minimum((time[parent] // bar_s).astype(np.int64), total_bars - 1)
        delay = rng.exponential(size=len(parent)) * cfg.hawkes_memory
        time = time[parent] + delay * every_order_gap[parent_bar]
        keep = rng.random(len(parent)) < cfg.side_persistence
        buy = np.where(keep, buy[parent], rng.random(len(parent)) < 0.5)
        inside = time < total_bars * bar_s
        time, buy = time[inside], buy[inside]
        times.append(time)
        sides.append(buy)
    time = np.concatenate([pending.time, *times])
    buy = np.concatenate([pending.buy, *sides])
    bar = (time // bar_s).astype(np.int64)
    later = bar >= end
    next_pending = _Pending(time[later], buy[later])
    here = ~later
    time, buy, bar = time[here], buy[here], bar[here] - first
    offset = np.clip(time - (bar + first) * bar_s, 0.0, bar_s)  # float division can stray
    return _sized_orders(rng, market, span, offset, buy, bar), next_pending


def _sized_orders(
    rng: np.random.Generator,
    market: _Market,
    span: slice,
    offset_s: FloatArray,
    buy: BoolArray,
    bar: IntArray,
) -> _Orders:
    cfg = market.config
    bars = span.stop - span.start
    volume = market.volume[span]
    # A bar with fewer lots than orders keeps a random subset, one lot each at least.
    key = rng.random(len(bar))
    order = np.lexsort((key, bar))
    offset_s, buy, bar = offset_s[order], buy[order], bar[order]
    rank = np.arange(len(bar)) - np.searchsorted(bar, bar)
    keep = rank < volume[bar]
    offset_s, buy, bar = offset_s[keep], buy[keep], bar[keep]
    # A bar with volume and no order gets one.
    lonely = np.flatnonzero((np.bincount(bar, minlength=bars) == 0) & (volume > 0))
    bar = np.concatenate([bar, lonely])
    offset_s = np.concatenate([offset_s, rng.uniform(0.0, market.bar_ns / 1e9, len(lonely))])
    buy = np.concatenate([buy, rng.random(len(lonely)) < 0.5])
    # Pareto weights share each bar's lots beyond the one lot every order has.
    weight = rng.pareto(cfg.order_size_tail, size=len(bar)) + 1.0
    counts = np.maximum(np.bincount(bar, minlength=bars), 1)
    spare = np.maximum(volume - counts, 0)
    share = weight / np.bincount(bar, weights=weight, minlength=bars)[bar]
    raw = share * spare[bar] * (1 - 1e-9)  # rounding errors must not push a bar over
    lots = np.floor(raw).astype(np.int64)
    odd = spare - np.bincount(bar, weights=lots, minlength=bars).astype(np.int64)
    by_remainder = np.lexsort((-(raw - lots), bar))
    ranked_bar = bar[by_remainder]
    rank = np.arange(len(bar)) - np.searchsorted(ranked_bar, ranked_bar)
    share_out = odd[ranked_bar] // counts[ranked_bar] + (
        rank < odd[ranked_bar] % counts[ranked_bar]
    )
    lots[by_remainder] += share_out + 1
    # Nanoseconds strictly inside the interval after the order's snapshot, so the stream
    # puts every trade after its snapshot and before the next one.
    offset_ns = np.minimum((offset_s * 1e9).astype(np.int64), market.bar_ns - 1)
    step = np.minimum(offset_ns // market.step_ns, cfg.substeps - 1)
    interval_end = np.where(step == cfg.substeps - 1, market.bar_ns, (step + 1) * market.step_ns)
    offset_ns = np.clip(offset_ns, step * market.step_ns + 1000, interval_end - 1000)
    ns = market.open_ns[span][bar] + offset_ns
    order = np.lexsort((ns, ~buy, bar, step))
    return _Orders(bar[order], step[order], ns[order], lots[order], buy[order])


class _Side:
    """One side of every bar's book: queues in lots at 0, 1, ... ticks from the touch."""

    def __init__(self, queues: IntArray) -> None:
        self.queues = queues

    def drop_empty_front(self, fresh: Callable[[IntArray], IntArray], fill: int) -> IntArray:
        """Make the first non-empty level the touch; returns how many ticks it moved. Levels
        that come into view are ``fresh(rows)``; a side emptied completely moves to the
        hidden level beyond the tracked ones and shows at least ``fill`` lots there."""
        bars, levels = self.queues.shape
        moved = np.zeros(bars, dtype=np.int64)
        rows = np.flatnonzero(self.queues[:, 0] == 0)
        if not len(rows):
            return moved
        nonempty = self.queues[rows] > 0
        moved[rows] = np.where(np.any(nonempty, axis=1), nonempty.argmax(axis=1), levels)
        source = moved[rows, None] + np.arange(levels)[None, :]
        joined = np.concatenate([self.queues[rows], fresh(rows)], axis=1)
        self.queues[rows] = np.take_along_axis(joined, source, axis=1)
        self.queues[rows, 0] = np.maximum(self.queues[rows, 0], fill * (moved[rows] == levels))
        return moved

    def improve(self, rows: IntArray, arrivals: IntArray, spread: IntArray) -> IntArray:
        """Limit orders inside the spread of bars ``rows``: ``arrivals[:, i - 1]`` lots at i
        ticks from the opposite touch (zero where i >= spread). The nearest to the opposite
        touch becomes the touch; returns how many ticks each touch moved toward it."""
        levels = self.queues.shape[1]
        queues, spread = self.queues[rows], spread[rows]
        has = arrivals > 0
        improved: BoolArray = np.any(has, axis=1)
        nearest = has.argmax(axis=1) + 1
        distance = nearest[:, None] + np.arange(levels)[None, :]
        inside = distance < spread[:, None]
        from_arrivals = np.take_along_axis(arrivals, np.minimum(distance - 1, levels - 1), axis=1)
        from_queues = np.take_along_axis(
            queues, np.clip(distance - spread[:, None], 0, levels - 1), axis=1
        )
        beyond_sampled = inside & (distance > levels)
        rebuilt = np.where(inside, np.where(beyond_sampled, 0, from_arrivals), from_queues)
        self.queues[rows] = np.where(improved[:, None], rebuilt, queues)
        return np.where(improved, spread - nearest, 0).astype(np.int64)

    def ensure_levels(self, shown: int, fill: int) -> None:
        """At least ``shown`` non-empty levels: empty ones from the deep end get one limit
        order (rare with the defaults; the snapshot must show ``shown`` levels)."""
        empty = self.queues == 0
        deficit = shown - np.count_nonzero(~empty, axis=1)
        if (deficit > 0).any():
            from_deep = np.cumsum(empty[:, ::-1], axis=1)[:, ::-1]
            self.queues = np.where(empty & (from_deep <= deficit[:, None]), fill, self.queues)

    def shown(self, count: int) -> tuple[IntArray, IntArray]:
        """Distances from the touch and sizes of the first ``count`` non-empty levels."""
        distance = np.argsort(self.queues == 0, axis=1, kind="stable")[:, :count]
        return distance.astype(np.int64), np.take_along_axis(self.queues, distance, axis=1)

    def take(self, lots: IntArray) -> None:
        """Remove ``lots`` from each bar's side, touch first (the hidden level takes the rest)."""
        left = np.maximum(np.cumsum(self.queues, axis=1) - lots[:, None], 0)
        self.queues = np.diff(left, axis=1, prepend=0)


def _run_book(
    rng: np.random.Generator,
    market: _Market,
    span: slice,
    targets: FloatArray,
    orders: _Orders,
) -> _Chunk:
    """Step every bar of the chunk through its snapshots at once (module docstring, 2-4)."""
    cfg = market.config
    bars, steps, shown = span.stop - span.start, cfg.substeps, cfg.levels
    levels, order_lots = cfg.tracked_levels, market.limit_lots
    volume = market.volume[span].astype(float)
    orders_per_step = volume / market.order_lots / steps
    survive = np.exp(-cfg.cancel_rate * orders_per_step)[:, None]
    stationary = cfg.limit_rate / cfg.cancel_rate  # mean resting orders one tick away
    arriving = stationary * (1 - survive)  # surviving arrivals over a step, one tick away
    distance = np.arange(1, levels + 1, dtype=float)[None, :]
    spread = np.ones(bars, dtype=np.int64)
    bid = market.open[span] - 1

    def fresh(rows: IntArray) -> IntArray:
        """Stationary queues for the levels that come into view behind the tracked ones."""
        deep = (spread[rows, None] - 1 + levels + distance) ** -cfg.limit_rate_decay
        queues: IntArray = rng.poisson(stationary * deep) * order_lots
        return queues

    def settle() -> None:
        """Touches at the first non-empty levels, and no spread wider than the tracked depth
        (a limit order at that distance from the ask, as CST's depth beyond their window)."""
        moved_bid = bids.drop_empty_front(fresh, order_lots)
        bid[:] -= moved_bid
        spread[:] += moved_bid + asks.drop_empty_front(fresh, order_lots)
        too_wide = np.flatnonzero(spread > levels)
        if len(too_wide):
            edge = np.zeros((len(too_wide), levels), dtype=np.int64)
            edge[:, levels - 1] = order_lots
            moved = bids.improve(too_wide, edge, spread)
            bid[too_wide] += moved
            spread[too_wide] -= moved

    start = (spread[:, None] - 1 + distance) ** -cfg.limit_rate_decay
    sides = [_Side(rng.poisson(stationary * start) * order_lots) for _ in range(2)]
    for side in sides:
        side.queues[:, 0] = np.maximum(side.queues[:, 0], order_lots)
    bids, asks = sides
    snapshot_shape = (bars, steps, shown)
    bid_ticks, bid_lots = np.zeros(snapshot_shape, np.int64), np.zeros(snapshot_shape, np.int64)
    ask_ticks, ask_lots = np.zeros(snapshot_shape, np.int64), np.zeros(snapshot_shape, np.int64)
    step_bounds = np.searchsorted(orders.step, np.arange(steps + 1))
    trades: list[tuple[IntArray, ...]] = []
    for step in range(steps):
        if step:
            # Cancellations (whole orders, a partly filled one last) and limit orders at the
            # resting levels, in closed form.
            own = (spread[:, None] - 1 + distance) ** -cfg.limit_rate_decay
            for side in sides:
                resting = -(-side.queues // order_lots)
                cancelled = resting - rng.binomial(resting, survive)
                side.queues = (
                    np.maximum(side.queues - cancelled * order_lots, 0)
                    + rng.poisson(arriving * own) * order_lots
                )
            settle()
            # Limit orders inside the spread; the side that goes first alternates.
            for side in (bids, asks) if step % 2 else (asks, bids):
                wide = np.flatnonzero(spread > 1)
                if not len(wide):
                    break
                within = distance < spread[wide, None]
                rate = arriving[wide] * distance**-cfg.limit_rate_decay * within
                moved = side.improve(wide, rng.poisson(rate) * order_lots, spread)
                spread[wide] -= moved
                if side is bids:
                    bid[wide] += moved
        # Re-quote the whole book so that its mid is nearest the target.
        bid += np.floor(targets[:, step] - (2 * bid + spread) / 2 + 0.5).astype(np.int64)
        for side in sides:
            side.ensure_levels(shown, order_lots)
        bid_distance, bid_lots[:, step] = bids.shown(shown)
        ask_distance, ask_lots[:, step] = asks.shown(shown)
        bid_ticks[:, step] = bid[:, None] - bid_distance
        ask_ticks[:, step] = (bid + spread)[:, None] + ask_distance
        # The market orders of the interval after this snapshot walk its book.
        now = slice(step_bounds[step], step_bounds[step + 1])
        if now.start == now.stop:
            continue
        trades.append(_walk(orders, now, bids, asks, bid, spread, step))
        buy, bar, lots = orders.buy[now], orders.bar[now], orders.lots[now]
        asks.take(np.bincount(bar[buy], weights=lots[buy], minlength=bars).astype(np.int64))
        bids.take(np.bincount(bar[~buy], weights=lots[~buy], minlength=bars).astype(np.int64))
        settle()
    columns = [np.concatenate(column) for column in zip(*trades, strict=True)] if trades else []
    if not columns:
        columns = [np.zeros(0, np.int64)] * 6
    trade_bar, trade_step, trade_ns, trade_ticks, trade_lots, trade_buy = columns
    in_order = np.lexsort((trade_ns, trade_step, trade_bar))  # stable: walk order kept
    snapshot_ns = market.open_ns[span][:, None] + np.arange(steps)[None, :] * market.step_ns
    return _Chunk(
        first_bar=span.start,
        bars=bars,
        snapshot_ns=snapshot_ns,
        bid_ticks=bid_ticks,
        bid_lots=bid_lots,
        ask_ticks=ask_ticks,
        ask_lots=ask_lots,
        order_bar=orders.bar,
        order_lots=orders.lots,
        order_buy=orders.buy,
        trade_bar=trade_bar[in_order],
        trade_step=trade_step[in_order],
        trade_ns=trade_ns[in_order],
        trade_ticks=trade_ticks[in_order],
        trade_lots=trade_lots[in_order],
        trade_buy=trade_buy[in_order].astype(bool),
    )


def _walk(
    orders: _Orders,
    now: slice,
    bids: _Side,
    asks: _Side,
    bid: IntArray,
    spread: IntArray,
    step: int,
) -> tuple[IntArray, ...]:
    """The prints of one interval's market orders: each takes the levels its lots cover in
    its side's cumulative depth, after the orders of that side before it."""
    bar, lots, buy, ns = orders.bar[now], orders.lots[now], orders.buy[now], orders.ns[now]
    bars, levels = asks.queues.shape
    # One row per (bar, side taken): a buy takes the asks. A last, hidden level never ends.
    depth = np.empty((bars, 2, levels + 1), dtype=np.int64)
    depth[:, 0, :levels] = np.cumsum(asks.queues, axis=1)
    depth[:, 1, :levels] = np.cumsum(bids.queues, axis=1)
    depth[:, :, levels] = _SENTINEL
    depth = depth.reshape(2 * bars, levels + 1)
    row = 2 * bar + ~buy
    # Orders are sorted by (bar, side, time): cumulative lots restart at each row.
    after = np.cumsum(lots)
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(row)]))
    before = after - lots
    before -= before[group_start]
    after = before + lots
    flat = (np.arange(2 * bars)[:, None] * _ROW_STRIDE + depth).ravel()
    base = row * (levels + 1)
    first_level = np.searchsorted(flat, row * _ROW_STRIDE + before, side="right") - base
    last_level = np.searchsorted(flat, row * _ROW_STRIDE + after, side="left") - base
    prints = last_level - first_level + 1
    order = np.repeat(np.arange(len(row)), prints)
    level = (
        first_level[order] + np.arange(len(order)) - np.repeat(np.cumsum(prints) - prints, prints)
    )
    level_end = depth.ravel()[base[order] + level]
    level_start = np.where(level > 0, depth.ravel()[base[order] + level - 1], 0)
    size = np.minimum(after[order], level_end) - np.maximum(before[order], level_start)
    took = size > 0  # levels left empty by earlier cancellations print nothing
    order, level, size = order[took], level[took], size[took]
    taker_buys = buy[order]
    touch = np.where(taker_buys, (bid + spread)[bar[order]], bid[bar[order]])
    price = touch + np.where(taker_buys, level, -level)
    return (
        bar[order],
        np.full(len(order), step, dtype=np.int64),
        ns[order],
        price,
        size,
        taker_buys.astype(np.int64),
    )


# -- events --------------------------------------------------------------------------------


def _events(market: _Market) -> Iterator[MarketEvent]:
    tick, lot = market.tick, market.lot
    prices: dict[int, Decimal] = {}
    sizes: dict[int, Decimal] = {}

    def price_of(ticks: int) -> Decimal:
        value = prices.get(ticks)
        if value is None:
            with exact():
                value = prices[ticks] = ticks * tick
        return value

    def size_of(lots: int) -> Decimal:
        value = sizes.get(lots)
        if value is None:
            with exact():
                value = sizes[lots] = lots * lot
        return value

    def when(ns: int) -> datetime:
        return _EPOCH + timedelta(microseconds=ns // 1000)

    for chunk in _simulate(market):
        trade_bar, trade_step = chunk.trade_bar.tolist(), chunk.trade_step.tolist()
        trade_ns, trade_ticks = chunk.trade_ns.tolist(), chunk.trade_ticks.tolist()
        trade_lots, trade_buy = chunk.trade_lots.tolist(), chunk.trade_buy.tolist()
        trades, next_trade = len(trade_bar), 0
        for bar in range(chunk.bars):
            # Python ints a bar at a time: a whole chunk of them would take about 100 MB.
            bid_ticks, bid_lots = chunk.bid_ticks[bar].tolist(), chunk.bid_lots[bar].tolist()
            ask_ticks, ask_lots = chunk.ask_ticks[bar].tolist(), chunk.ask_lots[bar].tolist()
            for step, ns in enumerate(chunk.snapshot_ns[bar].tolist()):
                yield BookSnapshot(
                    at=when(ns),
                    bids=tuple(
                        (price_of(p), size_of(s))
                        for p, s in zip(bid_ticks[step], bid_lots[step], strict=True)
                    ),
                    asks=tuple(
                        (price_of(p), size_of(s))
                        for p, s in zip(ask_ticks[step], ask_lots[step], strict=True)
                    ),
                )
                while (
                    next_trade < trades
                    and trade_bar[next_trade] == bar
                    and trade_step[next_trade] == step
                ):
                    yield Trade(
                        at=when(trade_ns[next_trade]),
                        price=price_of(trade_ticks[next_trade]),
                        size=size_of(trade_lots[next_trade]),
                        aggressor=Side.BUY if trade_buy[next_trade] else Side.SELL,
                    )
                    next_trade += 1
