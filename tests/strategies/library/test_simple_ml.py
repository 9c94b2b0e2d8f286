"""SimpleML: walk-forward by construction (no lookahead, the future never changes the past),
one decision path, the regression equal to scikit-learn's, features by hand, and bad config
refused naming the field."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from execution.domain.errors import DomainError
from strategies.domain.base import Bars
from strategies.kinds import KINDS
from strategies.library import STRATEGY_KINDS, parse_config
from strategies.library.simple_ml import (
    SimpleMl,
    SimpleMlConfig,
    _training_rows,
    fit_logistic,
    next_target,
    simple_ml_features,
)
from tests.strategies.library.common import (
    assert_no_lookahead,
    assert_paths_agree,
    random_walk_bars,
)

# Thresholds near 0.5: on a random walk the model's P(up) rarely leaves 0.4..0.6.
CONFIG = SimpleMlConfig(
    buy_above=0.52, sell_below=0.48, train_window=300, refit_every=25, min_train_rows=60
)
BARS = random_walk_bars(1_200, seed=11)


def with_closes(bars: Bars, close: np.ndarray) -> Bars:
    return Bars(bars.starts, close, close, close, close, bars.volume)


def momentum_bars(count: int, seed: int) -> Bars:
    """Returns that follow the last one (AR(1), phi 0.6): something a regression can learn."""
    rng = np.random.default_rng(seed)
    returns = np.zeros(count)
    for i in range(1, count):
        returns[i] = 0.6 * returns[i - 1] + rng.normal(0, 0.002)
    return with_closes(random_walk_bars(count, seed), 100 * np.cumprod(1 + returns))


@pytest.mark.parametrize("long_only", [False, True])
def test_no_lookahead_and_live_agrees(long_only):
    config = SimpleMlConfig(**{**CONFIG.to_dict(), "long_only": long_only})
    strategy = SimpleMl(config)
    first = config.first_fit
    assert first == 20 + 1 + 60 - 1
    assert strategy.warmup_bars == first
    targets = strategy.target_positions(BARS)
    assert not targets[:first].any() and targets[first:].any()
    assert (targets >= 0).all() if long_only else (targets < 0).any()
    assert_no_lookahead(strategy, BARS, (1, first, first + 1, first + 25, 600, 1_199))
    assert_paths_agree(strategy, BARS, min_signals=30)


@pytest.mark.parametrize("cut", [150, 407, 800])
def test_changing_later_prices_never_changes_earlier_targets(cut):
    strategy = SimpleMl(CONFIG)
    before = strategy.target_positions(BARS)
    close = BARS.close.copy()
    rng = np.random.default_rng(cut)
    close[cut + 1 :] = close[cut + 1 :] * rng.uniform(0.8, 1.2, len(close) - cut - 1)
    after = strategy.target_positions(with_closes(BARS, close))
    np.testing.assert_array_equal(after[: cut + 1], before[: cut + 1])
    assert not np.array_equal(after, before)  # the perturbation did reach later decisions


def test_a_fit_reads_only_labels_known_at_its_bar():
    for config in (CONFIG, SimpleMlConfig(horizon=5, train_window=200, min_train_rows=50)):
        for refit in range(config.first_fit, 2_000, config.refit_every):
            rows = _training_rows(config, refit)
            assert rows.start >= config.warmup and rows.start > refit - config.train_window
            assert rows.stop - 1 + config.horizon == refit  # the last label ends at the refit bar
            assert len(rows) >= config.min_train_rows


def test_the_same_bars_give_the_same_targets():
    first = SimpleMl(CONFIG).target_positions(BARS)
    np.testing.assert_array_equal(SimpleMl(CONFIG).target_positions(BARS), first)


def test_it_learns_momentum_out_of_sample():
    bars = momentum_bars(3_000, seed=5)
    config = SimpleMlConfig(buy_above=0.55, sell_below=0.45)
    targets = SimpleMl(config).target_positions(bars)
    held = np.flatnonzero(targets[:-1] != 0)
    moves = np.sign(bars.close[held + 1] - bars.close[held])
    hit_rate = float(np.mean(moves == targets[held]))
    assert len(held) > 1_000 and hit_rate > 0.6


def test_the_regression_is_scikit_learns():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)) * [1, 2, 3, 0.1, 5, 1] + [0, 1, -1, 0, 10, 0]
    y = (x[:, 0] - 0.3 * x[:, 2] + rng.normal(size=400) > 0).astype(np.float64)
    for c in (0.05, 1.0, 100.0):
        model = fit_logistic(x, y, c)
        assert model is not None and model.rows == 400
        reference = LogisticRegression(C=c, tol=1e-12, max_iter=10_000)
        reference.fit((x - x.mean(axis=0)) / x.std(axis=0), y)
        np.testing.assert_allclose(model.weights, reference.coef_[0], rtol=1e-5, atol=1e-8)
        assert model.intercept == pytest.approx(reference.intercept_[0], rel=1e-5, abs=1e-8)


def test_one_class_or_unknown_rows_are_not_fitted():
    x = np.arange(20, dtype=np.float64).reshape(10, 2)
    assert fit_logistic(x, np.ones(10), 1.0) is None
    x[0, 1] = np.nan
    labels = np.array([0.0] + [1.0] * 9)
    assert fit_logistic(x, labels, 1.0) is None  # the only 0 row has an unknown feature


def test_features_by_hand():
    config = SimpleMlConfig(lookback=2, ma_window=3, vol_window=2, min_train_rows=10)
    close = np.array([100.0, 101.0, 99.0, 102.0, 102.0])
    features = simple_ml_features(close, config)
    assert config.feature_names() == ["return_1", "return_2", "price_vs_ma", "volatility"]
    assert config.warmup == 2
    returns = close[1:] / close[:-1] - 1
    np.testing.assert_array_equal(features[1:, 0], returns)
    np.testing.assert_array_equal(features[2:, 1], returns[:-1])
    assert features[3, 2] == pytest.approx(102 / ((101 + 99 + 102) / 3) - 1)
    assert features[4, 3] == pytest.approx(abs(returns[3] - returns[2]) / 2)
    assert np.isnan(features[:2, 2]).all() and np.isnan(features[:2, 3]).all()
    assert np.isfinite(features[config.warmup :]).all()


@pytest.mark.parametrize(
    ("probability", "held", "long_only", "expected"),
    [(0.61, 0.0, False, 1.0), (0.39, 1.0, False, -1.0), (0.39, 1.0, True, 0.0),
     (0.5, -1.0, False, -1.0), (0.6, 0.0, False, 0.0), (0.4, 1.0, False, 1.0)],
)  # fmt: skip
def test_buy_above_sell_below_hold_between(probability, held, long_only, expected):
    config = SimpleMlConfig(long_only=long_only)
    margin = np.log(probability / (1 - probability))
    assert next_target(config, held, float(margin)) == expected


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"buy_above": 0.5, "sell_below": 0.5}, "buy_above"),
        ({"buy_above": 0.4}, "buy_above"),
        ({"sell_below": 0.6}, "sell_below"),
        ({"lookback": 0}, "lookback"),
        ({"lookback": 21}, "lookback"),
        ({"ma_window": 1}, "ma_window"),
        ({"vol_window": 1.5}, "vol_window"),
        ({"horizon": 0}, "horizon"),
        ({"train_window": 10}, "train_window"),
        ({"refit_every": 0}, "refit_every"),
        ({"min_train_rows": 5}, "min_train_rows"),
        ({"train_window": 100, "min_train_rows": 100}, "min_train_rows"),
        ({"c": 0}, "c"),
        ({"c": float("inf")}, "c"),
        ({"long_only": "yes"}, "long_only"),
    ],
)
def test_bad_config_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(DomainError, match=field) as raised:
        SimpleMlConfig(**kwargs)
    assert raised.value.key == field


def test_a_registered_kind_that_needs_no_model():
    assert STRATEGY_KINDS["simple_ml"] == (SimpleMl, SimpleMlConfig)
    assert isinstance(parse_config("simple_ml", {"refit_every": 10}), SimpleMlConfig)
    assert not KINDS["simple_ml"].needs_model
    with pytest.raises(DomainError, match="unknown setting"):
        parse_config("simple_ml", {"window": 3})


@settings(max_examples=15, deadline=None)
@given(
    lookback=st.integers(1, 6),
    horizon=st.integers(1, 8),
    refit_every=st.integers(5, 60),
    train_window=st.integers(60, 200),
    cut=st.integers(0, 399),
    seed=st.integers(0, 2**16),
)
def test_property_the_future_never_reaches_the_past(
    lookback, horizon, refit_every, train_window, cut, seed
):
    config = SimpleMlConfig(
        lookback=lookback, horizon=horizon, refit_every=refit_every, train_window=train_window,
        min_train_rows=40, ma_window=10, vol_window=10, buy_above=0.51, sell_below=0.49,
    )  # fmt: skip
    bars = random_walk_bars(400, seed=seed % 97)
    strategy = SimpleMl(config)
    whole = strategy.target_positions(bars)
    np.testing.assert_array_equal(strategy.target_positions(bars.head(cut + 1)), whole[: cut + 1])
    close = bars.close.copy()
    close[cut + 1 :] *= np.random.default_rng(seed).uniform(0.8, 1.2, len(close) - cut - 1)
    changed = strategy.target_positions(with_closes(bars, close))
    np.testing.assert_array_equal(changed[: cut + 1], whole[: cut + 1])
