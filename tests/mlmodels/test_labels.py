"""Labels: forward returns, direction with the cost-aware dead zone, triple barrier."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlmodels.labels import (
    InvalidLabelInputs,
    dead_zone,
    direction_labels,
    forward_returns,
    triple_barrier_labels,
)

nan = math.nan


def test_forward_returns_by_hand():
    close = np.array([100.0, 110.0, 99.0, 121.0])
    np.testing.assert_allclose(forward_returns(close, 1), [0.1, -0.1, 121 / 99 - 1, nan])
    np.testing.assert_allclose(forward_returns(close, 2), [-0.01, 0.1, nan, nan])
    assert np.isnan(forward_returns(close, 4)).all()  # no future at all
    assert np.isnan(forward_returns(close, 9)).all()


def test_dead_zone_is_exact_and_inclusive():
    # Powers of two keep every number exact: the zone is cost + half_spread / price
    # = 2**-10 + 1/1024 = 2**-9, so 1024 -> 1026 is a move of exactly the zone.
    cost, half_spread = 2.0**-10, 1.0
    close = np.array([1024.0, 1026.0, 1024.0, 1022.0, 1024.0, 1030.0, 1024.0, 1020.0])
    labels = direction_labels(close[[0, 1]], horizon=1, cost=cost, half_spread=half_spread)
    assert dead_zone(close[:1], cost=cost, half_spread=half_spread)[0] == 2.0**-9
    assert np.isnan(labels[0])  # |return| == zone: inside the dead zone
    labels = direction_labels(close, horizon=1, cost=cost, half_spread=half_spread)
    # 1024->1026 (= zone), 1026->1024 (a 0.19493 % fall, zone 0.19512 % at 1026), 1024->1022
    # (= zone, down), 1022->1024 (0.19569 % up, zone 0.19550 % at 1022), then moves beyond
    expected = [nan, nan, nan, 1.0, 1.0, 0.0, 0.0, nan]
    np.testing.assert_array_equal(labels, expected)


def test_dead_zone_with_a_spread_per_bar():
    close = np.array([100.0, 100.3, 100.0, 100.3])
    # zone at bar 0: 0 + 0.5 / 100 = 0.5 % > 0.3 %; at bar 2: 0.1 / 100 = 0.1 % < 0.3 %
    labels = direction_labels(close, horizon=1, cost=0.0, half_spread=np.array([0.5, 0, 0.1, 0]))
    np.testing.assert_array_equal(labels, [nan, 0.0, 1.0, nan])


def test_no_label_beyond_the_series():
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 500)))
    for horizon in (1, 5, 20):
        labels = direction_labels(close, horizon=horizon, cost=0.0001, half_spread=0.0)
        assert np.isnan(labels[-horizon:]).all()
        assert np.isfinite(labels[:-horizon]).mean() > 0.9
        # a label only depends on its own future: cutting the series changes no known label
        cut = direction_labels(close[:300], horizon=horizon, cost=0.0001, half_spread=0.0)
        known = np.isfinite(cut)
        np.testing.assert_array_equal(cut[known], labels[:300][known])


def test_triple_barrier_by_hand():
    close = np.array([100.0, 101.0, 103.0, 99.0, 97.0, 100.0, 100.5])
    labels = triple_barrier_labels(close, horizon=2, take_profit=0.02, stop_loss=0.02)
    # bar 0: 103 >= 102 at step 2 -> 1; bar 1: neither 103.02 nor 98.98 is reached -> NaN;
    # bar 2: 99 <= 100.94 at step 1 -> 0; bar 3: 97 <= 97.02 -> 0; bar 4: 100 >= 98.94 -> 1;
    # bars 5 and 6: their window runs past the end
    np.testing.assert_array_equal(labels, [1.0, nan, 0.0, 0.0, 1.0, nan, nan])


def test_triple_barrier_intrabar_and_ambiguous_bars():
    close = np.array([100.0, 100.0, 100.0])
    high = np.array([100.0, 103.0, 100.0])
    low = np.array([100.0, 100.0, 97.0])
    labels = triple_barrier_labels(
        close, horizon=2, take_profit=0.02, stop_loss=0.02, high=high, low=low
    )
    assert labels[0] == 1.0  # the high touches 102 first
    both = triple_barrier_labels(
        close,
        horizon=1,
        take_profit=0.02,
        stop_loss=0.02,
        high=np.array([100.0, 103.0, 100.0]),
        low=np.array([100.0, 97.0, 100.0]),
    )
    assert np.isnan(both[0])  # both barriers inside one bar: the order is unknown


@pytest.mark.parametrize(
    ("close", "settings", "message"),
    [
        ([100.0, -1.0], {"horizon": 1}, "close is not a positive number at row 1"),
        ([100.0, nan], {"horizon": 1}, "row 1"),
        ([100.0, 101.0], {"horizon": 0}, "horizon"),
        ([100.0, 101.0], {"horizon": 1, "cost": -0.1}, "cost"),
        ([100.0, 101.0], {"horizon": 1, "half_spread": np.array([0.1, -1])}, "half_spread"),
    ],
)
def test_bad_input_is_refused(close, settings, message):
    settings = {"cost": 0.0, "half_spread": 0.0, **settings}
    with pytest.raises(InvalidLabelInputs, match=message):
        direction_labels(np.array(close), **settings)
