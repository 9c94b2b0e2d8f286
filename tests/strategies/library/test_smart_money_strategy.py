"""SmartMoneyFollower over bars: no lookahead and one decision path, with candles only and with
a book and trade flow."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mlmodels.features import (
    FeatureConfig,
    FeatureInputs,
    InputBundle,
    MissingFeatureInputs,
    OrderBookSeries,
    TradeFlowSeries,
    compute_features,
)
from mlmodels.regimes import fit_regimes
from strategies.domain.base import Bars, signals_from_targets
from strategies.library.smart_money import SmartMoneyConfig, SmartMoneyFollower, _regime_names
from tests.strategies.library.common import random_walk_bars

BARS = random_walk_bars(600, seed=5)


def market_data(bars: Bars, seed: int = 9) -> tuple[TradeFlowSeries, OrderBookSeries]:
    count = len(bars)
    rng = np.random.default_rng(seed)
    buy = np.round(rng.uniform(1, 10, count), 3)
    sell = np.round(rng.uniform(1, 10, count), 3)
    trades = TradeFlowSeries(buy, sell, np.full(count, 20.0), buy * 0.25, sell * 0.25)
    offsets = np.arange(1, 6) * 0.01
    bids = bars.close[:, None] - offsets[None]
    asks = bars.close[:, None] + offsets[None]
    sizes = np.round(rng.uniform(0.5, 5, (count, 10)), 3)
    return trades, OrderBookSeries(bids, sizes[:, :5], asks, sizes[:, 5:])


TRADES, BOOK = market_data(BARS)


def fitted_model():
    inputs = FeatureInputs(
        time=BARS.starts.astype("datetime64[ns]").astype(np.int64),
        open=BARS.open,
        high=BARS.high,
        low=BARS.low,
        close=BARS.close,
        volume=BARS.volume,
        trades=TRADES,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingFeatureInputs)  # no book: regimes need none
        matrix = compute_features(inputs, workers=1)
    columns = [matrix.column(name)[:300] for name in _regime_names(FeatureConfig())]
    return fit_regimes(*columns, restarts=2, iterations=30, min_duration=3)


MODEL = fitted_model()
AGGRESSIVE = SmartMoneyConfig(confidence_threshold=0.5, min_liquidity_score=0.3)


@pytest.mark.parametrize("with_market_data", [False, True])
def test_no_lookahead_and_live_agrees(with_market_data):
    bundles = frozenset({InputBundle.TRADES, InputBundle.BOOK}) if with_market_data else frozenset()
    strategy = SmartMoneyFollower(AGGRESSIVE, MODEL, bundles=bundles)
    extra = {"trades": TRADES, "book": BOOK} if with_market_data else {}
    whole = strategy.target_positions(BARS, **extra)
    for cut in (1, 60, 333):
        part = {k: v.rows(0, cut) for k, v in extra.items()}
        np.testing.assert_array_equal(
            strategy.target_positions(BARS.head(cut), **part), whole[:cut]
        )
    live = strategy.live()
    incremental = []
    for index, bar in enumerate(BARS):
        row = {}
        if with_market_data:
            row = {"trades": _trade_row(index), "book": _book_row(index)}
        if (signal := live.on_bar(bar, **row)) is not None:
            incremental.append(signal)
    assert incremental == signals_from_targets(BARS, whole)
    if with_market_data:
        assert len(incremental) > 10
        assert np.all(np.abs(whole) <= AGGRESSIVE.max_position_size)
    else:  # candles only: no lean of the book, so no trade
        assert not np.any(whole)


def _inputs_row(index: int):
    return FeatureInputs(
        time=BARS.starts.astype("datetime64[ns]").astype(np.int64),
        open=BARS.open,
        high=BARS.high,
        low=BARS.low,
        close=BARS.close,
        volume=BARS.volume,
        trades=TRADES,
        book=BOOK,
    ).row(index)


def _trade_row(index: int):
    return _inputs_row(index).trades


def _book_row(index: int):
    return _inputs_row(index).book
