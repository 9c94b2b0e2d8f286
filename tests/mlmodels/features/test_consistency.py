"""Batch, live and prefix computations agree exactly, for every feature: no lookahead, and
a live model sees the numbers it was trained on."""

import dataclasses
import math
import warnings

import numpy as np
import pytest

from mlmodels.features import (
    FeatureInputs,
    FeatureState,
    OrderBookSeries,
    TradeFlowSeries,
    compute_features,
)
from mlmodels.features import compute as compute_module
from tests.mlmodels.features.data import eurusd_candles, eurusd_full, generated

SERIES = {"generated": generated, "eurusd": eurusd_full}


def differing(expected, actual, rows=None):
    """Names of the features whose columns differ (NaN equal to NaN), over the first ``rows``
    rows of ``expected``."""
    values = expected.values[:rows]
    assert values.shape == actual.shape
    return [
        spec.name
        for index, spec in enumerate(expected.specs)
        if not np.array_equal(values[:, index], actual[:, index], equal_nan=True)
    ]


@pytest.mark.parametrize("series", SERIES)
def test_live_updates_equal_the_batch_values(series):
    inputs = SERIES[series]()
    batch = compute_features(inputs)
    state = FeatureState(bundles=inputs.bundles)
    live = np.array([state.update(inputs.row(i)) for i in range(len(inputs))])
    assert differing(batch, live) == []


@pytest.mark.parametrize("series", SERIES)
def test_no_lookahead_prefixes_equal_the_whole_series(series):
    # A feature at row t uses rows up to t only: cut the series anywhere and the rows before
    # the cut come out the same, for every feature.
    inputs = SERIES[series]()
    whole = compute_features(inputs)
    rng = np.random.default_rng(3)
    cuts = {1, 2, 255, 256, 257, *rng.integers(3, len(inputs), 12).tolist()}
    for cut in sorted(cuts):
        prefix = compute_features(inputs.rows(0, cut))
        assert differing(whole, prefix.values, rows=cut) == [], f"cut at {cut}"


def test_the_future_does_not_move_the_past():
    # The same check from the other side: replace everything after a row by another
    # continuation; nothing before it changes.
    inputs, cut = generated(), 1_234
    tail = generated(5_000).rows(cut, 5_000)
    later = inputs.time[cut - 1] + 1_000_000_000 - tail.time[0]
    spliced = FeatureInputs(
        time=np.concatenate((inputs.time[:cut], tail.time + later)),
        **{
            name: np.concatenate((getattr(inputs, name)[:cut], getattr(tail, name)))
            for name in ("open", "high", "low", "close", "volume")
        },
        trades=TradeFlowSeries(
            *(
                np.concatenate((getattr(inputs.trades, f.name)[:cut], getattr(tail.trades, f.name)))
                for f in dataclasses.fields(TradeFlowSeries)
            )
        ),
        book=OrderBookSeries(
            *(
                np.concatenate((getattr(inputs.book, f.name)[:cut], getattr(tail.book, f.name)))
                for f in dataclasses.fields(OrderBookSeries)
            )
        ),
    )
    matrix = compute_features(spliced)
    assert differing(compute_features(inputs), matrix.values[:cut], rows=cut) == []
    original = compute_features(inputs).values
    assert not np.array_equal(matrix.values[cut : len(inputs)], original[cut:], equal_nan=True)


def test_chunks_rows_and_threads_give_the_same_values(monkeypatch):
    inputs = generated()
    whole = compute_features(inputs, workers=1)
    monkeypatch.setattr(compute_module, "CHUNK_ROWS", 257)
    monkeypatch.setattr(compute_module, "PARALLEL_ROWS", 0)
    assert differing(whole, compute_features(inputs, workers=2).values) == []
    state, parts = FeatureState(bundles=inputs.bundles), []
    for a, b in [(0, 1), (1, 300), (300, 301), (301, 302), (302, 1_999), (1_999, 3_000)]:
        if b - a == 1:
            parts.append(state.update(inputs.row(a))[None, :])
        else:
            parts.append(state.extend(inputs.rows(a, b)).values)
    assert differing(whole, np.concatenate(parts)) == []


@pytest.mark.parametrize("series", SERIES)
def test_warm_up_rows_are_nan_and_later_rows_finite(series):
    matrix = compute_features(SERIES[series]())
    for index, spec in enumerate(matrix.specs):
        column = matrix.values[:, index]
        assert np.isnan(column[: spec.warm_up]).all(), spec.name
        assert np.isfinite(column[spec.warm_up :]).all(), spec.name


def test_candles_only_give_the_same_technical_values():
    candles = compute_features_quietly(eurusd_candles())
    full = compute_features(eurusd_full())
    for index, spec in enumerate(full.specs):
        if spec.bundles <= {"candles", "volume"}:
            assert np.array_equal(candles.values[:, index], full.values[:, index], equal_nan=True)


def compute_features_quietly(inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compute_features(inputs)


def test_a_live_state_can_start_from_a_batch():
    # Warm a live state on history in one vectorised step, then update row by row.
    inputs = generated()
    whole = compute_features(inputs)
    state = FeatureState(bundles=inputs.bundles)
    state.extend(inputs.rows(0, 2_500))
    for row in range(2_500, 2_520):
        assert np.array_equal(state.update(inputs.row(row)), whole.values[row], equal_nan=True)
    assert not math.isnan(whole.values[2_519].sum())
