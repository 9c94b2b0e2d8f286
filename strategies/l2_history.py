"""Stored L2 history for backtests: read an instrument's BookSnapshot and MarketTrade rows as an
``L2Stream``, and store a seeded simulated history (``execution.domain.marketsim``) for
instruments that have none.

Stored prices and sizes are floats (``execution.models``); the stream is in integer ticks and
lots, so each value is put back on the instrument's grid, and one that is not on it (beyond
float rounding) refuses the window instead of being moved silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import transaction
from django.db.models import QuerySet

from execution.domain.errors import DomainError
from execution.domain.marketsim import BookSnapshot as SimSnapshot
from execution.domain.marketsim import Candle, MarketSimConfig, simulate_events
from execution.domain.values import InstrumentSpec, Side
from execution.marketdata.base import BookBatch, TradeBatch
from execution.models import BookSnapshot, Instrument, MarketTrade
from execution.services.market_history import ImportSummary, market_history_import
from strategies.backtest.l2.stream import L2Stream, to_microseconds

DEFAULT_BAR_NOTIONAL = Decimal(2_000_000)
MIN_SNAPSHOTS = 2  # a backtest needs a book to act on and one to see the result
_GRID_TOLERANCE = 1e-6  # of a tick or lot: float rounding, not a value off the grid
_CHUNK = 2000
_BATCH = 5000  # snapshots or trades per stored batch


class L2HistoryError(DomainError):
    """The window has no usable L2 data; ``field`` names the input to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _window(
    model: type[BookSnapshot] | type[MarketTrade],
    column: str,
    symbol: str,
    start: datetime | None,
    end: datetime | None,
) -> QuerySet[Any]:
    query: QuerySet[Any] = model.objects.filter(instrument__symbol=symbol)
    if start is not None:
        query = query.filter(**{f"{column}__gte": start})
    if end is not None:
        query = query.filter(**{f"{column}__lt": end})
    return query


def l2_window_problem(*, symbol: str, start: datetime | None, end: datetime | None) -> str | None:
    """Why [start, end) of ``symbol`` cannot be backtested on L2 data, or None if it can
    (cheap: it counts at most two snapshots)."""
    found = _window(BookSnapshot, "taken_at", symbol, start, end)[:MIN_SNAPSHOTS].count()
    if found >= MIN_SNAPSHOTS:
        return None
    span = _describe(start, end)
    return (
        f"{symbol} has {found} stored L2 book snapshot{'s' * (found != 1)} {span}: an L2 "
        f"backtest needs at least {MIN_SNAPSHOTS} (store some with manage.py l2_simulate or "
        "marketdata_import --kind books)"
    )


def _describe(start: datetime | None, end: datetime | None) -> str:
    if start is None and end is None:
        return "at all"
    first = "the start" if start is None else start.isoformat()
    last = "the end" if end is None else end.isoformat()
    return f"from {first} to {last}"


def _on_grid(values: npt.NDArray[np.float64], step: Decimal, what: str) -> npt.NDArray[np.int64]:
    units = values / float(step)
    whole = np.rint(units)
    off = np.abs(units - whole) > _GRID_TOLERANCE
    if bool(np.any(off)):
        value = float(values[np.flatnonzero(off)[0]])
        raise L2HistoryError("symbol", f"a stored {what} {value!r} is not on the grid of {step}")
    return whole.astype(np.int64)


