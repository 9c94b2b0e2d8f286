"""Seeded bar series and the checks every library strategy must pass."""

from __future__ import annotations

import numpy as np

from strategies.domain.base import Bars, Strategy, signals_from_targets


def random_walk_bars(count: int, seed: int = 7, *, drift: float = 0.0) -> Bars:
    rng = np.random.default_rng(seed)
    close = np.round(100 + np.cumsum(rng.normal(drift, 0.5, count)), 2)
    close = np.maximum(close, 1.0)
    open_ = np.round(np.concatenate(([100.0], close[:-1])), 2).astype(np.float64)
    high = np.round(np.maximum(open_, close) + 0.05, 2)
    low = np.round(np.minimum(open_, close) - 0.05, 2)
    starts = np.datetime64("2024-01-01T00:00", "us") + np.arange(count) * np.timedelta64(1, "h")
    volume = np.round(rng.uniform(5, 15, count), 3)
    return Bars(starts, open_, high, low, close, volume)


def assert_no_lookahead(strategy: Strategy, bars: Bars, cuts: tuple[int, ...]) -> None:
    whole = strategy.target_positions(bars)
    for cut in cuts:
        np.testing.assert_array_equal(strategy.target_positions(bars.head(cut)), whole[:cut])


def assert_paths_agree(strategy: Strategy, bars: Bars, *, min_signals: int) -> None:
    live = strategy.live()
    incremental = [signal for bar in bars if (signal := live.on_bar(bar)) is not None]
    vectorised = signals_from_targets(bars, strategy.target_positions(bars))
    assert len(vectorised) >= min_signals
    assert incremental == vectorised
