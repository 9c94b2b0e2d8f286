"""The XGBoost strategy over a small model trained here on seeded data: no lookahead, one
decision path, thresholds, bad config and foreign features refused."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xgboost as xgb

from execution.domain.errors import DomainError
from mlmodels.features import FeatureInputs, MissingFeatureInputs, compute_features
from mlmodels.inference import Predictor
from strategies.library.xgboost_model import XgboostModel, XgboostModelConfig
from tests.strategies.library.common import (
    assert_no_lookahead,
    assert_paths_agree,
    random_walk_bars,
)

FEATURES = ["return_1", "return_5", "sma_ratio_20", "rsi_14", "volume_surge_20"]
BARS = random_walk_bars(500, seed=21)


def trained_predictor(features: list[str] = FEATURES) -> Predictor:
    train = random_walk_bars(800, seed=4)
    inputs = FeatureInputs(
        time=train.starts.astype("datetime64[ns]").astype(np.int64),
        open=train.open,
        high=train.high,
        low=train.low,
        close=train.close,
        volume=train.volume,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingFeatureInputs)
        matrix = compute_features(inputs, workers=1)
    rows = np.column_stack([matrix.column(name) for name in features])[:-1]
    up = (train.close[1:] > train.close[:-1]).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "seed": 0, "nthread": 1},
        xgb.DMatrix(rows, label=up, feature_names=features),
        num_boost_round=20,
    )
    return Predictor.from_json(bytes(booster.save_raw("json")), features)


PREDICTOR = trained_predictor()


@pytest.mark.parametrize("long_only", [False, True])
def test_no_lookahead_and_live_agrees(long_only):
    config = XgboostModelConfig(buy_above=0.55, sell_below=0.45, long_only=long_only)
    strategy = XgboostModel(config, PREDICTOR)
    assert strategy.warmup_bars == 19  # sma_ratio_20 and volume_surge_20: NaN for 19 rows
    assert_no_lookahead(strategy, BARS, (1, 19, 20, 21, 250, 499))
    assert_paths_agree(strategy, BARS, min_signals=10)


def test_targets_follow_the_probability_thresholds():
    config = XgboostModelConfig(buy_above=0.55, sell_below=0.45)
    strategy = XgboostModel(config, PREDICTOR)
    probabilities = strategy.probabilities(BARS)
    targets = strategy.target_positions(BARS)
    assert not np.any(targets[:19])
    for index in range(20, len(BARS)):
        p = probabilities[index]
        expected = 1.0 if p > 0.55 else -1.0 if p < 0.45 else targets[index - 1]
        assert targets[index] == expected


def test_a_model_trained_on_the_whole_catalogue_runs_on_candles_as_it_was_trained():
    """Training on candles gives book and flow features as 0 (missing inputs); both paths give
    them as 0 too, so such a model runs, and its two paths agree."""
    names = [*FEATURES, "spread", "flow_imbalance"]
    strategy = XgboostModel(XgboostModelConfig(buy_above=0.55, sell_below=0.45),
                            trained_predictor(names))  # fmt: skip
    assert_paths_agree(strategy, BARS, min_signals=1)


def test_a_model_on_a_feature_not_in_the_catalogue_is_refused():
    with pytest.raises(DomainError, match="not_a_feature"):
        XgboostModel(XgboostModelConfig(), trained_predictor_on(["return_1", "not_a_feature"]))


def trained_predictor_on(names: list[str]) -> Predictor:
    rows = np.random.default_rng(0).normal(size=(50, len(names)))
    booster = xgb.train(
        {"objective": "binary:logistic", "nthread": 1},
        xgb.DMatrix(rows, label=np.arange(50) % 2, feature_names=names),
        num_boost_round=2,
    )
    return Predictor.from_json(bytes(booster.save_raw("json")), names)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"buy_above": 0.4}, "buy_above"),
        ({"sell_below": 0.7}, "sell_below"),
        ({"buy_above": 0.5, "sell_below": 0.5}, "sell_below"),
        ({"long_only": "no"}, "long_only"),
    ],
)
def test_bad_config_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(DomainError, match=field):
        XgboostModelConfig(**kwargs)
