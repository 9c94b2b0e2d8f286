"""The L2 backtester's events/s (issue 5, item 8: "Also events/s on L2 data").

Data: about 1,000,000 events (book snapshots and trade prints) from the seeded L2 simulator
(execution.domain.marketsim) following a seeded random walk of 1-minute candles, turned into
an ``L2Stream`` once (its own row: simulating and converting is not the backtest).

Runs, each over the whole stream, costs on (maker 2 bps, taker 5 bps, 20 ms latency):

- SMA 10/20 on 1-minute bars built from the mids, market parents: the engine is fed lazily
  while nothing works (the default);
- the same with every event fed to the matching engine (``skip_idle=False``; the same result,
  which is checked here), the cost of a backtest where orders always work;
- a touch-imbalance book strategy trading limit parents with a 5 s timeout and a market
  fallback: decisions on snapshots, orders resting against the queue model.

The share of time in the matching engine (execution/domain/matching.py, own time) comes from
one cProfile run of each: profiling slows Python calls about alike, so the share stands while
the rate does not.
"""

from __future__ import annotations

import cProfile
import dataclasses
import pstats
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from bench.common import Result
from execution.domain.marketsim import Candle, simulate_events
from execution.domain.values import InstrumentSpec
from strategies.backtest.l2 import (
    L2BacktestConfig,
    L2BacktestResult,
    L2Stream,
    TouchImbalance,
    run_l2_backtest,
)
from strategies.library.sma_crossover import SmaCrossover, SmaCrossoverConfig

SEED = 20240605
BARS = 5_800  # about 172 events a bar with the simulator's defaults: about 1,000,000 events
SPEC = InstrumentSpec(
    symbol="BTC-USDT",
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.001"),
    min_quantity=Decimal("0.001"),
)
COSTS = L2BacktestConfig(
    order_size=Decimal("0.5"),
    initial_cash=Decimal(1_000_000),
    maker_fee_rate=Decimal("0.0002"),
    taker_fee_rate=Decimal("0.0005"),
    latency=timedelta(milliseconds=20),
    algorithm="market",
)


def synthetic_candles(count: int, seed: int = SEED) -> list[Candle]:
    """A seeded random walk of 1-minute mid candles around 30,000 with 5 BTC a bar."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    steps = rng.normal(0, 8, (count, 4))
    candles: list[Candle] = []
    price = 30_000.0
    for index in range(count):
        path = price + np.cumsum(steps[index])
        close = round(float(path[-1]), 1)
        high = round(max(price, close, float(path.max())) + 0.5, 1)
        low = round(min(price, close, float(path.min())) - 0.5, 1)
        candles.append(
            Candle(
                at=start + timedelta(minutes=index),
                open=Decimal(repr(round(price, 1))),
                high=Decimal(repr(high)),
                low=Decimal(repr(low)),
                close=Decimal(repr(close)),
                volume=Decimal(5),
            )
        )
        price = close
    return candles


def engine_share(run: Callable[[], object]) -> float:
    """The share of profiled time spent in the matching engine's own code."""
    profile = cProfile.Profile()
    profile.enable()
    run()
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in stats.values())
    engine = sum(
        row[2] for (path, _, _), row in stats.items() if path.endswith("domain/matching.py")
    )
    return float(engine / total) if total else 0.0


def _timed(run: Callable[[], L2BacktestResult]) -> tuple[L2BacktestResult, float]:
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def run() -> list[Result]:
    started = time.perf_counter()
    events = simulate_events(
        synthetic_candles(BARS), tick_size=SPEC.tick_size, lot_size=SPEC.lot_size, seed=SEED
    )
    stream = L2Stream.from_events(events, SPEC)
    built = time.perf_counter() - started
    count = len(stream)
    books, trades = len(stream.book_us), len(stream.trade_us)
    size = f"{count:,} events ({books:,} snapshots, {trades:,} prints)"
    results = [
        Result(
            "L2 stream: simulate + convert (setup)",
            count / built,
            "events/s",
            note=f"{size}, marketsim seed {SEED}",
        )
    ]

    sma = SmaCrossover(SmaCrossoverConfig(fast_window=10, slow_window=20))
    market = COSTS
    lazy, lazy_seconds = _timed(lambda: run_l2_backtest(sma, stream, market))
    eager, eager_seconds = _timed(lambda: run_l2_backtest(sma, stream, market, skip_idle=False))
    if dataclasses.replace(eager, engine_events=0) != dataclasses.replace(lazy, engine_events=0):
        raise AssertionError("feeding every event changed the result")
    lazy_share = engine_share(lambda: run_l2_backtest(sma, stream, market))
    eager_share = engine_share(lambda: run_l2_backtest(sma, stream, market, skip_idle=False))
    results += [
        Result(
            "L2 backtest: SMA 10/20 on 1-min bars, market parents",
            count / lazy_seconds,
            "events/s",
            note=f"{len(lazy.parents)} parents, {len(lazy.fills)} fills, "
            f"{lazy.engine_events:,} events through the engine ({lazy_share:.0%} of time "
            "in matching.py); idle stretches skipped",
        ),
        Result(
            "L2 backtest: the same, every event through the engine",
            count / eager_seconds,
            "events/s",
            note=f"identical result; {eager_share:.0%} of time in matching.py (cProfile)",
        ),
    ]

    imbalance = TouchImbalance(0.8)
    limit = dataclasses.replace(
        COSTS,
        order_size=Decimal("0.1"),
        algorithm="limit",
        algorithm_params={"timeout": 5, "fallback_to_market": True},
    )
    book, book_seconds = _timed(lambda: run_l2_backtest(imbalance, stream, limit))
    book_share = engine_share(lambda: run_l2_backtest(imbalance, stream, limit))
    results.append(
        Result(
            "L2 backtest: touch imbalance 0.8, limit 5 s + market",
            count / book_seconds,
            "events/s",
            note=f"{len(book.parents):,} parents, {len(book.fills):,} fills, "
            f"{book.engine_events:,} events through the engine ({book_share:.0%} of time "
            "in matching.py)",
        )
    )
    return results
