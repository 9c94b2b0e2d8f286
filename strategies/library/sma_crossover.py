"""SMA crossover: long after the fast average crosses above the slow one, short (or flat)
after it crosses below, holding the position in between.

A cross is strict, as in the usual definition (and the ``backtesting`` package's
``crossover``): at bar i, fast[i-1] < slow[i-1] and fast[i] > slow[i]. Touching (equal
averages) is not a cross. Before the first cross the target is flat.

Averages sum the window oldest first, one add at a time, in both paths: the vectorised and the
incremental path then produce bit-identical floats, so their decisions agree exactly. They are
then rounded to AVERAGE_DECIMALS places: on a price grid the two averages are often equal
exactly (a tie, no cross), and float summation noise of one ulp must not turn a tie into a
cross. Nine places keep every average of prices with up to 7 decimals and below 10^6 exact.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from execution.domain.errors import DomainError
from strategies.domain.base import Bar, Bars, FloatArray, Signal, signal_for

AVERAGE_DECIMALS = 9


@dataclass(frozen=True, slots=True)
class SmaCrossoverConfig:
    fast_window: int = 10
    slow_window: int = 20
    long_only: bool = False  # a cross down goes flat instead of short

    def __post_init__(self) -> None:
        for name in ("fast_window", "slow_window"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise DomainError(f"{name} must be a whole number of bars >= 1, got {value!r}")
        if self.fast_window >= self.slow_window:
            raise DomainError(
                f"fast_window {self.fast_window} must be shorter than slow_window "
                f"{self.slow_window}"
            )
        if type(self.long_only) is not bool:
            raise DomainError(f"long_only must be true or false, got {self.long_only!r}")


def simple_moving_average(close: FloatArray, window: int) -> FloatArray:
    """The mean of the last ``window`` closes at each bar, rounded to AVERAGE_DECIMALS; NaN
    until the window is full."""
    n = len(close)
    out = np.full(n, np.nan)
    if n < window:
        return out
    total = close[: n - window + 1].copy()
    for offset in range(1, window):
        total += close[offset : n - window + 1 + offset]
    out[window - 1 :] = np.round(total / window, AVERAGE_DECIMALS)
    return out


class SmaCrossover:
    """The strategy; see the module docstring."""

    def __init__(self, config: SmaCrossoverConfig = SmaCrossoverConfig()) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return f"sma_crossover_{self.config.fast_window}_{self.config.slow_window}"

    @property
    def warmup_bars(self) -> int:
        # The slow average needs slow_window bars, and a cross needs the bar before it too.
        return self.config.slow_window

    def target_positions(self, bars: Bars) -> FloatArray:
        fast = simple_moving_average(bars.close, self.config.fast_window)
        slow = simple_moving_average(bars.close, self.config.slow_window)
        with np.errstate(invalid="ignore"):  # NaN during warm-up compares False: no cross
            up = np.zeros(len(bars), dtype=bool)
            down = np.zeros(len(bars), dtype=bool)
            up[1:] = (fast[:-1] < slow[:-1]) & (fast[1:] > slow[1:])
            down[1:] = (fast[:-1] > slow[:-1]) & (fast[1:] < slow[1:])
        on_cross = np.where(up, 1.0, -1.0 if not self.config.long_only else 0.0)
        crossed = up | down
        # Hold the last cross's target: index of the latest cross at or before each bar.
        last = np.maximum.accumulate(np.where(crossed, np.arange(len(bars)), -1))
        targets = np.where(last >= 0, on_cross[np.maximum(last, 0)], 0.0)
        return targets.astype(np.float64)

    def live(self) -> LiveSmaCrossover:
        return LiveSmaCrossover(self.config)


class LiveSmaCrossover:
    """The incremental path: the last slow_window closes and the previous bar's averages."""

    def __init__(self, config: SmaCrossoverConfig) -> None:
        self.config = config
        self._closes: deque[float] = deque(maxlen=config.slow_window)
        self._previous: tuple[float, float] | None = None
        self._target = 0.0

    def _mean(self, window: int) -> float:
        closes = list(self._closes)[-window:]
        total = closes[0]
        for close in closes[1:]:
            total += close
        return float(np.round(np.float64(total / window), AVERAGE_DECIMALS))

    def on_bar(self, bar: Bar) -> Signal | None:
        self._closes.append(bar.close)
        if len(self._closes) < self.config.slow_window:
            return None
        fast = self._mean(self.config.fast_window)
        slow = self._mean(self.config.slow_window)
        previous, self._previous = self._previous, (fast, slow)
        if previous is None:
            return None
        target = self._target
        if previous[0] < previous[1] and fast > slow:
            target = 1.0
        elif previous[0] > previous[1] and fast < slow:
            target = 0.0 if self.config.long_only else -1.0
        if target == self._target:
            return None
        signal = signal_for(bar, target=target, previous=self._target)
        self._target = target
        return signal
