"""Mean reversion on the z-score of the close against its rolling mean and standard deviation.

z = (close - mean) / std over the last ``window`` closes (this bar's included; population
standard deviation; z = 0 when the window is flat). From flat, the strategy goes long when
z < -entry_z (stretched down, expected back up) and short when z > entry_z (flat instead with
``long_only``). A long exits once z >= -exit_z, a short once z <= exit_z: back inside the exit
band. An exit and the opposite entry can happen on the same bar (z jumping from one extreme to
the other reverses). Before the window is full the target is flat.

Both paths sum the window oldest first, one add at a time, and square by multiplying, so the
vectorised and the incremental z-scores are the same floats and their decisions agree exactly.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from strategies.domain.base import Bar, Bars, FloatArray, Signal, signal_for
from strategies.library.settings import (
    InvalidConfig,
    about,
    parse_strategy_settings,
    settings_from_dict,
    settings_schema,
    settings_to_dict,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeanReversionConfig:
    window: int = field(default=20, metadata=about("closes in the rolling mean and std", minimum=2))
    entry_z: float = field(
        default=2.0, metadata=about("enter when |z| is beyond this", positive=True)
    )
    exit_z: float = field(
        default=0.5, metadata=about("exit when z is back inside +-exit_z", minimum=0)
    )
    long_only: bool = field(
        default=False, metadata=about("a stretch up goes flat instead of short")
    )

    def __post_init__(self) -> None:
        parse_strategy_settings(self)
        if self.exit_z >= self.entry_z:
            raise InvalidConfig(
                "exit_z", f"exit_z ({self.exit_z}) must be below entry_z ({self.entry_z})"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> MeanReversionConfig:
        return settings_from_dict(cls, data)

    @classmethod
    def schema(cls) -> dict[str, Any]:
        return settings_schema(cls)

    def to_dict(self) -> dict[str, Any]:
        return settings_to_dict(self)


def rolling_zscore(close: FloatArray, window: int) -> FloatArray:
    """z of each close against the last ``window`` closes; NaN until the window is full."""
    n = len(close)
    out = np.full(n, np.nan)
    if n < window:
        return out
    rows = n - window + 1
    total = close[:rows].copy()
    for offset in range(1, window):
        total += close[offset : offset + rows]
    mean = total / window
    squares = np.zeros(rows)
    for offset in range(window):
        deviation = close[offset : offset + rows] - mean
        squares += deviation * deviation
    std = np.sqrt(squares / window)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(std > 0, (close[window - 1 :] - mean) / std, 0.0)
    out[window - 1 :] = z
    return out


def _zscore(closes: deque[float], window: int) -> float:
    """``rolling_zscore`` of the newest close, from the last ``window`` closes."""
    values = list(closes)
    total = values[0]
    for value in values[1:]:
        total += value
    mean = total / window
    squares = 0.0
    for value in values:
        deviation = value - mean
        squares += deviation * deviation
    std = math.sqrt(squares / window)
    return (values[-1] - mean) / std if std > 0 else 0.0


def next_target(config: MeanReversionConfig, target: float, z: float) -> float:
    """The target after a bar with z-score ``z``, holding ``target`` before it."""
    if (target > 0 and z >= -config.exit_z) or (target < 0 and z <= config.exit_z):
        target = 0.0
    if target == 0.0:
        if z < -config.entry_z:
            target = 1.0
        elif z > config.entry_z:
            target = 0.0 if config.long_only else -1.0
    return target


class MeanReversion:
    """The strategy; see the module docstring."""

    def __init__(self, config: MeanReversionConfig = MeanReversionConfig()) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return f"mean_reversion_{self.config.window}"

    @property
    def warmup_bars(self) -> int:
        return self.config.window - 1

    def target_positions(self, bars: Bars) -> FloatArray:
        z = rolling_zscore(bars.close, self.config.window)
        targets = np.zeros(len(bars))
        target = 0.0
        for index in range(self.config.window - 1, len(bars)):
            target = next_target(self.config, target, float(z[index]))
            targets[index] = target
        return targets

    def live(self) -> LiveMeanReversion:
        return LiveMeanReversion(self.config)


class LiveMeanReversion:
    def __init__(self, config: MeanReversionConfig) -> None:
        self.config = config
        self._closes: deque[float] = deque(maxlen=config.window)
        self._target = 0.0

    def on_bar(self, bar: Bar) -> Signal | None:
        self._closes.append(bar.close)
        if len(self._closes) < self.config.window:
            return None
        target = next_target(self.config, self._target, _zscore(self._closes, self.config.window))
        if target == self._target:
            return None
        signal = signal_for(bar, target=target, previous=self._target)
        self._target = target
        return signal