def l2_stream(*, symbol: str, start: datetime | None, end: datetime | None) -> L2Stream:
    """The snapshots and trades of ``symbol`` in [start, end), oldest first, as an
    ``L2Stream`` on the instrument's grid. Trades before the first snapshot are left out
    (no book to trade against); an empty or unusable window raises ``L2HistoryError``."""
    instrument = Instrument.objects.filter(symbol=symbol).first()
    if instrument is None:
        raise L2HistoryError("symbol", f"no such instrument: {symbol}")
    spec: InstrumentSpec = instrument.spec()
    problem = l2_window_problem(symbol=symbol, start=start, end=end)
    if problem is not None:
        raise L2HistoryError("symbol", problem)
    times: list[datetime] = []
    sides: list[tuple[list[list[float]], list[list[float]]]] = []
    depth = 1
    rows = (
        _window(BookSnapshot, "taken_at", symbol, start, end)
        .order_by("taken_at")
        .values_list("taken_at", "bids", "asks")
        .iterator(chunk_size=_CHUNK)
    )
    for taken_at, bids, asks in rows:
        times.append(taken_at)
        sides.append((bids, asks))
        depth = max(depth, len(bids), len(asks))
    levels = np.zeros((4, len(times), depth), dtype=np.float64)  # bid price, size, ask ...
    for row, (bids, asks) in enumerate(sides):
        for column, side in ((0, bids), (2, asks)):
            if side:
                levels[column : column + 2, row, : len(side)] = np.asarray(side, np.float64).T
    # Padding (a shallower book) is price 0 and size 0: 0 ticks and 0 lots, no level.
    ticks = [_on_grid(levels[c], spec.tick_size, "price") for c in (0, 2)]
    lots = [_on_grid(levels[c], spec.lot_size, "size") for c in (1, 3)]
    book_us = np.array([to_microseconds(t) for t in times], dtype=np.int64)
    trades = list(
        _window(MarketTrade, "traded_at", symbol, max(times[0], start or times[0]), end)
        .order_by("traded_at", "venue_trade_id")
        .values_list("traded_at", "price", "size", "aggressor_side")
        .iterator(chunk_size=_CHUNK)
    )
    prices = np.array([t[1] for t in trades], dtype=np.float64)
    sizes = np.array([t[2] for t in trades], dtype=np.float64)
    try:
        return L2Stream(
            spec=spec,
            book_us=book_us,
            bid_ticks=ticks[0],
            bid_lots=lots[0],
            ask_ticks=ticks[1],
            ask_lots=lots[1],
            trade_us=np.array([to_microseconds(t[0]) for t in trades], dtype=np.int64),
            trade_ticks=_on_grid(prices, spec.tick_size, "trade price"),
            trade_lots=_on_grid(sizes, spec.lot_size, "trade size"),
            trade_buy=np.array([t[3] == Side.BUY.value for t in trades], dtype=np.bool_),
        )
    except L2HistoryError:
        raise
    except DomainError as error:
        message = f"the stored L2 data of {symbol} is unusable: {error}"
        raise L2HistoryError("symbol", message) from None


# -- a simulated history -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimulatedHistory:
    books: ImportSummary
    trades: ImportSummary
    first_mid: Decimal
    last_mid: Decimal


def random_walk_candles(
    *,
    start: datetime,
    bars: int,
    interval: timedelta,
    price: Decimal,
    volatility: float,
    volume: Decimal,
    tick_size: Decimal,
    seed: int,
) -> list[Candle]:
    """Seeded candles whose closes follow a random walk (``volatility``: the standard
    deviation of one bar's return), on the tick grid; the simulator's mid follows them."""
    rng = np.random.default_rng(seed)
    tick = float(tick_size)
    mid = float(price)
    candles = []
    for index in range(bars):
        path = mid * np.exp(np.cumsum(rng.normal(0, volatility / 2, 4)))
        close = float(path[-1])
        high = max(mid, close, float(path.max())) + tick
        low = max(min(mid, close, float(path.min())) - tick, tick)
        candles.append(
            Candle(
                at=start + index * interval,
                open=_tick(mid, tick_size),
                high=_tick(high, tick_size),
                low=_tick(low, tick_size),
                close=_tick(close, tick_size),
                volume=volume,
            )
        )
        mid = float(_tick(close, tick_size)) or tick
    return candles


def _tick(value: float, tick_size: Decimal) -> Decimal:
    return max(round(Decimal(repr(value)) / tick_size), 1) * tick_size


@dataclass(frozen=True)
class _Loader:
    """A market_history_import loader over batches already built."""

    name: str
    symbol: str
    books: list[BookBatch] | None = None
    trades: list[TradeBatch] | None = None

    @property
    def instrument(self) -> InstrumentSpec | None:
        return None  # the instrument exists

    def batches(self) -> Iterator[Any]:
        yield from self.books or self.trades or []


