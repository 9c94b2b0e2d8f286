"""ML strategies in backtests, walk-forward only: the model used at bar t was fitted on bars
whose labels ended before t, and nothing is fitted on a test window.

``walk_forward_strategy(kind, config, bars, model=..., progress=...)`` is the one entry point
(the backtest service and the comparison report both call it). A kind that needs no registered
model is built as it is: the baselines read no model, SimpleML refits itself on the past as
it goes, and smart_money fits its regime model once, here, on its first ``regime_fit_bars``
bars (flat during them; a backtest no longer than that is refused). A kind that needs one
(``xgboost``) is never run on the registered model itself, which may have been trained on the
very bars under test; it is refitted here, fold by fold, with the training config and feature
list of that model (``WalkForwardModel``):

- the features and labels are those of the training (``mlmodels.dataset.candles_dataset``: the
  rows after the features' warm-up, labels ``horizon`` bars ahead);
- the folds are the training's (``mlmodels.training.walk_forward_splits``): consecutive test
  windows ending at the last bar, each after a gap of ``purge`` (at least ``horizon``) plus
  ``embargo`` bars, so no training label reads a bar of its test window;
- fold k's model is fitted as the training fits one (``fit_fold_xgboost``) on the rows before
  that gap, and predicts its test window only.

The strategy's decisions are the XGBoost strategy's (``xgboost_model.next_target``: long above
``buy_above``, short or flat below ``sell_below``, held between, over ``predict_one``). Bars
before the first test window are flat (the warm-up: no model has been fitted for them), and
so are bars outside every test window. ``walk_forward`` describes the folds for the record.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from execution.domain.errors import DomainError
from execution.domain.urgency import InvalidConfig
from mlmodels.dataset import candles_dataset
from mlmodels.features import (
    FeatureConfig,
    FeatureRow,
    FeatureState,
    MissingFeatureInputs,
    compute_features,
)
from mlmodels.inference import Predictor
from mlmodels.training import TrainingConfig, fit_fold_xgboost, walk_forward_splits
from strategies.domain.base import (
    Bar,
    Bars,
    FloatArray,
    Signal,
    Strategy,
    bar_time_ns,
    feature_inputs,
    signal_for,
)
from strategies.kinds import InvalidStrategyConfig, kind_get
from strategies.library.smart_money import SmartMoneyKind
from strategies.library.xgboost_model import BUNDLES, XgboostModelConfig, next_target

Progress = Callable[[float, str], None]


@dataclass(frozen=True, slots=True)
class WalkForwardModel:
    """What a registered model was trained with: enough to fit it again, fold by fold.
    ``label`` names it in the record (e.g. "eurusd-direction v3")."""

    training_config: TrainingConfig
    feature_config: FeatureConfig
    feature_names: tuple[str, ...]
    label: str = ""

    @classmethod
    def from_plain(
        cls,
        *,
        training_config: Mapping[str, Any],
        feature_config: Mapping[str, Any],
        feature_names: Sequence[str],
        label: str = "",
    ) -> WalkForwardModel:
        """From a model version's stored JSON; a bad value raises ``InvalidConfig`` naming
        ``training_config.<key>``, ``feature_config.<key>`` or ``feature_names``."""
        try:
            training = TrainingConfig.from_dict(training_config)
        except InvalidConfig as error:
            raise InvalidConfig(f"training_config.{error.key}", str(error)) from None
        try:
            features = FeatureConfig.from_dict(feature_config)
        except InvalidConfig as error:
            raise InvalidConfig(f"feature_config.{error.key}", str(error)) from None
        names = tuple(str(name) for name in feature_names)
        if not names:
            raise InvalidConfig("feature_names", "the model reads no features")
        return cls(training, features, names, label)


@dataclass(frozen=True, slots=True)
class WalkForwardFold:
    """One fold in bar indexes of the backtest's bars: ``train`` is every bar the fit may
    read (its labels included), ``fit`` and ``validation`` split it as XGBoost's early stopping
    does, ``test`` the bars the fold's model decides."""

    fold: int
    train: range
    fit: range
    validation: range
    test: range
    trees: int

    def to_dict(self, bars: Bars) -> dict[str, Any]:
        def time(index: int) -> str:
            return _iso(bars.starts[index])

        return {
            "fold": self.fold,
            "train_start": time(self.train.start),
            "train_end": time(self.train.stop - 1),
            "train_bars": len(self.train),
            "test_start": time(self.test.start),
            "test_end": time(self.test.stop - 1),
            "test_bars": len(self.test),
            "trees": self.trees,
        }


