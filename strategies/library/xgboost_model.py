"""A strategy over a registered XGBoost direction model: long when P(up) > buy_above, short
(flat with ``long_only``) when P(up) < sell_below, holding the position in between.

Pure: it is given the loaded ``Predictor`` and the ``FeatureConfig`` the model was trained
with (loading from the registry is the Django side's job). Features come from the feature
library over candles and volume: ``compute_features`` for a series, ``FeatureState`` for the
live path, which agree bit for bit. A feature whose inputs candles lack (order flow, the book)
is 0 on every row in both paths, exactly as ``candles_dataset`` gave it to training (the
platform trains on candles), so a model trained on the whole catalogue runs here. Both paths
ask ``Predictor.predict_one`` for each bar, so the probabilities (not just their rounding) are
the same floats and the decisions agree exactly. Flat until every feature the model reads has
warmed up.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlmodels.features import (
    FeatureConfig,
    FeatureRow,
    FeatureState,
    InputBundle,
    MissingFeatureInputs,
    catalogue,
    compute_features,
)
from mlmodels.inference import Predictor
from strategies.domain.base import (
    Bar,
    Bars,
    FloatArray,
    Signal,
    bar_time_ns,
    feature_inputs,
    signal_for,
)
from strategies.library.settings import (
    InvalidConfig,
    about,
    parse_strategy_settings,
    settings_from_dict,
    settings_schema,
    settings_to_dict,
)

BUNDLES = frozenset({InputBundle.CANDLES, InputBundle.VOLUME})


@dataclass(frozen=True, slots=True, kw_only=True)
class XgboostModelConfig:
    buy_above: float = field(
        default=0.6, metadata=about("go long when P(up) is above this", minimum=0.5, maximum=1)
    )
    sell_below: float = field(
        default=0.4, metadata=about("go short when P(up) is below this", minimum=0, maximum=0.5)
    )
    long_only: bool = field(default=False, metadata=about("a sell goes flat instead of short"))

    def __post_init__(self) -> None:
        parse_strategy_settings(self)
        if self.sell_below >= self.buy_above:
            raise InvalidConfig(
                "sell_below",
                f"sell_below ({self.sell_below}) must be below buy_above ({self.buy_above})",
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> XgboostModelConfig:
        return settings_from_dict(cls, data)

    @classmethod
    def schema(cls) -> dict[str, Any]:
        return settings_schema(cls)

    def to_dict(self) -> dict[str, Any]:
        return settings_to_dict(self)


def next_target(config: XgboostModelConfig, target: float, probability: float) -> float:
    if probability > config.buy_above:
        return 1.0
    if probability < config.sell_below:
        return 0.0 if config.long_only else -1.0
    return target


class XgboostModel:
    """The strategy; see the module docstring."""

    def __init__(
        self,
        config: XgboostModelConfig,
        predictor: Predictor,
        feature_config: FeatureConfig | None = None,
    ) -> None:
        self.config = config
        self.predictor = predictor
        self.feature_config = feature_config or FeatureConfig()
        specs = {spec.name: spec for spec in catalogue(self.feature_config)}
        for name in predictor.feature_names:
            spec = specs.get(name)
            if spec is None:
                raise InvalidConfig("feature_names", f"the model reads {name!r}, not a feature")
        names = [spec.name for spec in catalogue(self.feature_config)]
        self._columns = [names.index(name) for name in predictor.feature_names]
        self._warmup = max(specs[name].warm_up for name in predictor.feature_names)

    @property
    def name(self) -> str:
        return "xgboost"

    @property
    def warmup_bars(self) -> int:
        return self._warmup

    def probabilities(self, bars: Bars) -> FloatArray:
        """P(up) after each bar (NaN during the warm-up)."""
        inputs = feature_inputs(bars)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingFeatureInputs)  # the model reads none of them
            matrix = compute_features(inputs, self.feature_config, workers=1)
        rows = matrix.values[:, self._columns]
        out = np.full(len(bars), np.nan)
        for index in range(self._warmup, len(bars)):
            out[index] = self.predictor.predict_one(rows[index])
        return out

    def target_positions(self, bars: Bars) -> FloatArray:
        probabilities = self.probabilities(bars)
        targets = np.zeros(len(bars))
        target = 0.0
        for index in range(self._warmup, len(bars)):
            target = next_target(self.config, target, float(probabilities[index]))
            targets[index] = target
        return targets

    def live(self) -> LiveXgboostModel:
        return LiveXgboostModel(self)


class LiveXgboostModel:
    def __init__(self, strategy: XgboostModel) -> None:
        self.strategy = strategy
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingFeatureInputs)
            self._features = FeatureState(strategy.feature_config, bundles=BUNDLES)
        self._target = 0.0

    def on_bar(self, bar: Bar) -> Signal | None:
        row = FeatureRow(
            time=bar_time_ns(bar.start),
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
        )
        vector = self._features.update(row)
        if self._features.rows <= self.strategy.warmup_bars:
            return None
        probability = self.strategy.predictor.predict_one(vector[self.strategy._columns])
        target = next_target(self.strategy.config, self._target, probability)
        if target == self._target:
            return None
        signal = signal_for(bar, target=target, previous=self._target)
        self._target = target
        return signal
