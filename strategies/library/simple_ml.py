"""SimpleML: a logistic regression on recent prices, refitted as it goes (walk-forward by
construction), long when P(up) > buy_above, short (flat with ``long_only``) when P(up) <
sell_below, holding the position in between.

Features of bar t, from closes up to t only (``simple_ml_features``):

- ``return_1`` .. ``return_<lookback>``: the one-bar returns of the last ``lookback`` bars
  (``return_k`` is close[t-k+1] / close[t-k] - 1);
- ``price_vs_ma``: close[t] / (mean of the last ``ma_window`` closes) - 1;
- ``volatility``: the population standard deviation of the last ``vol_window`` one-bar returns.

Label of bar i: 1 when close[i + horizon] > close[i], else 0; it is known at bar i + horizon.

Refits happen at bar ``first_fit`` (the first bar with ``min_train_rows`` rows whose label is
known) and every ``refit_every`` bars after it. The fit at bar r uses the rows of the last
``train_window`` bars (r - train_window + 1 .. r) whose label horizon ended at or before r, so
nothing after r is read; the model then decides bars r .. r + refit_every - 1. Before the first
fit, and while a training window holds a single class (no fit; the previous model stays), the
target is flat or held.

The fit: features standardised by the training rows' mean and standard deviation, then an
L2-regularised logistic regression (``c`` is the inverse strength, as scikit-learn's ``C``; the
intercept is not penalised) solved by damped Newton steps from zero. No randomness: the same
rows always give the same model. Every sum is written out column by column (no BLAS, whose
threads and kernels may order a dot product differently), and the features of a row depend on
its own window only, so the vectorised and the live path fit the same floats and make the same
decisions. Decisions compare the log-odds with logit(buy_above) and logit(sell_below), which is
P(up) against the thresholds without rounding it through exp.
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

_NEWTON_STEPS = 50
_NEWTON_TOLERANCE = 1e-10


@dataclass(frozen=True, slots=True, kw_only=True)
class SimpleMlConfig:
    lookback: int = field(
        default=5, metadata=about("one-bar returns used as features", minimum=1, maximum=20)
    )
    ma_window: int = field(
        default=20,
        metadata=about("closes in the moving average of price_vs_ma", minimum=2, maximum=1000),
    )
    vol_window: int = field(
        default=20,
        metadata=about("one-bar returns in the volatility feature", minimum=2, maximum=1000),
    )
    horizon: int = field(
        default=1, metadata=about("bars ahead the label looks (up or not)", minimum=1, maximum=100)
    )
    train_window: int = field(
        default=500,
        metadata=about("bars whose rows a fit may use, ending at the refit bar", minimum=20),
    )
    refit_every: int = field(
        default=50, metadata=about("bars between refits", minimum=1, maximum=100_000)
    )
    min_train_rows: int = field(
        default=100,
        metadata=about("rows with a known label before the first fit", minimum=10),
    )
    c: float = field(
        default=1.0, metadata=about("inverse L2 strength of the regression", positive=True)
    )
    buy_above: float = field(
        default=0.6, metadata=about("go long when P(up) is above this", minimum=0.5, maximum=1)
    )
    sell_below: float = field(
        default=0.4, metadata=about("sell when P(up) is below this", minimum=0, maximum=0.5)
    )
    long_only: bool = field(default=False, metadata=about("a sell goes flat instead of short"))

    def __post_init__(self) -> None:
        parse_strategy_settings(self)
        if self.buy_above <= self.sell_below:
            raise InvalidConfig(
                "buy_above",
                f"buy_above ({self.buy_above}) must be above sell_below ({self.sell_below})",
            )
        usable = self.train_window - self.horizon
        if self.min_train_rows > usable:
            raise InvalidConfig(
                "min_train_rows",
                f"min_train_rows ({self.min_train_rows}) must be at most train_window minus "
                f"horizon ({usable}): a training window holds no more rows with a known label",
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SimpleMlConfig:
        return settings_from_dict(cls, data)

    @classmethod
    def schema(cls) -> dict[str, Any]:
        return settings_schema(cls)

    def to_dict(self) -> dict[str, Any]:
        return settings_to_dict(self)

    @property
    def warmup(self) -> int:
        """The first bar whose features are all known."""
        return max(self.lookback, self.ma_window - 1, self.vol_window)

    @property
    def first_fit(self) -> int:
        """The first refit bar: ``min_train_rows`` rows from the warm-up have known labels."""
        return self.warmup + self.horizon + self.min_train_rows - 1

    def is_refit(self, index: int) -> bool:
        return index >= self.first_fit and (index - self.first_fit) % self.refit_every == 0

    def feature_names(self) -> list[str]:
        returns = [f"return_{k}" for k in range(1, self.lookback + 1)]
        return [*returns, "price_vs_ma", "volatility"]


def simple_ml_features(close: FloatArray, config: SimpleMlConfig) -> FloatArray:
    """[bars, features] in ``feature_names`` order; NaN where a window is not full. Each row
    reads its own window only, summed oldest first, so a row is the same floats whatever
    series it is computed in."""
    n = len(close)
    out = np.full((n, config.lookback + 2), np.nan)
    returns = np.full(n, np.nan)
    if n > 1:
        returns[1:] = close[1:] / close[:-1] - 1.0
    for k in range(1, config.lookback + 1):
        out[k - 1 :, k - 1] = returns[: n - k + 1]
    window = config.ma_window
    if n >= window:
        rows = n - window + 1
        total = close[:rows].copy()
        for offset in range(1, window):
            total += close[offset : offset + rows]
        out[window - 1 :, config.lookback] = close[window - 1 :] / (total / window) - 1.0
    window = config.vol_window
    if n > window:
        rows = n - window  # returns[1:] hold the known ones
        known = returns[1:]
        total = known[:rows].copy()
        for offset in range(1, window):
            total += known[offset : offset + rows]
        mean = total / window
        squares = np.zeros(rows)
        for offset in range(window):
            deviation = known[offset : offset + rows] - mean
            squares += deviation * deviation
        out[window:, config.lookback + 1] = np.sqrt(squares / window)
    return out


@dataclass(frozen=True, slots=True)
class LogisticModel:
    """A fitted regression: log-odds = intercept + sum of weight x (x - mean) / scale."""

    mean: FloatArray
    scale: FloatArray
    weights: FloatArray
    intercept: float
    rows: int

    def margins(self, features: FloatArray) -> FloatArray:
        """The log-odds of an up move for each row of ``features`` (NaN rows give NaN)."""
        z = (features - self.mean) / self.scale
        out = np.full(len(features), self.intercept)
        for column in range(z.shape[1]):
            out = out + self.weights[column] * z[:, column]
        return out


def fit_logistic(features: FloatArray, labels: FloatArray, c: float) -> LogisticModel | None:
    """The regression of ``labels`` (0/1) on ``features``; rows with an unknown feature are
    left out; None when what is left holds a single class."""
    keep = np.all(np.isfinite(features), axis=1)
    x = np.ascontiguousarray(features[keep])
    y = np.ascontiguousarray(labels[keep])
    if len(y) == 0 or bool(np.all(y == y[0])):
        return None
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[~(scale > 0)] = 1.0  # a constant column: centred to 0, weight shrunk to 0
    # Columns as rows: the intercept's column of ones last.
    columns = np.vstack([((x - mean) / scale).T, np.ones(len(y))])
    width = len(columns)
    penalty = np.full(width, 1.0 / c)
    penalty[-1] = 0.0
    weights = np.zeros(width)

    def log_odds(w: FloatArray) -> FloatArray:
        out = np.zeros(len(y))
        for j in range(width):
            out = out + w[j] * columns[j]
        return out

    def loss(w: FloatArray) -> float:
        m = log_odds(w)
        return float(np.sum(np.logaddexp(0.0, m) - y * m)) + 0.5 * float(np.sum(penalty * w * w))

    current = loss(weights)
    for _ in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-log_odds(weights)))
        residual = p - y
        curvature = p * (1.0 - p)
        gradient = np.array([np.sum(columns[j] * residual) for j in range(width)])
        gradient += penalty * weights
        hessian = np.diag(penalty)
        for j in range(width):
            weighted = columns[j] * curvature
            for k in range(j, width):
                entry = float(np.sum(weighted * columns[k]))
                hessian[j, k] += entry
                if k != j:
                    hessian[k, j] += entry
        step = np.linalg.solve(hessian, gradient)
        scale_step = 1.0
        for _ in range(30):  # damped: never a step that makes the fit worse
            candidate = weights - scale_step * step
            value = loss(candidate)
            if value <= current:
                break
            scale_step /= 2
        else:
            break
        weights, current = candidate, value
        if float(np.max(np.abs(scale_step * step))) < _NEWTON_TOLERANCE:
            break
    return LogisticModel(mean, scale, weights[:-1].copy(), float(weights[-1]), len(y))


def _logit(probability: float) -> float:
    if probability <= 0.0:
        return -math.inf
    if probability >= 1.0:
        return math.inf
    return math.log(probability / (1.0 - probability))


def next_target(config: SimpleMlConfig, target: float, margin: float) -> float:
    """The target after a bar whose log-odds of an up move is ``margin`` (NaN holds)."""
    if margin > _logit(config.buy_above):
        return 1.0
    if margin < _logit(config.sell_below):
        return 0.0 if config.long_only else -1.0
    return target


def _training_rows(config: SimpleMlConfig, refit: int) -> range:
    """Bars whose rows the fit at bar ``refit`` uses: in the last ``train_window`` bars, with
    the label known by ``refit``."""
    return range(max(config.warmup, refit - config.train_window + 1), refit - config.horizon + 1)


def _fit_at(
    config: SimpleMlConfig, features: FloatArray, close: FloatArray, refit: int, offset: int
) -> LogisticModel | None:
    """The fit at bar ``refit`` over series that start at bar ``offset``."""
    rows = _training_rows(config, refit)
    start, stop = rows.start - offset, rows.stop - offset
    labels = (close[start + config.horizon : stop + config.horizon] > close[start:stop]).astype(
        np.float64
    )
    return fit_logistic(features[start:stop], labels, config.c)


class SimpleMl:
    """The strategy; see the module docstring."""

    def __init__(self, config: SimpleMlConfig = SimpleMlConfig()) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return "simple_ml"

    @property
    def warmup_bars(self) -> int:
        return self.config.first_fit

    def walk_forward(self, bars: Bars) -> dict[str, Any]:
        """How this strategy walks forward over ``bars``, for a backtest's record."""
        config = self.config
        refits = list(range(config.first_fit, len(bars), config.refit_every))
        return {
            "method": "refit in the strategy",
            "refit_every": config.refit_every,
            "train_window": config.train_window,
            "horizon": config.horizon,
            "refits": len(refits),
            "warmup_bars": min(config.first_fit, len(bars)),
        }

    def target_positions(self, bars: Bars) -> FloatArray:
        config = self.config
        n = len(bars)
        features = simple_ml_features(bars.close, config)
        targets = np.zeros(n)
        target = 0.0
        model: LogisticModel | None = None
        for refit in range(config.first_fit, n, config.refit_every):
            model = _fit_at(config, features, bars.close, refit, 0) or model
            if model is None:
                continue
            stop = min(refit + config.refit_every, n)
            margins = model.margins(features[refit:stop])
            for index in range(refit, stop):
                target = next_target(config, target, float(margins[index - refit]))
                targets[index] = target
        return targets

    def live(self) -> LiveSimpleMl:
        return LiveSimpleMl(self.config)


class LiveSimpleMl:
    def __init__(self, config: SimpleMlConfig) -> None:
        self.config = config
        # Enough closes for the features of every row of a training window.
        self._closes: deque[float] = deque(maxlen=config.train_window + config.warmup + 1)
        self._bars = 0
        self._model: LogisticModel | None = None
        self._target = 0.0

    def on_bar(self, bar: Bar) -> Signal | None:
        config = self.config
        index = self._bars
        self._bars += 1
        self._closes.append(bar.close)
        if config.is_refit(index):
            closes = np.array(self._closes)
            features = simple_ml_features(closes, config)
            offset = index - len(closes) + 1
            self._model = _fit_at(config, features, closes, index, offset) or self._model
        if self._model is None or index < config.first_fit:
            return None
        recent = np.array(list(self._closes)[-(config.warmup + 1) :])
        margin = float(self._model.margins(simple_ml_features(recent, config)[-1:])[0])
        target = next_target(config, self._target, margin)
        if target == self._target:
            return None
        signal = signal_for(bar, target=target, previous=self._target)
        self._target = target
        return signal
