"""The rolling sums, extremes, lags and exponential averages: batch and live agree bit for bit
however a series is cut into chunks, and both agree with the plain definitions."""

import math
from itertools import pairwise

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlmodels.features.primitives import (
    RESYNC,
    ExponentialAverage,
    Lags,
    RollingExtreme,
    RollingMeanVar,
    RollingSum,
    TimeWindowSums,
)

prices = arrays(
    np.float64,
    st.integers(1, 700),
    elements=st.floats(0.5, 2.0, allow_nan=False, allow_subnormal=False),
)
windows = st.integers(1, 300)


def cuts(data, n):
    """Random chunk boundaries of [0, n), with single rows among them."""
    points = sorted(set(data.draw(st.lists(st.integers(0, n), max_size=6))))
    bounds = [0, *points, n]
    return [(a, b) for a, b in pairwise(bounds) if b > a]


def by_chunks(make, values, data):
    """Each chunk through ``extend``, or row by row through ``push`` at random."""
    state, parts = make(), []
    for a, b in cuts(data, len(values)):
        if data.draw(st.booleans()):
            parts.append(np.asarray(state.extend(values[a:b])))
        else:
            parts.append(np.array([state.push(v) for v in values[a:b].tolist()]))
    return np.concatenate(parts, axis=-1)


def naive(values, window, reduce):
    return np.array([reduce(values[max(0, t - window + 1) : t + 1]) for t in range(len(values))])


@settings(max_examples=60, deadline=None)
@given(values=prices, window=windows, data=st.data())
def test_rolling_sum(values, window, data):
    whole = RollingSum(window).extend(values)
    assert np.array_equal(by_chunks(lambda: RollingSum(window), values, data), whole)
    np.testing.assert_allclose(whole, naive(values, window, np.sum), rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(values=prices, window=windows, data=st.data())
def test_rolling_mean_and_variance(values, window, data):
    mean, variance = RollingMeanVar(window).extend(values)
    state, means, variances = RollingMeanVar(window), [], []
    for a, b in cuts(data, len(values)):
        if data.draw(st.booleans()):
            m, v = state.extend(values[a:b])
        else:
            m, v = np.array([state.push(x) for x in values[a:b].tolist()]).T.reshape(2, -1)
        means.append(m)
        variances.append(v)
    assert np.array_equal(np.concatenate(means), mean)
    assert np.array_equal(np.concatenate(variances), variance)
    np.testing.assert_allclose(mean, naive(values, window, np.mean), rtol=1e-13)
    np.testing.assert_allclose(variance, naive(values, window, np.var), rtol=1e-7, atol=1e-13)


def test_variance_of_a_price_far_from_zero_keeps_its_digits():
    # 2,000 rows of a 30,000 price moving by cents: plain sums of squares would lose it.
    rng = np.random.default_rng(1)
    values = 30_000 + np.cumsum(rng.normal(0, 0.05, 2_000))
    _, variance = RollingMeanVar(20).extend(values)
    np.testing.assert_allclose(variance, naive(values, 20, np.var), rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(values=prices, window=windows, largest=st.booleans(), data=st.data())
def test_rolling_extremes(values, window, largest, data):
    whole = RollingExtreme(window, largest=largest).extend(values)
    assert np.array_equal(
        by_chunks(lambda: RollingExtreme(window, largest=largest), values, data), whole
    )
    assert np.array_equal(whole, naive(values, window, np.max if largest else np.min))


@settings(max_examples=60, deadline=None)
@given(values=prices, alpha=st.sampled_from([0.5, 2 / 13, 1 / 14, 2 / 201]), data=st.data())
def test_exponential_average(values, alpha, data):
    whole = ExponentialAverage(alpha).extend(values)
    assert np.array_equal(by_chunks(lambda: ExponentialAverage(alpha), values, data), whole)
    plain, previous = [], None
    for value in values.tolist():
        previous = value if previous is None else alpha * value + (1 - alpha) * previous
        plain.append(previous)
    np.testing.assert_allclose(whole, plain, rtol=1e-13)


def test_exponential_average_over_many_scan_levels():
    values = np.random.default_rng(2).random(70_000)
    whole = ExponentialAverage(0.01).extend(values)
    live = ExponentialAverage(0.01)
    assert np.array_equal([live.push(v) for v in values.tolist()], whole)


@settings(max_examples=40, deadline=None)
@given(values=prices, data=st.data())
def test_time_window_sums(values, data):
    gaps = data.draw(arrays(np.int64, len(values), elements=st.integers(1, 40)))
    time = np.cumsum(gaps) * 1_000_000_000
    span = 60 * 1_000_000_000
    (whole,), first = TimeWindowSums(span, 1).extend(time, [values])
    state, sums, firsts = TimeWindowSums(span, 1), [], []
    for a, b in cuts(data, len(values)):
        (part,), starts = state.extend(time[a:b], [values[a:b]])
        sums.append(part)
        firsts.append(starts)
    assert np.array_equal(np.concatenate(sums), whole)
    assert np.array_equal(np.concatenate(firsts), first)
    live = TimeWindowSums(span, 1)
    pushed = [live.push(int(t), [v]) for t, v in zip(time.tolist(), values.tolist(), strict=True)]
    assert np.array_equal([s[0] for s, _ in pushed], whole)
    for t in range(len(values)):
        inside = time > time[t] - span
        inside[t + 1 :] = False
        assert first[t] == np.argmax(inside)
        assert math.isclose(whole[t], values[inside].sum(), rel_tol=1e-12)


def test_lags():
    values = np.arange(1.0, 31.0)
    state = Lags(6)
    one, five = (
        np.concatenate(parts)
        for parts in zip(
            state.extend(values[:7], [1, 5]), state.extend(values[7:], [1, 5]), strict=True
        )
    )
    assert np.isnan(one[0]) and np.array_equal(one[1:], values[:-1])
    assert np.isnan(five[:5]).all() and np.array_equal(five[5:], values[:-5])
    state.push(31.0)
    assert state.ago(0) == 31.0 and state.ago(5) == 26.0


def test_rolling_sum_is_added_afresh_at_each_segment():
    # A value far larger than the rest leaves no residue once it leaves the window.
    values = np.ones(3 * RESYNC)
    values[10] = 1e17
    sums = RollingSum(5).extend(values)
    assert sums[RESYNC] == 5.0
