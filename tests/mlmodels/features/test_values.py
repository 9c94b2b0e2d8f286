"""Feature values checked by hand, against the execution engine's book features, and the
handling of missing inputs, bad inputs and NaN."""

import math
import warnings
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.domain.urgency import book_features, touch_of
from mlmodels.features import (
    FeatureConfig,
    FeatureInputs,
    FeatureMatrix,
    FeatureRow,
    FeatureState,
    InvalidFeatureInputs,
    MissingFeatureInputs,
    OrderBookSeries,
    TradeFlowSeries,
    catalogue,
    compute_features,
    nan_report,
    trade_flow_bars,
)
from mlmodels.features.synthetic import synthetic_inputs
from tests.mlmodels.features.data import eurusd_candles, generated

SECOND = 1_000_000_000


def candles(close, *, seconds=1):
    close = np.asarray(close, dtype=float)
    return dict(
        time=np.arange(len(close), dtype=np.int64) * seconds * SECOND,
        open=close,
        high=close,
        low=close,
        close=close,
    )


def book(rows):
    """Books from (bid, bid size, ask, ask size) of the touch, a second level behind."""
    bid, bid_size, ask, ask_size = (
        np.array(column, dtype=float) for column in zip(*rows, strict=True)
    )
    return OrderBookSeries(
        bid_prices=np.stack((bid, bid - 1), axis=1),
        bid_sizes=np.stack((bid_size, np.full(len(rows), 4.0)), axis=1),
        ask_prices=np.stack((ask, ask + 1), axis=1),
        ask_sizes=np.stack((ask_size, np.full(len(rows), 4.0)), axis=1),
    )


def quietly(inputs, config=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingFeatureInputs)
        return compute_features(inputs, config)


def test_rsi_by_hand():
    # Wilder with period 2 (alpha 1/2), seeded with the first bar's move (none):
    # gains 0, 1, 1, 0 -> averages 0, 0.5, 0.75, 0.375; losses 0, 0, 0, 1 -> 0, 0, 0, 0.5.
    matrix = quietly(FeatureInputs(**candles([1.0, 2.0, 3.0, 2.0])), FeatureConfig(rsi_period=2))
    rsi = matrix.column("rsi_2")
    assert np.isnan(rsi[:2]).all()  # the warm-up: period rows
    assert rsi[2] == 100.0
    assert rsi[3] == pytest.approx(100 * 0.375 / 0.875, rel=1e-15)
    flat = quietly(FeatureInputs(**candles([5.0] * 20)))
    assert (flat.column("rsi_14")[14:] == 50.0).all()


def test_spread_and_order_flow_by_hand():
    # CKS e = 1{b >= b'} qb - 1{b <= b'} qb' - 1{a <= a'} qa + 1{a >= a'} qa'.
    # Book 2 keeps both prices and adds bid size (2 -> 3): e = 3 - 2 - 1 + 1 = 1.
    # Book 3 lifts the bid to 101 (size 1) and the ask to 103 (the old ask's 1 was taken):
    # e = 1 - 0 - 0 + 1 = 2.
    rows = [(100, 2, 102, 1), (100, 3, 102, 1), (101, 1, 103, 5)]
    inputs = FeatureInputs(**candles([101.0, 101.0, 102.0]), book=book(rows))
    matrix = quietly(inputs, FeatureConfig(depth_levels=2, concentration_levels=1))
    assert matrix.column("spread").tolist() == [2.0, 2.0, 2.0]
    assert matrix.column("relative_spread")[0] == 2.0 / 101.0
    assert matrix.column("order_imbalance_l1")[0] == (2 - 1) / (2 + 1)
    assert math.isnan(matrix.column("ofi_touch")[0])
    assert matrix.column("ofi_touch")[1:].tolist() == [1 / 4, 2 / 6]
    # Over the minute: events 1 and 1 + 2 = 3, mean touch depth (4 + 6) / 2 = 5.
    x = np.array([0.0, 1 / 4, 3 / 5])
    np.testing.assert_allclose(matrix.column("ofi_normalized_1m"), x / (1 + np.abs(x)), rtol=1e-15)
    assert matrix.column("book_resilience")[0] == min(1.0, 1.5 / ((6 / 2 + 5 / 2) / 2))


