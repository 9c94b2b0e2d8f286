"""A training set from candles alone: the feature matrix, its names and the direction labels.

Candles carry no trade flow and no book, so the order-flow and book features are 0 on every
bar (``compute_features`` warns once with ``MissingFeatureInputs``); the columns stay, so a
model reads the same catalogue, in the same order, as the live ``FeatureState``. Rows before
the longest warm-up of the features that are computed are dropped: there some features are
still NaN ("not known yet"). The last ``horizon`` bars keep their features but their labels
are NaN (their future is beyond the series).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mlmodels.features import FeatureConfig, FeatureInputs, compute_features
from mlmodels.labels import direction_labels
from mlmodels.training import TrainingConfig, nanoseconds

FloatArray = npt.NDArray[np.float64]


def candles_dataset(
    open: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike | None,
    times: npt.ArrayLike,
    *,
    feature_config: FeatureConfig,
    training_config: TrainingConfig,
) -> tuple[FloatArray, list[str], FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """(features [bars, features], feature names, labels, close, times) of the bars after the
    warm-up. ``times`` may be int64 ns or numpy datetimes and are returned as int64 ns; they
    must increase strictly (checked with the candles, as ``FeatureInputs`` does, naming a bad
    row)."""
    inputs = FeatureInputs(
        time=nanoseconds(times),
        open=np.asarray(open, dtype=np.float64),
        high=np.asarray(high, dtype=np.float64),
        low=np.asarray(low, dtype=np.float64),
        close=np.asarray(close, dtype=np.float64),
        volume=None if volume is None else np.asarray(volume, dtype=np.float64),
    )
    matrix = compute_features(inputs, feature_config)
    computed = [spec.warm_up for spec in matrix.specs if spec.bundles <= inputs.bundles]
    first = min(max(computed, default=0), len(inputs))
    labels = direction_labels(
        inputs.close,
        horizon=training_config.horizon,
        cost=training_config.cost,
        half_spread=training_config.half_spread,
    )
    features = np.ascontiguousarray(matrix.values[first:])
    return (
        features,
        list(matrix.names),
        labels[first:],
        inputs.close[first:],
        inputs.time[first:],
    )
