"""Market orders matched per second against a 50-level book: the integer matching core, and
the paper venue's ``submit`` (Decimal edges, fees, position ledger, reports).

The book is data generated here with a fixed seed: 50 levels a side one tick apart around a
random-walk mid, sizes 0.5-5 BTC. Orders are random buys and sells of 0.001-1 BTC. A fresh
snapshot replaces the book every 100 orders, and building and applying it is inside the
timing, so the book never runs dry and the figure includes keeping it fresh.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.common import Result
from execution.domain.matching import EngineOrder, MatchingEngine, OrderBook
from execution.domain.orders import FillEvent, OrderRequest, OrderType
from execution.domain.positions import PositionLedger
from execution.domain.values import InstrumentSpec, Side
from execution.venues.paper import PaperVenue

SEED = 20240601
LEVELS = 50
ORDERS = 50_000
REFRESH_EVERY = 100
RUNS = 3
TARGET = ">= 50,000 orders/s"

SPEC = InstrumentSpec(
    symbol="BTCUSDT",
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.001"),
    min_quantity=Decimal("0.001"),
)
START = datetime(2024, 6, 1, tzinfo=UTC)

IntLevels = list[tuple[int, int]]


def _snapshots(count: int, rng: random.Random) -> list[tuple[IntLevels, IntLevels]]:
    """Books in ticks and lots: a random-walk mid (in ticks of 0.1), 0.5-5 BTC a level."""
    mid = 500_000
    books = []
    for _ in range(count):
        mid += rng.randint(-20, 20)
        bids = [(mid - level, rng.randint(500, 5_000)) for level in range(1, LEVELS + 1)]
        asks = [(mid + level, rng.randint(500, 5_000)) for level in range(1, LEVELS + 1)]
        books.append((bids, asks))
    return books


def _orders(count: int, rng: random.Random) -> list[tuple[Side, int]]:
    return [(rng.choice((Side.BUY, Side.SELL)), rng.randint(1, 1_000)) for _ in range(count)]


def _timed(work: Callable[[], int]) -> tuple[float, int]:
    """CPU seconds of ``work`` and the count it returns: the machine is shared, and CPU time
    is what a busy neighbour does not inflate."""
    started = time.process_time()
    count = work()
    return time.process_time() - started, count


def _best(runs: Callable[[], tuple[float, int]]) -> tuple[float, int]:
    return min(runs() for _ in range(RUNS))


def bench_core() -> tuple[float, float]:
    """Orders/s and fills/order through ``MatchingEngine`` directly, in ticks and lots."""
    rng = random.Random(SEED)
    books = _snapshots(ORDERS // REFRESH_EVERY, rng)
    orders = _orders(ORDERS, rng)

    def work() -> int:
        engine = MatchingEngine(venue="bench")
        fills = 0
        for index, (side, lots) in enumerate(orders):
            if index % REFRESH_EVERY == 0:
                bids, asks = books[index // REFRESH_EVERY]
                engine.on_book("BTCUSDT", OrderBook(bids, asks, START))
            order = EngineOrder(
                order_id=str(index),
                symbol="BTCUSDT",
                side=side,
                order_type=OrderType.MARKET,
                lots=lots,
            )
            fills += len(engine.submit(order, START))
        return fills

    seconds, fills = _best(lambda: _timed(work))
    return ORDERS / seconds, fills / ORDERS


def bench_venue() -> tuple[float, float, list[FillEvent]]:
    """Orders/s and fills/order through ``PaperVenue.submit`` with maker/taker fees, and the
    fills it made (as ledger events, for ``bench_ledger``)."""
    rng = random.Random(SEED)
    lot, tick = SPEC.lot_size, SPEC.tick_size
    books = [
        ([(tick * p, lot * s) for p, s in bids], [(tick * p, lot * s) for p, s in asks])
        for bids, asks in _snapshots(ORDERS // REFRESH_EVERY, rng)
    ]
    # The caller validates requests before a venue sees them, so building them is not timed.
    requests = [
        OrderRequest.build(SPEC, side=side, order_type=OrderType.MARKET, quantity=lot * lots)
        for side, lots in _orders(ORDERS, rng)
    ]
    client_order_ids = [f"bench-{index}" for index in range(ORDERS)]
    events: list[FillEvent] = []

    def work(keep_fills: bool = False) -> int:
        venue = PaperVenue(
            instruments=[SPEC],
            clock=lambda: START,
            maker_fee_rate=Decimal("0.0002"),
            taker_fee_rate=Decimal("0.0005"),
            balances={"USDT": Decimal(1_000_000)},
        )
        fills = 0
        for index, request in enumerate(requests):
            if index % REFRESH_EVERY == 0:
                bids, asks = books[index // REFRESH_EVERY]
                venue.update_book("BTCUSDT", bids, asks, START + timedelta(seconds=index))
            report = venue.submit(request, client_order_id=client_order_ids[index])
            fills += len(report.fills)
            if keep_fills:
                events.extend(
                    FillEvent(f.venue_trade_id, f.side, f.quantity, f.price, f.fee, f.liquidity)
                    for f in report.fills
                )
        return fills

    seconds, fills = _best(lambda: _timed(work))
    work(keep_fills=True)  # untimed: the fills for bench_ledger
    return ORDERS / seconds, fills / ORDERS, events


def bench_ledger(events: list[FillEvent]) -> float:
    """Seconds an order that ``PositionLedger.apply`` alone takes for the venue's fills."""

    def work() -> int:
        ledger = PositionLedger()
        for event in events:
            ledger.apply("BTCUSDT", event)
        return len(events)

    seconds, _ = _best(lambda: _timed(work))
    return seconds / ORDERS


def run() -> list[Result]:
    core_rate, core_fills = bench_core()
    venue_rate, venue_fills, events = bench_venue()
    ledger_seconds = bench_ledger(events)
    setting = (
        f"{ORDERS:,} market orders of 0.001-1 BTC against a {LEVELS}-level book (0.5-5 BTC a "
        f"level), a fresh snapshot every {REFRESH_EVERY} orders inside the timing; CPU time, "
        f"best of {RUNS} runs"
    )
    return [
        Result(
            name="matching core: market orders (ticks and lots)",
            value=round(core_rate),
            unit="orders/s",
            target=TARGET,
            note=f"{setting}; {core_fills:.2f} fills an order",
        ),
        Result(
            name="PaperVenue.submit: market orders (Decimal, fees, ledger, reports)",
            value=round(venue_rate),
            unit="orders/s",
            target=TARGET,
            note=(
                f"{setting}; snapshots given as Decimal levels; {venue_fills:.2f} fills an "
                "order, each with its fee, a position ledger entry and a report"
            ),
        ),
        Result(
            name="of which positions.PositionLedger.apply (the same fills, replayed)",
            value=round(ledger_seconds * 1e6, 1),
            unit="us/order",
            note=(
                f"{ledger_seconds * venue_rate:.0%} of the venue path; "
                f"{1e6 / venue_rate:.1f} us an order in all"
            ),
        ),
    ]
