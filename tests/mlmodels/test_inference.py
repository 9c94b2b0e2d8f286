"""The predictor: its single-row tree walk equals XGBoost's own predictions, missing values
included; batches and contributions come from XGBoost itself."""

from __future__ import annotations

import json
import math
from functools import cache

import numpy as np
import pytest
import xgboost as xgb

from mlmodels.inference import InvalidModel, InvalidPredictorInput, Predictor

FEATURES = 12
NAMES = [f"f{i}" for i in range(FEATURES)]


@cache
def _model() -> tuple[xgb.Booster, bytes]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4_000, FEATURES))
    logit = x[:, 0] - 0.8 * x[:, 1] + np.sin(2 * x[:, 2]) + 0.5 * x[:, 3] * x[:, 4]
    y = (logit + rng.normal(size=len(x)) > 0).astype(float)
    # Missing values, more often for some features, so splits learn both default directions
    x[rng.random(x.shape) < np.linspace(0.02, 0.3, FEATURES)] = np.nan
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "nthread": 1, "seed": 3},
        xgb.DMatrix(x, label=y, feature_names=NAMES),
        num_boost_round=80,
    )
    return booster, bytes(booster.save_raw("json"))


def _rows(count, seed):
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(count, FEATURES)) * rng.choice([0.1, 1.0, 10.0], size=(count, 1))
    rows[rng.random(rows.shape) < 0.15] = np.nan
    rows[:10] = np.nan  # rows with nothing known follow every default branch
    return rows


def test_single_rows_equal_xgboost_including_missing_values():
    booster, model_json = _model()
    trees = json.loads(model_json)["learner"]["gradient_booster"]["model"]["trees"]
    defaults = {
        d
        for tree in trees
        for d, left in zip(tree["default_left"], tree["left_children"], strict=True)
        if left != -1
    }
    assert defaults == {0, 1}  # both default directions are exercised
    predictor = Predictor.from_json(model_json, NAMES)
    rows = _rows(3_000, seed=2)
    expected = booster.inplace_predict(rows)
    walked = np.array([predictor.predict_one(row) for row in rows])
    np.testing.assert_allclose(walked, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(predictor.predict_proba(rows), expected, rtol=0, atol=0)


def test_values_on_and_around_each_split_follow_xgboost():
    """A value equal to a split goes right; a float64 just above or below it rounds to the
    float32 split first, as XGBoost rounds its input."""
    booster, model_json = _model()
    predictor = Predictor.from_json(model_json, NAMES)
    tree = json.loads(model_json)["learner"]["gradient_booster"]["model"]["trees"][0]
    rows = []
    for node, left in enumerate(tree["left_children"]):
        if left == -1:
            continue
        split = float(np.float32(tree["split_conditions"][node]))
        for value in (split, np.nextafter(split, -math.inf), np.nextafter(split, math.inf)):
            row = np.zeros(FEATURES)
            row[tree["split_indices"][node]] = value
            rows.append(row)
    rows = np.array(rows)
    walked = np.array([predictor.predict_one(row) for row in rows])
    np.testing.assert_allclose(walked, booster.inplace_predict(rows), rtol=0, atol=1e-6)


def test_contributions_are_xgboosts_and_add_up_to_the_margin():
    booster, model_json = _model()
    predictor = Predictor.from_json(model_json, NAMES)
    row = _rows(20, seed=5)[15]
    contributions = predictor.contributions(row)
    assert list(contributions) == [*NAMES, "bias"]
    probability = predictor.predict_one(row)
    assert sum(contributions.values()) == pytest.approx(
        math.log(probability / (1 - probability)), abs=1e-5
    )
    matrix = xgb.DMatrix(row.reshape(1, -1), feature_names=NAMES)
    own = booster.predict(matrix, pred_contribs=True)[0]
    assert list(contributions.values()) == pytest.approx(own.tolist())


def test_rows_of_the_wrong_width_are_refused():
    predictor = Predictor.from_json(_model()[1], NAMES)
    with pytest.raises(InvalidPredictorInput, match="a row must hold 12 numbers"):
        predictor.predict_one(np.zeros(11))
    with pytest.raises(InvalidPredictorInput, match=r"\[rows, 12\] matrix"):
        predictor.predict_proba(np.zeros((3, 13)))
    with pytest.raises(InvalidPredictorInput, match="a row must hold 12"):
        predictor.contributions(np.zeros((1, 12)))
    assert predictor.predict_proba(np.zeros((0, 12))).shape == (0,)


def test_models_it_cannot_read_are_refused():
    model_json = _model()[1]
    with pytest.raises(InvalidModel, match="12 features, 11 names"):
        Predictor.from_json(model_json, NAMES[:11])
    with pytest.raises(InvalidModel, match="column 3 is 'f3' in the model, 'other' here"):
        Predictor.from_json(model_json, [*NAMES[:3], "other", *NAMES[4:]])
    with pytest.raises(InvalidModel, match="not an XGBoost JSON model"):
        Predictor.from_json(b'{"learner": {}}', NAMES)
    regression = xgb.train(
        {"objective": "reg:squarederror", "nthread": 1},
        xgb.DMatrix(np.zeros((10, 2)), label=np.arange(10.0)),
        num_boost_round=1,
    )
    with pytest.raises(InvalidModel, match="only binary:logistic gbtree"):
        Predictor.from_json(bytes(regression.save_raw("json")), ["a", "b"])