def _iso(value: np.datetime64) -> str:
    moment = value.astype("datetime64[us]").item()
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC).isoformat()


def _columns(model: WalkForwardModel, names: Sequence[str]) -> list[int]:
    missing = [name for name in model.feature_names if name not in names]
    if missing:
        raise InvalidConfig(
            "feature_names", f"the model reads {', '.join(missing)}: not in the feature library"
        )
    return [list(names).index(name) for name in model.feature_names]


class WalkForwardXgboost:
    """The XGBoost strategy over models fitted fold by fold (module docstring). Its folds are
    fixed by time, so it decides any bars: those inside a fold's test window by that fold's
    model, the rest flat."""

    def __init__(
        self,
        config: XgboostModelConfig,
        model: WalkForwardModel,
        folds: Sequence[WalkForwardFold],
        predictors: Sequence[Predictor],
        bars: Bars,
    ) -> None:
        self.config = config
        self.model = model
        self.folds = list(folds)
        self.predictors = list(predictors)
        starts = bars.starts.astype("datetime64[us]")
        self._test_first = [starts[fold.test.start] for fold in self.folds]
        self._test_last = [starts[fold.test.stop - 1] for fold in self.folds]
        self._fitted_on = bars

    @property
    def name(self) -> str:
        return "xgboost_walk_forward"

    @property
    def warmup_bars(self) -> int:
        return self.folds[0].test.start

    def fold_at(self, start: np.datetime64) -> int | None:
        """The fold whose test window holds the bar that starts at ``start``, if any."""
        index = bisect.bisect_right(self._test_first, start) - 1
        if index < 0 or start > self._test_last[index]:
            return None
        return index

    def walk_forward(self, bars: Bars) -> dict[str, Any]:
        """The folds, for a backtest's record (``bars``: those the strategy was fitted on)."""
        config = self.model.training_config
        return {
            "method": "refit per fold on earlier bars",
            "model": self.model.label,
            "horizon": config.horizon,
            "purge": config.purge,
            "embargo": config.embargo,
            "expanding": config.expanding,
            "warmup_bars": self.warmup_bars,
            "folds": [fold.to_dict(self._fitted_on) for fold in self.folds],
        }

    def probabilities(self, bars: Bars) -> FloatArray:
        """P(up) of each bar inside a test window by its fold's model; NaN elsewhere."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingFeatureInputs)
            matrix = compute_features(feature_inputs(bars), self.model.feature_config, workers=1)
        rows = matrix.values[:, _columns(self.model, matrix.names)]
        out = np.full(len(bars), np.nan)
        for index, start in enumerate(bars.starts.astype("datetime64[us]")):
            fold = self.fold_at(start)
            if fold is not None:
                out[index] = self.predictors[fold].predict_one(rows[index])
        return out

    def target_positions(self, bars: Bars) -> FloatArray:
        probabilities = self.probabilities(bars)
        targets = np.zeros(len(bars))
        target = 0.0
        for index, probability in enumerate(probabilities.tolist()):
            # Outside every test window no model may decide: flat.
            flat = math.isnan(probability)
            target = 0.0 if flat else next_target(self.config, target, probability)
            targets[index] = target
        return targets

    def live(self) -> LiveWalkForwardXgboost:
        return LiveWalkForwardXgboost(self)


class LiveWalkForwardXgboost:
    """The same decisions one bar at a time (features from ``FeatureState``)."""

    def __init__(self, strategy: WalkForwardXgboost) -> None:
        self.strategy = strategy
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingFeatureInputs)
            self._features = FeatureState(strategy.model.feature_config, bundles=BUNDLES)
        self._columns = _columns(strategy.model, [s.name for s in self._features.specs])
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
        fold = self.strategy.fold_at(np.datetime64(bar.start, "us"))
        target = 0.0
        if fold is not None:
            probability = self.strategy.predictors[fold].predict_one(vector[self._columns])
            target = next_target(self.strategy.config, self._target, probability)
        if target == self._target:
            return None
        signal = signal_for(bar, target=target, previous=self._target)
        self._target = target
        return signal


def walk_forward_xgboost(
    config: XgboostModelConfig,
    model: WalkForwardModel,
    bars: Bars,
    *,
    progress: Progress | None = None,
) -> WalkForwardXgboost:
    """Fit ``model``'s folds over ``bars`` (module docstring); ``progress(fraction, message)``
    after each fold. Too few bars for the model's folds raise ``InvalidTrainingData``."""
    report = progress or (lambda fraction, message: None)
    training = model.training_config
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingFeatureInputs)  # candles carry no flow or book
        features, names, labels, _close, _times = candles_dataset(
            bars.open, bars.high, bars.low, bars.close, bars.volume, bars.starts,
            feature_config=model.feature_config, training_config=training,
        )  # fmt: skip
    x = np.ascontiguousarray(features[:, _columns(model, names)])
    first = len(bars) - len(x)  # rows start after the features' warm-up
    splits = walk_forward_splits(len(x), training)
    folds: list[WalkForwardFold] = []
    predictors: list[Predictor] = []
    feature_names = list(model.feature_names)
    for split in splits:
        model_json, best = fit_fold_xgboost(x, labels, feature_names, split, training)
        predictors.append(Predictor.from_json(model_json, feature_names))

        def shifted(rows: range) -> range:
            return range(rows.start + first, rows.stop + first)

        folds.append(
            WalkForwardFold(
                fold=split.fold,
                train=shifted(split.train),
                fit=shifted(split.fit),
                validation=shifted(split.validation),
                test=shifted(split.test),
                trees=best + 1,
            )
        )
        report(
            (split.fold + 1) / len(splits),
            f"walk-forward fold {split.fold + 1}/{len(splits)}: fitted on "
            f"{len(split.train):,} bars before its {len(split.test):,} test bars",
        )
    return WalkForwardXgboost(config, model, folds, predictors, bars)


