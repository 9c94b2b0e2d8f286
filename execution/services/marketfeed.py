"""A live simulated market for the paper exchange: books that move in real time.

With no exchange to listen to (``make run``, a demo, a paper account), each active instrument
gets a seeded random walk of one-minute candles from its last mark, and the L2 simulator
(execution.domain.marketsim) turns them into book snapshots, one a second, which go through
``paper_book_update`` as any feed's would: resting paper orders fill, positions are marked,
stops trigger and the spread breaker watches the spread. The walk continues from the last close
an hour at a time, so the feed runs for as long as the process does. Each candle, once closed,
is stored and announced (``execution.signals.bar_closed``) for the live strategy runner.

The paper venues live in the process that runs the feed (execution.services.venues), so the
feed runs in the web server's process (tradingsite.asgi starts it when MARKET_FEED is
``simulated``), or alone with ``manage.py market_feed`` next to workers that share it.
"""

from __future__ import annotations

import atexit
import heapq
import logging
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.db import close_old_connections, transaction

from execution.domain.marketsim import BookSnapshot, Candle, MarketSimConfig, simulate_events
from execution.domain.values import exact
from execution.models import BookSnapshot as StoredBook
from execution.models import Candle as StoredCandle
from execution.models import Instrument
from execution.services.marketdata import paper_book_update
from execution.signals import bar_closed

logger = logging.getLogger(__name__)

BAR = timedelta(minutes=1)
BARS_PER_BATCH = 60  # an hour of candles per simulation run
SNAPSHOTS_PER_BAR = 60  # one book a second
VOLATILITY_PER_BAR = 0.0008  # about 3% a day, a calm crypto day
NOTIONAL_PER_BAR = Decimal(250_000)  # traded per minute, in the quote currency


@dataclass(frozen=True, slots=True)
class FeedInstrument:
    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    start_price: Decimal


def simulated_candles(
    *, start_price: Decimal, start: datetime, bars: int, seed: int, tick_size: Decimal
) -> list[Candle]:
    """A seeded geometric random walk of one-minute candles from ``start_price``: each bar's
    path is 12 log-normal steps, its high and low the path's extremes."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, VOLATILITY_PER_BAR / math.sqrt(12), size=(bars, 12))
    path = float(start_price) * np.exp(np.cumsum(steps.ravel())).reshape(bars, 12)
    opens = np.concatenate([[float(start_price)], path[:-1, -1]])
    candles = []
    for n in range(bars):
        values = [opens[n], *path[n]]

        def on_grid(value: float) -> Decimal:
            ticks = (Decimal(repr(float(value))) / tick_size).to_integral_value()
            return max(tick_size, ticks * tick_size)

        open_, close = on_grid(values[0]), on_grid(values[-1])
        high = max(on_grid(max(values)), open_, close)
        low = min(on_grid(min(values)), open_, close)
        with exact():
            volume = NOTIONAL_PER_BAR / close * Decimal(repr(float(rng.uniform(0.5, 1.5))))
        candles.append(Candle(start + BAR * n, open_, high, low, close, volume))
    return candles


def book_stream(
    instrument: FeedInstrument, *, start: datetime, seed: int
) -> Iterator[BookSnapshot]:
    """Book snapshots of one instrument from ``start`` on, an hour's simulation at a time."""
    for _, event in feed_events(instrument, start=start, seed=seed):
        if isinstance(event, BookSnapshot):
            yield event


def feed_events(
    instrument: FeedInstrument, *, start: datetime, seed: int
) -> Iterator[tuple[datetime, BookSnapshot | Candle]]:
    """Book snapshots, and each candle once it has closed (at its end time, before the books
    from then on), of one instrument from ``start`` on, an hour's simulation at a time."""
    price, at, batch = instrument.start_price, start, 0
    config = MarketSimConfig(substeps=SNAPSHOTS_PER_BAR)
    while True:
        candles = simulated_candles(
            start_price=price, start=at, bars=BARS_PER_BATCH, seed=seed + batch,
            tick_size=instrument.tick_size,
        )  # fmt: skip
        closing = iter(candles)
        pending = next(closing, None)
        for event in simulate_events(
            candles, tick_size=instrument.tick_size, lot_size=instrument.lot_size,
            seed=seed + batch, config=config, bar_duration=BAR,
        ):  # fmt: skip
            if not isinstance(event, BookSnapshot):
                continue
            while pending is not None and event.at >= pending.at + BAR:
                yield pending.at + BAR, pending
                pending = next(closing, None)
            yield event.at, event
        while pending is not None:
            yield pending.at + BAR, pending
            pending = next(closing, None)
        price, at, batch = candles[-1].close, at + BAR * BARS_PER_BATCH, batch + 1


