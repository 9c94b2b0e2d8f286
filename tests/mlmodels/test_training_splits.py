"""Walk-forward splits, the training configuration and the metrics, without training."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.domain.urgency import InvalidConfig
from mlmodels.training import (
    InvalidTrainingData,
    TrainingConfig,
    model_metrics,
    threshold_rule_pnl,
    walk_forward_splits,
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(300, 5_000),
    folds=st.integers(1, 8),
    horizon=st.integers(1, 10),
    extra_purge=st.integers(0, 5),
    embargo=st.integers(0, 30),
    train_size=st.integers(100, 2_000),
    test_size=st.integers(0, 400),
    validation_fraction=st.sampled_from([0.0, 0.1, 0.25, 0.5]),
    expanding=st.booleans(),
)
def test_splits_keep_training_labels_out_of_what_they_are_judged_on(
    rows,
    folds,
    horizon,
    extra_purge,
    embargo,
    train_size,
    test_size,
    validation_fraction,
    expanding,
):
    config = TrainingConfig(
        folds=folds,
        horizon=horizon,
        purge=horizon + extra_purge,
        embargo=embargo,
        train_size=train_size,
        test_size=test_size,
        validation_fraction=validation_fraction,
        expanding=expanding,
    )
    try:
        splits = walk_forward_splits(rows, config)
    except InvalidTrainingData as error:
        assert "too few" in str(error)
        return
    assert len(splits) == folds
    assert splits[-1].test.stop <= rows and splits[-1].test.stop > rows - folds
    for before, after in itertools.pairwise(splits):
        assert before.test.stop == after.test.start  # consecutive, no overlap
    for split in splits:
        assert len(split.test) >= 1
        if test_size:
            assert len(split.test) == test_size
        # purge and embargo: a training label (reading `horizon` bars ahead) ends before the
        # test window, with the embargo on top
        assert split.train.stop - 1 + config.purge + config.embargo < split.test.start + 1
        assert split.test.start - split.train.stop == config.purge + config.embargo
        assert split.train.stop - 1 + horizon < split.test.start
        assert split.fit.start == split.train.start and split.fit.stop <= split.train.stop
        if len(split.validation):
            assert split.validation.stop == split.train.stop
            assert split.validation.start - split.fit.stop == config.purge
            assert split.fit.stop - 1 + horizon < split.validation.start
        else:
            assert split.fit == split.train
        if expanding:
            assert split.train.start == 0
        else:
            assert len(split.train) == train_size
        assert len(split.train) >= train_size


def test_expanding_and_sliding_by_hand():
    config = TrainingConfig(
        folds=3, train_size=100, test_size=50, purge=4, embargo=6, validation_fraction=0.2
    )
    splits = walk_forward_splits(300, config)
    assert [(s.test.start, s.test.stop) for s in splits] == [(150, 200), (200, 250), (250, 300)]
    assert [(s.train.start, s.train.stop) for s in splits] == [(0, 140), (0, 190), (0, 240)]
    assert (splits[0].fit, splits[0].validation) == (range(0, 108), range(112, 140))
    sliding = walk_forward_splits(
        300, TrainingConfig.from_dict({**config.to_dict(), "expanding": False})
    )
    assert [(s.train.start, s.train.stop) for s in sliding] == [(40, 140), (90, 190), (140, 240)]
    shared = walk_forward_splits(300, TrainingConfig(folds=3, train_size=100, test_size=0))
    assert [len(s.test) for s in shared] == [62, 62, 62]  # (300 - 100 - 14) // 3


def test_too_few_bars_is_refused_with_what_to_change():
    with pytest.raises(InvalidTrainingData, match="too few for 5 folds: they need at least 2,019"):
        walk_forward_splits(2_018, TrainingConfig())
    assert len(walk_forward_splits(2_019, TrainingConfig())[0].test) == 1


def test_config_defaults_round_trip_and_schema():
    config = TrainingConfig()
    assert (config.horizon, config.n_estimators, config.max_depth) == (4, 200, 6)
    plain = json.loads(json.dumps(config.to_dict()))
    assert TrainingConfig.from_dict(plain) == config
    schema = TrainingConfig.schema()
    assert set(schema["properties"]) == set(plain)
    assert schema["properties"]["expanding"]["type"] == "boolean"
    assert schema["properties"]["folds"] == {
        "type": "integer",
        "minimum": 1,
        "description": "walk-forward test windows",
        "default": 5,
    }


@pytest.mark.parametrize(
    ("settings", "key", "message"),
    [
        ({"purge": 3, "horizon": 5}, "purge", "at least horizon"),
        ({"threshold": 0.5}, "threshold", "above 0.5"),
        ({"expanding": 1}, "expanding", "true or false"),
        ({"folds": 2.0}, "folds", "whole number"),
        ({"folds": 0}, "folds", "at least 1"),
        ({"learning_rate": 0}, "learning_rate", "greater than zero"),
        ({"cost": math.nan}, "cost", "finite"),
        ({"validation_fraction": 0.6}, "validation_fraction", "at most 0.5"),
        ({"trees": 5}, "trees", "unknown setting 'trees'"),
    ],
)
def test_bad_settings_are_refused_by_name(settings, key, message):
    with pytest.raises(InvalidConfig, match=message) as caught:
        TrainingConfig.from_dict(settings)
    assert caught.value.key == key


def test_threshold_rule_by_hand():
    close = np.array([100.0, 101.0, 102.0, 101.0, 100.0, 99.0, 99.0, 100.0])
    proba = np.array([0.7, 0.9, 0.5, 0.2, 0.3, 0.5])  # bars 0..5 of close
    pnl = threshold_rule_pnl(
        proba, close, start=0, horizon=2, threshold=0.6, cost=0.001, half_spread=0.05
    )
    # bar 0 long 100 -> 102; bar 1 is inside that trade; bar 2 flat; bar 3 short 101 -> 99;
    # bar 4 inside it; bar 5 flat
    long_move, short_move = 102 / 100 - 1, -(99 / 101 - 1)
    costs = (0.002 + 0.05 / 100 + 0.05 / 102) + (0.002 + 0.05 / 101 + 0.05 / 99)
    assert pnl.trades == 2
    assert pnl.gross_pnl == pytest.approx(long_move + short_move, abs=1e-15)
    assert pnl.net_pnl == pytest.approx(long_move + short_move - costs, abs=1e-15)
    # the last bars' exits are beyond the series: no trade there
    late = threshold_rule_pnl(
        [0.9, 0.9], close, start=6, horizon=2, threshold=0.6, cost=0.0, half_spread=0.0
    )
    assert late.trades == 0


def test_metrics_by_hand():
    labels = np.array([1.0, 0.0, 1.0, math.nan, 0.0])
    proba = np.array([0.8, 0.3, 0.4, 0.9, 0.45])
    close = np.array([100.0, 100.0, 100.0, 100.0, 100.0, 100.0])
    config = TrainingConfig(horizon=1, purge=1, threshold=0.6, cost=0.0, half_spread=0.0)
    metrics = model_metrics(labels, proba, close, start=0, config=config)
    assert metrics.auc == pytest.approx(3 / 4)  # 3 of the 4 (up, down) pairs in order
    expected_loss = -(math.log(0.8) + math.log(0.7) + math.log(0.4) + math.log(0.55)) / 4
    assert metrics.log_loss == pytest.approx(expected_loss)
    assert metrics.accuracy == pytest.approx(3 / 4)  # 0.4 called down on an up bar
    assert metrics.precision_at_threshold == pytest.approx(1.0)  # 0.8 up and 0.3 down, both right
    assert metrics.trades == 3  # 0.8, 0.3 and 0.9 (its label is in the dead zone)
    assert metrics.gross_pnl == 0.0 and metrics.net_pnl_after_costs == 0.0


def test_undefined_metrics_are_nan_and_none_in_json():
    config = TrainingConfig(horizon=1, purge=1)
    metrics = model_metrics(
        np.array([1.0, 1.0]), np.array([0.5, 0.5]), np.ones(3), start=0, config=config
    )
    assert math.isnan(metrics.auc) and math.isnan(metrics.precision_at_threshold)
    assert metrics.to_dict()["auc"] is None
    json.dumps(metrics.to_dict(), allow_nan=False)
