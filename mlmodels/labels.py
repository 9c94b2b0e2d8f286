"""Labels of a bar series: what a model learns to predict at each bar, from the bars after it.

A label at bar t reads closes after t (that is what makes it a label): a model trained on it
must not be evaluated on bars within ``horizon`` of its training rows (see ``training``, which
purges them). Where the future needed is beyond the series the label is NaN, never a guess.

Prices are closes (positive floats); ``half_spread`` is in price units (half the quoted
spread), ``cost`` a fraction of the traded value paid per side (the fee).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from execution.domain.errors import DomainError

FloatArray = npt.NDArray[np.float64]


class InvalidLabelInputs(DomainError):
    """Prices or settings a label cannot be computed from; the message names which."""


def _prices(values: npt.ArrayLike, name: str) -> FloatArray:
    prices = np.asarray(values, dtype=np.float64)
    if prices.ndim != 1:
        raise InvalidLabelInputs(f"{name} must be one price per bar, got shape {prices.shape}")
    bad = np.flatnonzero(~(np.isfinite(prices) & (prices > 0)))
    if len(bad):
        raise InvalidLabelInputs(f"{name} is not a positive number at row {bad[0]}")
    return prices


def _horizon(horizon: int) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise InvalidLabelInputs(f"horizon must be a whole number of bars >= 1, got {horizon!r}")
    return int(horizon)


def _fraction(value: float, name: str) -> float:
    if not (math.isfinite(value) and value >= 0):
        raise InvalidLabelInputs(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def forward_returns(close: npt.ArrayLike, horizon: int) -> FloatArray:
    """close[t + horizon] / close[t] - 1 at each bar t; NaN for the last ``horizon`` bars,
    whose future is beyond the series."""
    prices = _prices(close, "close")
    horizon = _horizon(horizon)
    returns = np.full(len(prices), math.nan)
    if len(prices) > horizon:
        returns[:-horizon] = prices[horizon:] / prices[:-horizon] - 1.0
    return returns


def dead_zone(
    close: npt.ArrayLike, *, cost: float, half_spread: float | npt.ArrayLike
) -> FloatArray:
    """Per bar, the smallest move worth a label: the fee plus half the spread as a fraction of
    the price. A move no larger is noise a trade could not profit from."""
    prices = _prices(close, "close")
    spread = np.broadcast_to(np.asarray(half_spread, dtype=np.float64), prices.shape)
    bad = np.flatnonzero(~(np.isfinite(spread) & (spread >= 0)))
    if len(bad):
        raise InvalidLabelInputs(f"half_spread must be a finite number >= 0 (row {bad[0]})")
    zone: FloatArray = _fraction(cost, "cost") + spread / prices
    return zone


def direction_labels(
    close: npt.ArrayLike, *, horizon: int, cost: float, half_spread: float | npt.ArrayLike
) -> FloatArray:
    """1.0 where the close ``horizon`` bars later is up by more than the dead zone, 0.0 where it
    is down by more; NaN inside the dead zone (|return| <= cost + half_spread / price) and where
    the future is beyond the series."""
    returns = forward_returns(close, horizon)
    zone = dead_zone(close, cost=cost, half_spread=half_spread)
    labels = np.full(len(returns), math.nan)
    labels[returns > zone] = 1.0  # NaN compares False: unknown futures stay NaN
    labels[returns < -zone] = 0.0
    return labels


def triple_barrier_labels(
    close: npt.ArrayLike,
    *,
    horizon: int,
    take_profit: float,
    stop_loss: float,
    high: npt.ArrayLike | None = None,
    low: npt.ArrayLike | None = None,
) -> FloatArray:
    """For a position opened at bar t's close: 1.0 if the price reaches
    close[t] * (1 + take_profit) before close[t] * (1 - stop_loss) within ``horizon`` bars, 0.0
    if the stop comes first, NaN if neither does (the vertical barrier), if both are touched in
    the same bar (the order inside a bar is unknown), or if the window runs past the series.

    With ``high`` and ``low`` a barrier is touched intrabar; without them only closes count.
    """
    prices = _prices(close, "close")
    horizon = _horizon(horizon)
    if not (math.isfinite(take_profit) and take_profit > 0):
        raise InvalidLabelInputs(f"take_profit must be a fraction > 0, got {take_profit!r}")
    if not (math.isfinite(stop_loss) and 0 < stop_loss < 1):
        raise InvalidLabelInputs(f"stop_loss must be a fraction in (0, 1), got {stop_loss!r}")
    if (high is None) != (low is None):
        raise InvalidLabelInputs("give both high and low, or neither")
    highs = prices if high is None else _prices(high, "high")
    lows = prices if low is None else _prices(low, "low")
    if not len(highs) == len(lows) == len(prices):
        raise InvalidLabelInputs("high, low and close differ in length")
    rows = len(prices)
    labels = np.full(rows, math.nan)
    open_rows = max(rows - horizon, 0)  # bars whose whole window is known
    undecided = np.ones(open_rows, dtype=bool)
    upper = prices[:open_rows] * (1.0 + take_profit)
    lower = prices[:open_rows] * (1.0 - stop_loss)
    for step in range(1, horizon + 1):
        up = highs[step : step + open_rows] >= upper
        down = lows[step : step + open_rows] <= lower
        labels[:open_rows][undecided & up & ~down] = 1.0
        labels[:open_rows][undecided & down & ~up] = 0.0
        undecided &= ~(up | down)  # a bar touching both stays NaN
    return labels