def feed_bar_close(
    *, symbol: str, candle: Candle, interval: str = "1m", book: BookSnapshot | None = None
) -> None:
    """Store a closed candle of the feed (one already stored is kept as it is), with the
    book at its close if given (strategies that read the book find it there), and announce
    it after commit (``execution.signals.bar_closed``): the strategy runner listens, and this
    app never imports it."""
    with transaction.atomic():
        instrument = Instrument.objects.get(symbol=symbol)
        StoredCandle.objects.get_or_create(
            instrument=instrument, interval=interval, open_time=candle.at,
            defaults={
                "open": float(candle.open), "high": float(candle.high), "low": float(candle.low),
                "close": float(candle.close), "volume": float(candle.volume),
            },
        )  # fmt: skip
        if (
            book is not None
            and not StoredBook.objects.filter(instrument=instrument, taken_at=book.at).exists()
        ):
            StoredBook.objects.create(
                instrument=instrument, taken_at=book.at, depth=len(book.bids),
                bids=[[float(p), float(q)] for p, q in book.bids],
                asks=[[float(p), float(q)] for p, q in book.asks],
            )  # fmt: skip
        transaction.on_commit(
            lambda: bar_closed.send(
                sender=StoredCandle, symbol=symbol, interval=interval, bar_start=candle.at
            )
        )


def feed_instruments() -> list[FeedInstrument]:
    """Every active instrument with a price to start from (its mark)."""
    return [
        FeedInstrument(i.symbol, i.tick_size, i.lot_size, i.mark_price)
        for i in Instrument.objects.filter(is_active=True, mark_price__isnull=False)
        .order_by("symbol")
        .only("symbol", "tick_size", "lot_size", "mark_price")
    ]


def market_feed_run(
    *,
    stop: threading.Event,
    seed: int = 20261121,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], object] | None = None,
    max_snapshots: int | None = None,
) -> int:
    """Feed every active instrument's simulated books to the paper exchange in real time until
    ``stop`` is set (or ``max_snapshots`` went out); returns how many went out. A snapshot
    that fails is logged and the feed goes on: one bad update must not stop the market."""
    clock = clock or (lambda: datetime.now(UTC))
    # The walk starts on the minute, so live candles line up with stored history; the books of
    # the part of this minute already gone are skipped, not sent in a burst.
    began = clock()
    start = began.replace(second=0, microsecond=0)
    catch_up = began - timedelta(seconds=1)
    streams = [
        _keyed(instrument.symbol, feed_events(instrument, start=start, seed=seed + number * 1000))
        for number, instrument in enumerate(feed_instruments())
    ]
    if not streams:
        logger.warning("market feed: no active instrument with a mark price to start from")
        return 0
    sent = 0
    for at, symbol, event in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        if at < catch_up and isinstance(event, BookSnapshot):
            continue
        wait = (at - clock()).total_seconds()
        if wait > 0:
            (sleep or stop.wait)(wait)  # stop.wait: a stop ends the wait at once
        if stop.is_set() or (max_snapshots is not None and sent >= max_snapshots):
            break
        try:
            if isinstance(event, Candle):
                feed_bar_close(symbol=symbol, candle=event)
            else:
                paper_book_update(symbol=symbol, bids=event.bids, asks=event.asks, at=at)
        except Exception:
            logger.exception("market feed: the %s %s at %s was not applied", symbol,
                             "candle" if isinstance(event, Candle) else "book", at)  # fmt: skip
        finally:
            close_old_connections()
        sent += isinstance(event, BookSnapshot)
    return sent


def _keyed(
    symbol: str, events: Iterator[tuple[datetime, BookSnapshot | Candle]]
) -> Iterator[tuple[datetime, str, BookSnapshot | Candle]]:
    for at, event in events:
        yield at, symbol, event


def market_feed_start(
    *, seed: int = 20261121, source: str | None = None, speed: float | None = None
) -> threading.Event:
    """Run the simulated market in a daemon thread of this process. What it follows is
    ``source`` (default: the MARKET_SOURCE setting): ``walk``, the seeded random walk above,
    or ``replay``, the package history (execution.services.replay) at ``speed`` bars a second
    (default: REPLAY_SPEED). Set the returned event to stop it; the process also stops it at
    exit, so a bar being stored when Ctrl-C comes is finished, not cut."""
    stop = threading.Event()
    source = source or settings.MARKET_SOURCE
    if source == "replay":
        from execution.services.replay import market_replay_run

        speed = settings.REPLAY_SPEED if speed is None else speed
        target: Callable[..., object] = market_replay_run
        kwargs: dict[str, object] = {"stop": stop, "speed": speed}
        described = f"package history replayed at {speed:g} bars a second"
    else:
        target, kwargs = market_feed_run, {"stop": stop, "seed": seed}
        described = "simulated books for the paper exchange, one a second"
    thread = threading.Thread(target=target, kwargs=kwargs, name="market-feed", daemon=True)
    thread.start()

    def stop_feed() -> None:
        stop.set()
        thread.join(timeout=10)

    # Stopped before the interpreter shuts down its thread pools (threading's own exit hooks
    # run first; atexit's after them), so the bar in hand is finished, pushes included, and
    # Ctrl-C prints no traceback.
    on_exit: Callable[[Callable[[], None]], object] = getattr(
        threading, "_register_atexit", atexit.register
    )
    on_exit(stop_feed)
    logger.info("market feed: %s", described)
    return stop