def l2_history_simulate(
    *,
    symbol: str,
    start: datetime,
    bars: int,
    interval: timedelta = timedelta(minutes=1),
    price: Decimal,
    volatility: float = 0.001,
    volume: Decimal | None = None,
    seed: int = 0,
    config: MarketSimConfig | None = None,
) -> SimulatedHistory:
    """Store ``bars`` bars of a seeded simulated L2 book and tape for ``symbol`` from
    ``start`` (``config.substeps`` snapshots a bar), following a random walk from ``price``.
    ``volume``: base units traded a bar (default: ``DEFAULT_BAR_NOTIONAL`` at ``price``).
    One transaction; stored again, the same seed adds nothing."""
    errors: dict[str, str] = {}
    instrument = Instrument.objects.filter(symbol=symbol).first()
    if instrument is None:
        errors["symbol"] = f"no such instrument: {symbol}"
    if not 1 <= bars <= 100_000:
        errors["bars"] = f"bars must be 1 to 100000, got {bars}"
    if start.tzinfo is None:
        errors["start"] = "start needs a time zone"
    if price <= 0 or not price.is_finite():
        errors["price"] = f"price must be positive, got {price}"
    if volume is not None and not volume > 0:
        errors["volume"] = f"volume must be positive, got {volume}"
    if not 0 < volatility < 0.5:
        errors["volatility"] = f"volatility must be in (0, 0.5), got {volatility}"
    if interval < timedelta(seconds=1):
        errors["interval"] = "interval must be at least a second"
    if errors:
        field, message = next(iter(errors.items()))
        raise L2HistoryError(field, message)
    assert instrument is not None
    spec = instrument.spec()
    if volume is None:  # about 2 million of the quote currency a bar: a liquid market
        lots = (DEFAULT_BAR_NOTIONAL / price) // spec.lot_size
        volume = max(lots, Decimal(1)) * spec.lot_size
    candles = random_walk_candles(
        start=start.astimezone(UTC), bars=bars, interval=interval, price=price,
        volatility=volatility, volume=volume, tick_size=spec.tick_size, seed=seed,
    )  # fmt: skip
    events = simulate_events(
        candles, tick_size=spec.tick_size, lot_size=spec.lot_size, seed=seed, config=config,
        bar_duration=interval,
    )  # fmt: skip
    books, trades = _batches(events, f"sim{seed}-{to_microseconds(start)}")
    name = f"marketsim:{symbol}:seed{seed}"
    with transaction.atomic():
        stored_books = market_history_import(loader=_Loader(name, symbol, books=books))
        stored_trades = market_history_import(loader=_Loader(name, symbol, trades=trades))
    return SimulatedHistory(stored_books, stored_trades, candles[0].open, candles[-1].close)


def _batches(events: Iterator[Any], prefix: str) -> tuple[list[BookBatch], list[TradeBatch]]:
    books: list[BookBatch] = []
    trades: list[TradeBatch] = []
    book_rows: list[SimSnapshot] = []
    trade_rows: list[Any] = []
    count = 0

    def flush_books() -> None:
        depth = max(max(len(s.bids), len(s.asks)) for s in book_rows)
        sides = np.zeros((2, len(book_rows), depth, 2), dtype=np.float64)
        for row, snapshot in enumerate(book_rows):
            for column, levels in ((0, snapshot.bids), (1, snapshot.asks)):
                sides[column, row, : len(levels)] = [[float(p), float(s)] for p, s in levels]
        taken = np.array([s.at.replace(tzinfo=None) for s in book_rows], "datetime64[us]")
        books.append(BookBatch(taken_at=taken, bids=sides[0], asks=sides[1]))
        book_rows.clear()

    def flush_trades() -> None:
        nonlocal count
        ids = [f"{prefix}-{count + i:09d}" for i in range(len(trade_rows))]  # sorts in order
        count += len(trade_rows)
        trades.append(
            TradeBatch(
                traded_at=np.array(
                    [t.at.replace(tzinfo=None) for t in trade_rows], "datetime64[us]"
                ),
                price=np.array([float(t.price) for t in trade_rows]),
                size=np.array([float(t.size) for t in trade_rows]),
                aggressor_side=np.array([t.aggressor.value for t in trade_rows]),
                venue_trade_id=np.array(ids),
            )
        )
        trade_rows.clear()

    for event in events:
        if isinstance(event, SimSnapshot):
            book_rows.append(event)
            if len(book_rows) >= _BATCH:
                flush_books()
        else:
            trade_rows.append(event)
            if len(trade_rows) >= _BATCH:
                flush_trades()
    if book_rows:
        flush_books()
    if trade_rows:
        flush_trades()
    return books, trades