def test_book_features_match_the_execution_engine():
    # The features the execution engine reads (urgency.book_features) have the same
    # definitions here, computed over the same books.
    inputs = synthetic_inputs(160, seed=9, levels=6)
    matrix = quietly(inputs, FeatureConfig(concentration_levels=3, depth_levels=5))
    history = []
    for row in range(len(inputs)):
        now = datetime.fromtimestamp(int(inputs.time[row]) / 1e9, tz=UTC)
        bids = [
            (Decimal(p), Decimal(s))
            for p, s in zip(inputs.book.bid_prices[row], inputs.book.bid_sizes[row], strict=True)
        ]
        asks = [
            (Decimal(p), Decimal(s))
            for p, s in zip(inputs.book.ask_prices[row], inputs.book.ask_sizes[row], strict=True)
        ]
        engine = book_features(bids=bids, asks=asks, now=now, history=history, top_levels=3)
        history.append(touch_of(bids, asks, now))
        for name in (
            "spread_stability_norm_100",
            "ofi_normalized_1m",
            "book_resilience",
            "volume_concentration",
        ):
            assert matrix.column(name)[row] == pytest.approx(
                getattr(engine, name), rel=1e-9, abs=1e-12
            ), (name, row)


def test_missing_inputs_give_zeros_and_one_warning_naming_them():
    inputs = eurusd_candles()  # candles and volume: no book, no trade flow
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        matrix = compute_features(inputs)
    missing = [spec for spec in catalogue() if not spec.bundles <= {"candles", "volume"}]
    assert len(missing) >= 40
    assert len(caught) == 1 and caught[0].category is MissingFeatureInputs
    message = str(caught[0].message)
    assert "book" in message and "trades" in message
    for spec in missing:
        assert spec.name in message
        assert (matrix.column(spec.name) == 0.0).all()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state = FeatureState(bundles=inputs.bundles)
        for row in range(30):
            state.update(inputs.row(row))
    assert len(caught) == 1 and caught[0].category is MissingFeatureInputs


def test_candles_without_volume_zero_the_volume_features():
    inputs = eurusd_candles()
    no_volume = FeatureInputs(
        time=inputs.time, open=inputs.open, high=inputs.high, low=inputs.low, close=inputs.close
    )
    with pytest.warns(MissingFeatureInputs, match="volume_surge_20"):
        matrix = compute_features(no_volume)
    assert (matrix.column("volume_surge_20") == 0.0).all()
    assert np.isfinite(matrix.column("rsi_14")[14:]).all()


def test_nan_report_counts_nan_and_inf_per_feature():
    matrix = compute_features(generated())
    report = {health.name: health for health in nan_report(matrix)}
    assert list(report) == list(matrix.names)
    for spec in matrix.specs:
        assert report[spec.name].nan == spec.warm_up
        assert report[spec.name].inf == 0
        assert report[spec.name].nan_after_warm_up == 0
    specs = catalogue()[:2]
    values = np.array([[math.nan, 1.0], [math.inf, math.nan], [2.0, -math.inf]])
    odd = nan_report(FeatureMatrix(specs, values))
    assert [(h.nan, h.inf) for h in odd] == [(1, 1), (1, 1)]
    assert odd[1].nan_after_warm_up == (1 if specs[1].warm_up <= 1 else 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"close": [1.0, math.nan, 1.0]}, "close at row 1"),
        ({"close": [1.0, -1.0, 1.0]}, "close at row 1 is not positive"),
        ({"time": np.array([0, 5, 5])}, "time at row 2"),
        ({"high": [1.0, 0.5, 1.0]}, "high at row 1"),
        ({"volume": [1.0, 2.0]}, "volume has 2 rows"),
    ],
)
def test_bad_inputs_are_refused_naming_column_and_row(change, message):
    columns = {**candles([1.0, 1.0, 1.0]), "volume": [1.0, 1.0, 1.0], **change}
    with pytest.raises(InvalidFeatureInputs, match=message):
        FeatureInputs(**columns)


