"""Regimes: five named states, the minimum duration, and labels that read only the past."""

from __future__ import annotations

import dataclasses
import json
import math
from functools import cache

import numpy as np
import pytest

from mlmodels.features import compute_features
from mlmodels.regimes import REGIMES, InvalidRegimeInputs, RegimeModel, fit_regimes
from tests.mlmodels.features.data import eurusd_full

WARM_UP = 50


@cache
def _inputs():
    """EURUSD hourly: 20-bar return and volatility, and the (generated) flow imbalance."""
    matrix = compute_features(eurusd_full())
    return tuple(
        matrix.column(name)[WARM_UP:].copy()
        for name in ("return_20", "realized_volatility_20", "flow_imbalance_20")
    )


@cache
def _model() -> RegimeModel:
    return fit_regimes(*_inputs(), min_duration=5, seed=0)


def _runs(labels):
    changes = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    return np.diff(np.concatenate([[0], changes, [len(labels)]])).tolist()


def test_every_bar_gets_one_of_the_five_names_with_a_probability():
    model = _model()
    assert sorted(model.state_regimes) == sorted(REGIMES)
    labels, probability = model.label(*_inputs())
    assert set(labels.tolist()) == set(REGIMES)
    assert ((probability >= 0) & (probability <= 1)).all()
    assert probability.mean() > 0.5


@pytest.mark.parametrize("min_duration", [1, 5, 24])
def test_every_regime_but_the_last_lasts_the_minimum_duration(min_duration):
    model = dataclasses.replace(_model(), min_duration=min_duration)
    labels, _ = model.label(*_inputs())
    runs = _runs(labels)
    assert min(runs[:-1]) >= min_duration
    assert len(runs) > 10


def test_a_label_reads_only_the_past():
    model = _model()
    inputs = _inputs()
    labels, probability = model.label(*inputs)
    for end in (1, 7, 300, 2_001, len(labels) - 1):
        head, head_probability = model.label(*(column[:end] for column in inputs))
        np.testing.assert_array_equal(head, labels[:end])
        np.testing.assert_array_equal(head_probability, probability[:end])
    # another future leaves the past alone
    changed = [column.copy() for column in inputs]
    changed[0][3_000:] *= -3
    changed[1][3_000:] *= 4
    other, _ = model.label(*changed)
    np.testing.assert_array_equal(other[:3_000], labels[:3_000])
    assert (other[3_000:] != labels[3_000:]).any()


def test_the_live_tracker_gives_the_batch_labels():
    model = _model()
    inputs = [column[:600] for column in _inputs()]
    labels, probability = model.label(*inputs)
    tracker = model.tracker()
    live = [tracker.update(*(float(column[bar]) for column in inputs)) for bar in range(600)]
    assert [name for name, _ in live] == labels.tolist()
    np.testing.assert_array_equal([p for _, p in live], probability)


def test_named_by_the_rules_on_a_generated_market():
    """Segments built to be each regime get its name: flat with buying, flat with selling, a
    steady climb, large swings, and quiet."""
    rng = np.random.default_rng(4)
    shapes = {  # mean return, volatility, flow
        "accumulation": (0.0, 1.0, 0.6),
        "distribution": (0.0, 1.0, -0.6),
        "trending": (2.0, 1.0, 0.0),
        "volatile": (0.0, 4.0, 0.0),
        "neutral": (0.0, 1.0, 0.0),
    }
    order = [*REGIMES, *REGIMES[::-1], *REGIMES]
    truth = np.repeat(order, 300)
    means = np.array([shapes[name] for name in truth])
    returns = means[:, 0] + means[:, 1] * 0.5 * rng.normal(size=len(truth))
    volatility = means[:, 1] * np.exp(0.1 * rng.normal(size=len(truth)))
    flow = means[:, 2] + 0.15 * rng.normal(size=len(truth))
    model = fit_regimes(returns, volatility, flow, min_duration=3, seed=1)
    labels, _ = model.label(returns, volatility, flow)
    for name in REGIMES:
        agree = np.mean(labels[truth == name] == name)
        assert agree > 0.8, (name, agree)


def test_stored_and_loaded_models_label_alike():
    model = _model()
    loaded = RegimeModel.from_dict(json.loads(json.dumps(model.to_dict())))
    inputs = [column[:500] for column in _inputs()]
    np.testing.assert_array_equal(loaded.label(*inputs)[0], model.label(*inputs)[0])


def test_missing_inputs_and_bad_inputs():
    model = _model()
    returns, volatility, flow = (column[:100].copy() for column in _inputs())
    flow[:] = math.nan  # no flow at all: labelled from return and volatility
    returns[40] = math.nan
    labels, probability = model.label(returns, volatility, flow)
    assert set(labels.tolist()) <= set(REGIMES) and np.isfinite(probability).all()
    volatility[3] = -1.0
    with pytest.raises(InvalidRegimeInputs, match="volatility at row 3"):
        model.label(returns, volatility, flow)
    with pytest.raises(InvalidRegimeInputs, match="one length"):
        model.label(returns[:5], volatility, flow)
    with pytest.raises(InvalidRegimeInputs, match="at least 200"):
        fit_regimes(returns, np.abs(volatility), flow, min_duration=5)
    with pytest.raises(InvalidRegimeInputs, match="min_duration"):
        fit_regimes(*_inputs(), min_duration=0)