def walk_forward_strategy(
    kind: str,
    config: Any,
    bars: Bars,
    *,
    model: WalkForwardModel | None = None,
    progress: Progress | None = None,
) -> Strategy:
    """The strategy of ``kind`` to backtest over ``bars``, walk-forward only: ``config`` is
    the kind's config (or its plain dict); ``model`` what a kind that needs a model was trained
    with (refused under ``model_version`` when missing)."""
    strategy_kind = kind_get(kind)
    if not isinstance(config, strategy_kind.config):
        config = strategy_kind.config_from_dict(config)
    if not strategy_kind.needs_model:
        strategy = strategy_kind.build(config)
        if isinstance(strategy, SmartMoneyKind):
            _fit_smart_money(strategy, bars, progress)
        return strategy  # type: ignore[no-any-return]
    if model is None:
        raise InvalidStrategyConfig({"model_version": [f"a {kind} backtest needs a model version"]})
    if not isinstance(config, XgboostModelConfig):
        raise DomainError(f"a {kind} strategy has no walk-forward backtest")
    return walk_forward_xgboost(config, model, bars, progress=progress)


def _fit_smart_money(strategy: SmartMoneyKind, bars: Bars, progress: Progress | None) -> None:
    """Fit its regime model up front (once, on the first ``regime_fit_bars`` bars); a
    backtest no longer than that window would never trade, so it is refused."""
    fit_bars = strategy.config.regime_fit_bars
    if len(bars) <= fit_bars:
        raise InvalidStrategyConfig(
            {
                "regime_fit_bars": [
                    f"the regime model is fitted on the first {fit_bars:,} bars and the "
                    f"strategy is flat during them: the backtest's {len(bars):,} bars leave "
                    "none to trade"
                ]
            }
        )
    strategy.fit(bars)
    if progress is not None:
        progress(1.0, f"regime model fitted on the first {fit_bars:,} bars")


def walk_forward_metrics(strategy: Strategy, bars: Bars) -> dict[str, Any] | None:
    """How ``strategy`` walked forward over ``bars`` (None for one that reads no model)."""
    describe = getattr(strategy, "walk_forward", None)
    return describe(bars) if callable(describe) else None
