"""Population stability index: zero for the same distribution, large for a shifted one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlmodels.drift import (
    EPSILON,
    InvalidDriftInputs,
    drift_level,
    feature_drift,
    population_stability_index,
)


def test_identical_samples_do_not_drift():
    values = np.random.default_rng(0).normal(size=5_000)
    assert population_stability_index(values, values) == 0.0
    assert population_stability_index(values, values[::-1]) == 0.0


def test_a_sample_of_the_same_distribution_is_stable_and_a_shift_is_not():
    rng = np.random.default_rng(1)
    train = rng.normal(size=20_000)
    assert population_stability_index(train, rng.normal(size=5_000)) < 0.01
    moderate = population_stability_index(train, rng.normal(0.35, 1, size=5_000))
    assert drift_level(moderate) == "moderate"
    shifted = population_stability_index(train, rng.normal(1.0, 1, size=5_000))
    assert shifted > 0.25 and drift_level(shifted) == "significant"
    wider = population_stability_index(train, rng.normal(0, 2.5, size=5_000))
    assert wider > 0.25


def test_by_hand_with_an_empty_bin():
    expected = np.arange(100.0)  # two bins split at the median, 49.5
    actual = np.full(10, 3.0)  # everything in the lower bin
    psi = population_stability_index(expected, actual, bins=2)
    by_hand = (1 - 0.5) * math.log(1 / 0.5) + (EPSILON - 0.5) * math.log(EPSILON / 0.5)
    assert psi == pytest.approx(by_hand)


def test_missing_values_count_as_their_own_bin():
    rng = np.random.default_rng(2)
    train = rng.normal(size=4_000)
    recent = rng.normal(size=4_000)
    recent[:2_000] = np.nan  # half the recent values went missing
    assert population_stability_index(train, recent) > 0.25
    train_nan = train.copy()
    train_nan[:10] = np.nan
    assert population_stability_index(train_nan, train_nan) == 0.0


def test_constant_training_values_still_compare():
    assert population_stability_index(np.zeros(100), np.zeros(50)) == 0.0
    assert population_stability_index(np.zeros(100), np.ones(50)) > 1.0


def test_feature_drift_by_name():
    rng = np.random.default_rng(3)
    train = rng.normal(size=(3_000, 3))
    recent = rng.normal(size=(1_000, 3))
    recent[:, 2] += 2
    drift = feature_drift(train, recent, ["return_1", "rsi_14", "atr_14"])
    assert list(drift) == ["return_1", "rsi_14", "atr_14"]
    assert drift["return_1"] < 0.05 and drift["atr_14"] > 1.0
    with pytest.raises(InvalidDriftInputs, match=r"recent must be \[rows, 3 features\]"):
        feature_drift(train, recent[:, :2], ["a", "b", "c"])
    with pytest.raises(InvalidDriftInputs, match="bins"):
        population_stability_index(train[:, 0], recent[:, 0], bins=1)
    with pytest.raises(InvalidDriftInputs, match="at least one value"):
        population_stability_index(train[:, 0], np.empty(0))