def test_bad_books_and_rows_are_refused():
    with pytest.raises(InvalidFeatureInputs, match="cross"):
        book([(101, 1, 100, 1)])
    with pytest.raises(InvalidFeatureInputs, match="bid_prices at row 0 are not best"):
        OrderBookSeries(
            bid_prices=[[100.0, 100.5]],
            bid_sizes=[[1.0, 1.0]],
            ask_prices=[[101.0, 102.0]],
            ask_sizes=[[1.0, 1.0]],
        )
    with pytest.raises(InvalidFeatureInputs, match="exceeds"):
        TradeFlowSeries([1.0], [1.0], [2.0], [2.0], [0.0])
    with pytest.raises(InvalidFeatureInputs, match="close"):
        FeatureRow(time=1, open=1.0, high=1.0, low=1.0, close=math.inf)
    state = FeatureState(bundles=generated().bundles)
    state.update(generated().row(5))
    with pytest.raises(InvalidFeatureInputs, match="not after"):
        state.update(generated().row(4))
    with pytest.raises(InvalidFeatureInputs, match="the row has no"):
        state.update(eurusd_candles().row(4))


def test_trade_flow_bars_split_at_the_large_order_threshold():
    bars = np.array([10, 20, 30]) * SECOND
    trades = trade_flow_bars(
        bar_time=bars,
        trade_time=np.array([1, 10, 11, 15, 25, 31]) * SECOND,
        trade_size=[0.5, 2.0, 1.0, 0.2, 3.0, 9.0],
        trade_is_buy=[True, False, True, True, False, True],
        large_order_threshold=1.0,
    )
    assert trades.buy_volume.tolist() == [0.5, 1.2, 0.0]
    assert trades.sell_volume.tolist() == [2.0, 0.0, 3.0]
    assert trades.trade_count.tolist() == [2.0, 2.0, 1.0]  # the trade after the last bar: left out
    assert trades.large_buy_volume.tolist() == [0.0, 1.0, 0.0]
    assert trades.large_sell_volume.tolist() == [2.0, 0.0, 3.0]


BOUNDED = {
    "rsi_14": (0.0, 100.0),
    "stochastic_k_14": (0.0, 1.0),
    "close_location": (0.0, 1.0),
    "flow_imbalance": (-1.0, 1.0),
    "flow_imbalance_20": (-1.0, 1.0),
    "order_imbalance_l1": (-1.0, 1.0),
    "order_imbalance_depth": (-1.0, 1.0),
    "pressure_imbalance_weighted": (-1.0, 1.0),
    "microprice_offset": (-0.5, 0.5),
    "ofi_normalized_1m": (-1.0, 1.0),
    "ofi_weighted_30s": (-1.0, 1.0),
    "spread_stability_norm_100": (0.0, 1.0),
    "book_resilience": (0.0, 1.0),
    "volume_concentration": (0.0, 1.0),
    "vpin_50": (0.0, 1.0),
    "large_order_share": (0.0, 1.0),
    "trend_score": (-1.0, 1.0),
    "flow_pressure_score": (-1.0, 1.0),
    "liquidity_score": (0.0, 1.0),
    "macd_cross": (-1.0, 1.0),
}


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 400), levels=st.integers(5, 12))
def test_bounded_features_stay_in_their_ranges(seed, rows, levels):
    matrix = compute_features(synthetic_inputs(rows, seed=seed, levels=levels))
    for name, (low, high) in BOUNDED.items():
        column = matrix.column(name)
        known = column[~np.isnan(column)]
        assert ((known >= low) & (known <= high)).all(), name
    flags = ["rsi_overbought_14", "rsi_oversold_14", "bollinger_breakout_20"]
    for name in flags:
        column = matrix.column(name)
        assert set(np.unique(column[~np.isnan(column)])) <= {-1.0, 0.0, 1.0}


def test_a_refused_row_changes_nothing():
    inputs = generated()
    state = FeatureState(bundles=inputs.bundles)
    state.extend(inputs.rows(0, 100))
    good = inputs.row(100)
    thin = FeatureRow(
        time=good.time,
        open=good.open,
        high=good.high,
        low=good.low,
        close=good.close,
        volume=good.volume,
        trades=good.trades,
        book=type(good.book)(
            *(
                side[:6]
                for side in (
                    good.book.bid_prices,
                    good.book.bid_sizes,
                    good.book.ask_prices,
                    good.book.ask_sizes,
                )
            )
        ),
    )
    with pytest.raises(InvalidFeatureInputs, match="6 levels, before 10"):
        state.update(thin)
    expected = compute_features(inputs.rows(0, 101)).values[100]
    assert np.array_equal(state.update(good), expected, equal_nan=True)
