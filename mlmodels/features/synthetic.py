"""Generated market data with a fixed seed, for tests, benchmarks and demos: candles from a
random walk, per-bar trade flow and an L2 book around the close. Not a market model: the
numbers only need the shapes and the edge cases of real data (flat bars, bars with no trades,
time gaps, books whose touch moves and refills)."""

from __future__ import annotations

import numpy as np

from mlmodels.features.inputs import FeatureInputs, OrderBookSeries, TradeFlowSeries
from mlmodels.features.primitives import FloatArray

SEED = 20240601
START = 1_717_200_000 * 1_000_000_000  # 2024-06-01 00:00 UTC, in ns
TICK = 0.1


def synthetic_candles(
    rows: int, *, seed: int = SEED, bar_seconds: float = 1.0, price: float = 30_000.0
) -> FeatureInputs:
    """Candles and volume of a random walk; one bar in 50 follows a gap of 2-30 bars."""
    rng = np.random.default_rng(seed)
    bar = int(bar_seconds * 1e9)
    steps = np.where(rng.random(rows) < 0.02, rng.integers(2, 31, rows), 1)
    time = START + np.cumsum(steps) * bar
    moves = rng.standard_normal(rows) * 2e-4
    moves[rng.random(rows) < 0.05] = 0.0  # flat bars
    close = np.round(price * np.exp(np.cumsum(moves)) / TICK) * TICK
    open_ = np.concatenate(([close[0]], close[:-1]))
    wick = np.abs(rng.standard_normal((2, rows))) * price * 1e-4
    wick[:, rng.random(rows) < 0.05] = 0.0
    high = np.maximum(open_, close) + np.round(wick[0] / TICK) * TICK
    low = np.minimum(open_, close) - np.round(wick[1] / TICK) * TICK
    volume = rng.gamma(2.0, 1.5, rows)
    volume[rng.random(rows) < 0.03] = 0.0
    return FeatureInputs(time=time, open=open_, high=high, low=low, close=close, volume=volume)


def synthetic_trades(
    rows: int, *, seed: int = SEED, large_share: float = 0.3, no_trades: float = 0.03
) -> TradeFlowSeries:
    """Per-bar flow: buyer and seller volume, trade counts and a large-order part of each."""
    rng = np.random.default_rng(seed + 1)
    count = rng.poisson(12, rows).astype(np.float64) + 1.0
    lean = rng.beta(2.0, 2.0, rows)  # the buyers' share of the bar
    total = rng.gamma(2.0, 1.5, rows)
    quiet = rng.random(rows) < no_trades
    count[quiet] = total[quiet] = 0.0
    buy, sell = total * lean, total * (1.0 - lean)
    large = np.clip(rng.normal(large_share, 0.2, (2, rows)), 0.0, 1.0)
    large[:, rng.random(rows) < 0.2] = 0.0  # bars with no large trade
    return TradeFlowSeries(
        buy_volume=buy,
        sell_volume=sell,
        trade_count=count,
        large_buy_volume=buy * large[0],
        large_sell_volume=sell * large[1],
    )


def synthetic_book(
    close: FloatArray, *, levels: int = 10, seed: int = SEED, tick: float = TICK
) -> OrderBookSeries:
    """A book around each close: a spread of 1-4 ticks that persists, levels 1-3 ticks apart,
    sizes that grow with depth; the touch refills or thins from bar to bar."""
    rng = np.random.default_rng(seed + 2)
    rows = len(close)
    regime = np.repeat(rng.integers(1, 5, rows // 20 + 1), 20)[:rows]
    spread = regime + (rng.random(rows) < 0.1)
    best_bid = np.floor(close / tick) - spread // 2
    gaps = 1 + (rng.random((2, rows, levels - 1)) < 0.3) + (rng.random((2, rows, levels - 1)) < 0.1)
    bid_ticks = best_bid[:, None] - np.concatenate((np.zeros((rows, 1)), np.cumsum(gaps[0], 1)), 1)
    ask_ticks = (best_bid + spread)[:, None] + np.concatenate(
        (np.zeros((rows, 1)), np.cumsum(gaps[1], 1)), 1
    )
    depth = 1.0 + 0.3 * np.arange(levels)
    sizes = rng.lognormal(0.0, 0.8, (2, rows, levels)) * depth
    return OrderBookSeries(
        bid_prices=bid_ticks * tick,
        bid_sizes=sizes[0],
        ask_prices=ask_ticks * tick,
        ask_sizes=sizes[1],
    )


def synthetic_inputs(rows: int, *, seed: int = SEED, levels: int = 10) -> FeatureInputs:
    """Candles, volume, trade flow and a ``levels``-level book: every input bundle."""
    candles = synthetic_candles(rows, seed=seed)
    return FeatureInputs(
        time=candles.time,
        open=candles.open,
        high=candles.high,
        low=candles.low,
        close=candles.close,
        volume=candles.volume,
        trades=synthetic_trades(rows, seed=seed),
        book=synthetic_book(candles.close, levels=levels, seed=seed),
    )
