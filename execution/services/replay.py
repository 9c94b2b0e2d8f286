"""Market replay: real package history played forward, bar by bar, for the paper exchange.

``make run``'s market (``MARKET_FEED=replay``). Each replayed instrument follows a price series
a package ships (``REPLAY_SOURCES``; read in place by ``execution.marketdata.packages``,
never copied). The series is laid on a one-minute grid: its bar n opens at the instrument's
first stored 1m candle (the anchor) + n minutes, so one package bar (an hour of EURUSD, a
day of AAPL) is one demo minute. The demo stores the first bars as history
(``replay_history``); the replay plays the rest from the bar after the last stored candle, so
a restart resumes where the last run stopped. At the end of the series it plays it again from
the last close (the series' returns, scaled to continue the price).

The L2 simulator (``execution.domain.marketsim``) turns each bar into ``SUBSTEPS`` book
snapshots; they go through ``paper_book_update`` as any feed's would (resting paper orders
fill, positions are marked, stops trigger). When a bar closes its candle and the book at its
close are stored in one transaction, then it is announced (``execution.signals.bar_closed``)
for the live strategy runner. The simulation runs in fixed segments of ``SEGMENT_BARS`` bars
with a seed per segment, so the market is the same whenever a bar is replayed: the stored
history's books (``replay_history``, from ``simulate_bar_flow``) are the ones the replay would
have shown, and a resumed run re-simulates its segment and skips what was played.

Pacing: ``speed`` bars a second (``REPLAY_SPEED``, default 1), at most ``BOOKS_PER_SECOND``
books a second per instrument (a bar's last book always goes out). The stored candles run on
the replay's clock: at one bar a second, an hour of wall time stores 3,600 one-minute candles,
so the market's clock runs ahead of the wall clock.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Generic, TypeVar

import numpy as np
from django.db import close_old_connections

from execution.domain.marketsim import (
    BookSnapshot,
    Candle,
    MarketSimConfig,
    simulate_bar_flow,
    simulate_events,
)
from execution.domain.values import InstrumentSpec
from execution.marketdata.base import BookBatch, CandleBatch
from execution.marketdata.packages import SERIES
from execution.models import Candle as StoredCandle
from execution.models import Instrument
from execution.services.market_history import ImportSummary, market_history_import
from execution.services.marketdata import paper_book_update
from execution.services.marketfeed import feed_bar_close

logger = logging.getLogger(__name__)
Batch = TypeVar("Batch", CandleBatch, BookBatch)

BAR = timedelta(minutes=1)
INTERVAL = "1m"
SEGMENT_BARS = 60  # bars simulated together, with one seed
SUBSTEPS = 12  # book snapshots per bar: one every 5 s of market time
BOOKS_PER_SECOND = 4.0  # per instrument, in wall time: the paper exchange's update rate
DEFAULT_SPEED = 1.0
MAX_SPEED = 100.0
SEED = 20261121
SIMULATION = MarketSimConfig(substeps=SUBSTEPS)


class ReplayError(ValueError):
    """A replay setting that cannot work (a speed out of range)."""


@dataclass(frozen=True, slots=True)
class ReplaySource:
    """One replayed instrument: a package series (``execution.marketdata.packages.SERIES``)
    and a factor for its volumes (EURUSD's file counts ticks, not euros)."""

    series: str
    volume_scale: float = 1.0

    @property
    def spec(self) -> InstrumentSpec:
        return SERIES[self.series].instrument

    @property
    def symbol(self) -> str:
        return self.spec.symbol


REPLAY_SOURCES = (
    # 5,000 hours of EURUSD (2017-2018); a tick of the file's volume taken as 100,000 EUR.
    ReplaySource("backtesting:EURUSD", volume_scale=100_000),
    # 3,270 days of US shares (2000-2013), split-adjusted.
    ReplaySource("bokeh:AAPL"),
    ReplaySource("bokeh:MSFT"),
    ReplaySource("bokeh:IBM"),
)


def replay_source(symbol: str) -> ReplaySource | None:
    return next((s for s in REPLAY_SOURCES if s.symbol == symbol), None)


def replay_speed_checked(speed: float) -> float:
    if not (isinstance(speed, int | float) and math.isfinite(speed) and 0 < speed <= MAX_SPEED):
        raise ReplayError(f"speed must be above 0 and at most {MAX_SPEED:g} bars a second")
    return float(speed)


@cache
def _series(name: str) -> CandleBatch:
    series = SERIES[name]
    return series.read(series)


def series_length(source: ReplaySource) -> int:
    return len(_series(source.series))


def _seed(symbol: str, loop: int, segment: int) -> int:
    # The same market for the same bars on every machine and every run.
    return SEED + zlib.crc32(symbol.encode()) + loop * 1_000_003 + segment


def _on_grid(value: float, step: Decimal) -> Decimal:
    return max(step, (Decimal(repr(float(value))) / step).to_integral_value() * step)


def replay_candles(
    source: ReplaySource, *, anchor: datetime, first: int, count: int, scale: float = 1.0
) -> list[Candle]:
    """Bars ``first`` .. ``first + count - 1`` of the replay (within one pass of the series),
    on the instrument's grid, opening ``anchor`` + n minutes; prices times ``scale``."""
    series, spec = _series(source.series), source.spec
    length = len(series)
    start = first % length
    if start + count > length:
        raise ReplayError(f"bars {first}..{first + count - 1} span two passes of the series")
    candles = []
    for offset in range(count):
        i = start + offset
        open_, close = (_on_grid(v[i] * scale, spec.tick_size) for v in (series.open, series.close))
        high = max(_on_grid(series.high[i] * scale, spec.tick_size), open_, close)
        low = min(_on_grid(series.low[i] * scale, spec.tick_size), open_, close)
        volume = Decimal(repr(float(max(series.volume[i], 1.0) * source.volume_scale)))
        candles.append(Candle(anchor + BAR * (first + offset), open_, high, low, close, volume))
    return candles


def _segment_of(source: ReplaySource, index: int) -> tuple[int, int, int, int]:
    """(loop, segment, first bar, bars) of the segment holding bar ``index``."""
    length = series_length(source)
    loop, within = divmod(index, length)
    segment = within // SEGMENT_BARS
    first = loop * length + segment * SEGMENT_BARS
    return loop, segment, first, min(SEGMENT_BARS, length - segment * SEGMENT_BARS)


def replay_history(
    source: ReplaySource, *, anchor: datetime, bars: int
) -> tuple[list[CandleBatch], list[BookBatch]]:
    """The replay's first ``bars`` bars (its first pass) as history to store: the candles and
    the book at each bar's close, the same market the replay shows (same segments, seeds)."""
    spec = source.spec
    if not 0 < bars <= series_length(source):
        raise ReplayError(f"{source.series} has {series_length(source)} bars, not {bars}")
    candle_batches: list[CandleBatch] = []
    book_batches: list[BookBatch] = []
    for first in range(0, bars, SEGMENT_BARS):
        loop, segment, first, count = _segment_of(source, first)
        candles = replay_candles(source, anchor=anchor, first=first, count=count)
        flow = simulate_bar_flow(
            candles, tick_size=spec.tick_size, lot_size=spec.lot_size,
            seed=_seed(spec.symbol, loop, segment), config=SIMULATION, bar_duration=BAR,
        )  # fmt: skip
        keep = min(count, bars - first)
        naive = np.array([c.at.replace(tzinfo=None) for c in candles[:keep]], "datetime64[us]")
        candle_batches.append(
            CandleBatch(
                interval=INTERVAL,
                open_time=naive,
                open=np.array([float(c.open) for c in candles[:keep]]),
                high=np.array([float(c.high) for c in candles[:keep]]),
                low=np.array([float(c.low) for c in candles[:keep]]),
                close=np.array([float(c.close) for c in candles[:keep]]),
                volume=np.array([float(c.volume) for c in candles[:keep]]),
            )
        )
        book_batches.append(
            BookBatch(
                taken_at=flow.close_time_ns[:keep]
                .astype("datetime64[ns]")
                .astype("datetime64[us]"),
                bids=np.stack([flow.bid_price[:keep], flow.bid_size[:keep]], axis=2),
                asks=np.stack([flow.ask_price[:keep], flow.ask_size[:keep]], axis=2),
            )
        )
    return candle_batches, book_batches


@dataclass(frozen=True)
class _HistoryLoader(Generic[Batch]):
    """A market_history_import loader over batches already made."""

    name: str
    symbol: str
    instrument: InstrumentSpec
    history: list[Batch]

    def batches(self) -> Iterator[Batch]:
        yield from self.history


def replay_history_store(
    source: ReplaySource, *, anchor: datetime, bars: int
) -> tuple[ImportSummary, ImportSummary]:
    """Store ``replay_history`` (creating the instrument on the package's grid if needed):
    the candles' import summary and the books'."""
    candles, books = replay_history(source, anchor=anchor, bars=bars)
    spec = source.spec
    return (
        market_history_import(loader=_HistoryLoader(source.series, spec.symbol, spec, candles)),
        market_history_import(loader=_HistoryLoader(source.series, spec.symbol, spec, books)),
    )


@dataclass(frozen=True, slots=True)
class ReplayBar:
    """A bar that closed: its candle and the book at its close."""

    candle: Candle
    book: BookSnapshot


@dataclass(frozen=True, slots=True)
class ReplayCursor:
    """Where an instrument's replay stands: its anchor and the next bar to play."""

    symbol: str
    anchor: datetime
    next_bar: int

    @property
    def next_start(self) -> datetime:
        return self.anchor + BAR * self.next_bar


def replay_cursor(source: ReplaySource) -> ReplayCursor | None:
    """The instrument's stored 1m candles say where its replay stands (None: no history)."""
    candles = StoredCandle.objects.filter(instrument__symbol=source.symbol, interval=INTERVAL)
    first = candles.order_by("open_time").values_list("open_time", flat=True).first()
    last = candles.order_by("-open_time").values_list("open_time", flat=True).first()
    if first is None or last is None:
        return None
    first, last = first.astimezone(UTC), last.astimezone(UTC)
    return ReplayCursor(source.symbol, first, int((last - first) / BAR) + 1)


def _loop_scale(source: ReplaySource, cursor: ReplayCursor, loop: int) -> float:
    """A later pass continues from the close before it: the series' returns, rescaled."""
    if loop == 0:
        return 1.0
    before = cursor.anchor + BAR * (loop * series_length(source) - 1)
    close = (
        StoredCandle.objects.filter(
            instrument__symbol=source.symbol, interval=INTERVAL, open_time__lte=before
        )
        .order_by("-open_time")
        .values_list("close", flat=True)
        .first()
    )
    first_open = float(_series(source.series).open[0])
    return 1.0 if close is None else float(close) / first_open


def _books_sent(speed: float) -> list[int]:
    """Which of a bar's snapshots go to the paper exchange at ``speed``: at most
    BOOKS_PER_SECOND a second, evenly spaced, always the last (the bar's close)."""
    step = max(1, math.ceil(SUBSTEPS * speed / BOOKS_PER_SECOND))
    return [j for j in range(SUBSTEPS) if (SUBSTEPS - 1 - j) % step == 0]


def replay_events(
    source: ReplaySource, cursor: ReplayCursor, *, speed: float = DEFAULT_SPEED
) -> Iterator[tuple[datetime, int, BookSnapshot | ReplayBar]]:
    """(market time, order, event) of one instrument from its cursor on, for ever: the books
    sent at ``speed``, then each bar's close (order 1, after the books of its time)."""
    spec = source.spec
    sent = set(_books_sent(speed))
    index = cursor.next_bar
    while True:
        loop, segment, first, count = _segment_of(source, index)
        candles = replay_candles(
            source, anchor=cursor.anchor, first=first, count=count,
            scale=_loop_scale(source, cursor, loop),
        )  # fmt: skip
        snapshots: list[BookSnapshot] = []
        for event in simulate_events(
            candles, tick_size=spec.tick_size, lot_size=spec.lot_size,
            seed=_seed(spec.symbol, loop, segment), config=SIMULATION, bar_duration=BAR,
        ):  # fmt: skip
            if not isinstance(event, BookSnapshot):
                continue  # the tape: the paper exchange trades against the book
            snapshots.append(event)
            if len(snapshots) < SUBSTEPS:
                continue
            bar = first + int((snapshots[0].at - candles[0].at) / BAR)
            if bar >= index:
                for j in sorted(sent):
                    yield snapshots[j].at, 0, snapshots[j]
                candle = candles[bar - first]
                yield candle.at + BAR, 1, ReplayBar(candle, snapshots[-1])
            snapshots = []
        index = first + count


@dataclass
class ReplayRun:
    """What a run did: bars closed (all instruments) and books sent."""

    bars: int = 0
    books: int = 0
    symbols: tuple[str, ...] = ()


def market_replay_run(
    *,
    stop: threading.Event,
    speed: float = DEFAULT_SPEED,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], object] | None = None,
    max_bars: int | None = None,
) -> ReplayRun:
    """Replay every source instrument that has history, paced at ``speed`` bars a second,
    until ``stop`` is set (or ``max_bars`` bars closed, all instruments together). A book or
    bar that fails is logged and the replay goes on: one bad update must not stop the market."""
    speed = replay_speed_checked(speed)
    clock = clock or (lambda: datetime.now(UTC))
    cursors = []
    for source in REPLAY_SOURCES:
        if not Instrument.objects.filter(symbol=source.symbol, is_active=True).exists():
            continue
        cursor = replay_cursor(source)
        if cursor is not None:
            cursors.append((source, cursor))
    close_old_connections()
    run = ReplayRun(symbols=tuple(cursor.symbol for _, cursor in cursors))
    if not cursors:
        logger.warning("market replay: no instrument with stored history to continue (demo_load)")
        return run
    market_start = min(cursor.next_start for _, cursor in cursors)
    wall_start = clock()
    streams = [_keyed(source.symbol, replay_events(source, cursor, speed=speed))
               for source, cursor in cursors]  # fmt: skip
    for at, _, symbol, event in heapq.merge(*streams, key=lambda item: item[:3]):
        due = wall_start + (at - market_start) / (60 * speed)
        wait = (due - clock()).total_seconds()
        if wait > 0:
            (sleep or stop.wait)(wait)  # stop.wait: a stop ends the wait at once
        if stop.is_set():
            break
        try:
            if isinstance(event, ReplayBar):
                feed_bar_close(symbol=symbol, candle=event.candle, book=event.book)
                run.bars += 1
            else:
                paper_book_update(symbol=symbol, bids=event.bids, asks=event.asks, at=clock())
                run.books += 1
        except Exception:
            logger.exception("market replay: the %s %s at %s was not applied", symbol,
                             "bar" if isinstance(event, ReplayBar) else "book", at)  # fmt: skip
        finally:
            close_old_connections()
        if max_bars is not None and run.bars >= max_bars:
            break
    return run


def _keyed(
    symbol: str, events: Iterator[tuple[datetime, int, BookSnapshot | ReplayBar]]
) -> Iterator[tuple[datetime, int, str, BookSnapshot | ReplayBar]]:
    for at, order, event in events:
        yield at, order, symbol, event
