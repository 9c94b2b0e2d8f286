"""Book features, urgency, sizing and the algorithm an execution plan chooses."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution.domain.algos import InvalidAlgoConfig, MarketView, PlaceChild, algorithm_from_config
from execution.domain.errors import DomainError
from execution.domain.orders import OrderType, TimeInForce
from execution.domain.urgency import (
    BookFeatures,
    ExecutionPlan,
    InvalidConfig,
    SkipExecution,
    TouchSnapshot,
    UrgencyConfig,
    UrgencyLevel,
    book_features,
    plan_execution,
    touch_of,
)
from execution.domain.values import InstrumentSpec, Side

NOW = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
SPEC = InstrumentSpec("BTC-USDT", "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"))
BIDS = [(D(100), D(2)), (D(99), D(4)), (D(98), D(6))]
ASKS = [(D(101), D(1)), (D(102), D(3)), (D(103), D(5)), (D(104), D(7))]


def ago(seconds):
    return NOW - timedelta(seconds=seconds)


def touch(seconds_ago, bid, bid_size, ask, ask_size):
    return TouchSnapshot(ago(seconds_ago), D(bid), D(bid_size), D(ask), D(ask_size))


def features(stability=0.1, ofi=0.0, resilience=1.0, concentration=0.5):
    return BookFeatures(stability, ofi, resilience, concentration)


def plan(
    strength=0.6,
    side=Side.BUY,
    base="1",
    bid="100.0",
    ask="101.0",
    spec=SPEC,
    config=None,
    size_factor=D(1),
    **feature_values,
):
    return plan_execution(
        features=features(**feature_values),
        strength=strength,
        side=side,
        base_quantity=D(base),
        best_bid=D(bid),
        best_ask=D(ask),
        spec=spec,
        config=config,
        size_factor=size_factor,
    )


# -- features, computed by hand ------------------------------------------------------------


def test_resilience_and_concentration_of_a_small_book():
    result = book_features(bids=BIDS, asks=ASKS, now=NOW)
    # touch (2 + 1) / 2 = 1.5 against levels of 12 / 3 = 4 (bids) and 16 / 4 = 4 (asks)
    assert result.book_resilience == pytest.approx(1.5 / 4)
    # top 3 of each side: 12 + 9 of 28
    assert result.volume_concentration == pytest.approx(21 / 28)
    assert book_features(bids=BIDS, asks=ASKS, now=NOW, top_levels=1).volume_concentration == (
        pytest.approx(3 / 28)
    )
    # no history: a single spread and no flow
    assert result.spread_stability_norm_100 == 0 and result.ofi_normalized_1m == 0


def test_a_touch_at_least_as_deep_as_a_typical_level_is_fully_resilient():
    bids = [(D(100), D(10)), (D(99), D(1))]
    asks = [(D(101), D(10)), (D(102), D(1))]
    assert book_features(bids=bids, asks=asks, now=NOW).book_resilience == 1


def test_spread_stability_is_the_squashed_coefficient_of_variation():
    # spreads 3 then 1 (now): mean 2, population std 1, cv 0.5 -> 0.5 / 1.5
    history = [touch(5, "99", "1", "102", "1")]
    result = book_features(bids=BIDS, asks=ASKS, now=NOW, history=history)
    assert result.spread_stability_norm_100 == pytest.approx(1 / 3)
    steady = [touch(s, "100", "1", "101", "1") for s in (3, 2, 1)]
    assert (
        book_features(bids=BIDS, asks=ASKS, now=NOW, history=steady).spread_stability_norm_100 == 0
    )


def test_spread_stability_looks_at_the_last_100_observations_only():
    wide = [touch(200 - i, "99", "1", "102", "1") for i in range(50)]
    narrow = [touch(99 - i, "100", "1", "101", "1") for i in range(99)]
    result = book_features(bids=BIDS, asks=ASKS, now=NOW, history=wide + narrow)
    assert result.spread_stability_norm_100 == 0


def test_ofi_sums_cont_kukanov_stoikov_events_over_the_last_minute():
    history = [
        touch(90, "100", "5", "101", "5"),  # the state the minute starts from
        touch(30, "100", "8", "101", "5"),  # bid size up 3: e = 8 - 5 - 5 + 5 = 3
    ]
    # now bid 2, ask 1 at the same prices: e = 2 - 8 - 1 + 5 = -2
    result = book_features(bids=BIDS, asks=ASKS, now=NOW, history=history)
    # OFI 1 over a mean touch depth of (13 + 3) / 2 = 8: x = 1/8 -> x / (1 + x) = 1/9
    assert result.ofi_normalized_1m == pytest.approx(1 / 9)


@pytest.mark.parametrize(
    ("before", "after", "ofi"),
    [
        # the ask level is taken out: + its old size 4; depth 10 -> x 0.4
        (("100", "4", "101", "4"), ("100", "4", "102", "6"), 4 / 10),
        # a better bid appears: + its size 3, asks unchanged; depth 7
        (("100", "4", "101", "4"), ("100.5", "3", "101", "4"), 3 / 7),
        # the bid level is taken out: - its old size 4; depth 10
        (("100", "4", "101", "4"), ("99", "6", "101", "4"), -4 / 10),
        # a better ask appears: - its size 5; depth 9
        (("100", "4", "101", "4"), ("100", "4", "100.5", "5"), -5 / 9),
    ],
)
def test_ofi_follows_price_moves_at_the_touch(before, after, ofi):
    history = [touch(10, *before)]
    bid, bid_size, ask, ask_size = after
    result = book_features(
        bids=[(D(bid), D(bid_size))], asks=[(D(ask), D(ask_size))], now=NOW, history=history
    )
    assert result.ofi_normalized_1m == pytest.approx(ofi / (1 + abs(ofi)))


def test_ofi_ignores_events_older_than_a_minute():
    history = [touch(120, "100", "1", "101", "1"), touch(60, "100", "9", "101", "1")]
    result = book_features(bids=[(D(100), D(9))], asks=[(D(101), D(1))], now=NOW, history=history)
    assert result.ofi_normalized_1m == 0  # the only change happened exactly a minute ago


@pytest.mark.parametrize(
    ("bids", "asks", "message"),
    [
        ([], ASKS, "empty book: no bids"),
        (BIDS, [], "empty book: no asks"),
        ([(D(101), D(1))], ASKS, "crossed book: best bid 101 is at or above best ask 101"),
        ([(D(99), D(1)), (D(100), D(1))], ASKS, "bids must be best first"),
        (BIDS, [(D(101), D(1)), (D(101), D(2))], "asks must be best first"),
        ([(D(100), D(0))], ASKS, "bid size at level 1 must be greater than zero"),
        ([(100.0, D(1))], ASKS, "pass a string or Decimal, not float"),
    ],
)
def test_a_bad_book_is_refused_with_a_clear_error(bids, asks, message):
    with pytest.raises(DomainError, match=message):
        book_features(bids=bids, asks=asks, now=NOW)


def test_history_must_be_in_order_and_not_from_the_future():
    with pytest.raises(DomainError, match="after now"):
        book_features(bids=BIDS, asks=ASKS, now=NOW, history=[touch(-1, "100", "1", "101", "1")])
    backwards = [touch(1, "100", "1", "101", "1"), touch(2, "100", "1", "101", "1")]
    with pytest.raises(DomainError, match="out of order"):
        book_features(bids=BIDS, asks=ASKS, now=NOW, history=backwards)
    with pytest.raises(DomainError, match="crossed book"):
        touch(1, "101", "1", "100", "1")


def test_touch_of_a_book_is_its_best_levels():
    assert touch_of(BIDS, ASKS, NOW) == TouchSnapshot(NOW, D(100), D(2), D(101), D(1))


def test_features_out_of_range_are_refused():
    with pytest.raises(DomainError, match=r"ofi_normalized_1m must be in \[-1, 1\]"):
        BookFeatures(0.1, 1.5, 0.5, 0.5)
    with pytest.raises(DomainError, match=r"book_resilience must be in \[0, 1\]"):
        BookFeatures(0.1, 0.0, -0.1, 0.5)


# -- urgency: every boundary ---------------------------------------------------------------

PASSIVE, BALANCED = UrgencyLevel.PASSIVE_MAKER, UrgencyLevel.BALANCED
AGGRESSIVE, URGENT = UrgencyLevel.AGGRESSIVE_LIMIT, UrgencyLevel.URGENT


@pytest.mark.parametrize(
    ("strength", "stability", "ofi", "expected"),
    [
        (0.29, 0.0, 0.0, "weak_signal"),
        (0.0, 0.0, 0.0, "weak_signal"),
        (0.3, 0.19, 0.0, PASSIVE),
        (0.3, 0.2, 0.0, "unstable_for_weak_signal"),
        (0.49, 0.19, 0.9, PASSIVE),
        (0.49, 0.5, 0.0, "unstable_for_weak_signal"),
        (0.5, 0.9, 0.9, BALANCED),
        (0.79, 0.0, 0.0, BALANCED),
        (0.79, 0.9, 0.9, BALANCED),
        (0.8, 0.19, 0.9, PASSIVE),
        (1.0, 0.0, 0.0, PASSIVE),
        (0.8, 0.2, 0.0, BALANCED),
        (0.8, 0.39, 0.29, BALANCED),
        (0.8, 0.4, 0.0, AGGRESSIVE),
        (0.8, 0.6, 0.0, AGGRESSIVE),
        (0.8, 0.6, 0.6, AGGRESSIVE),  # 0.6 is not above 0.6: not unstable
        (0.8, 0.61, 0.5, AGGRESSIVE),  # unstable, but flow 0.5 is not above 0.5
        (0.8, 0.61, 0.51, URGENT),
        (0.8, 0.99, 0.0, AGGRESSIVE),
        (0.8, 0.2, 0.29, BALANCED),
        (0.8, 0.2, 0.3, AGGRESSIVE),
        (0.8, 0.3, 0.7, AGGRESSIVE),
        (0.8, 0.3, 0.71, URGENT),
    ],
)
def test_urgency_from_strength_and_book(strength, stability, ofi, expected):
    result = plan(strength=strength, stability=stability, ofi=ofi)
    if isinstance(expected, UrgencyLevel):
        assert isinstance(result, ExecutionPlan) and result.urgency is expected
    else:
        assert isinstance(result, SkipExecution) and result.rule == expected


@pytest.mark.parametrize(
    ("ofi", "expected"), [(-0.71, URGENT), (-0.3, AGGRESSIVE), (0.9, BALANCED)]
)
def test_order_flow_counts_toward_a_sell_when_negative(ofi, expected):
    assert plan(strength=0.9, stability=0.3, ofi=ofi, side=Side.SELL).urgency is expected


def test_flow_against_the_order_is_no_reason_to_hurry():
    result = plan(strength=0.9, stability=0.7, ofi=-0.9, side=Side.BUY)
    assert result.urgency is AGGRESSIVE


def test_a_skip_says_why():
    result = plan(strength=0.4, stability=0.3)
    assert result == SkipExecution(
        "unstable_for_weak_signal",
        "a weak signal (0.4) trades only on a stable spread: spread stability 0.30 is not "
        "below 0.2",
    )


def test_signal_strength_outside_zero_to_one_is_refused():
    with pytest.raises(DomainError, match=r"signal strength must be in \[0, 1\]"):
        plan(strength=1.2)


# -- size ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strength", "values", "quantity"),
    [
        (0.6, {}, "0.6"),
        (0.9, {"stability": 0.7}, "0.45"),  # unstable: x 0.5
        (0.9, {"stability": 0.6}, "0.9"),  # 0.6 is not unstable
        (0.5, {"ofi": -0.8}, "0.6"),  # strong flow either way: x 1.2
        (0.5, {"ofi": 0.7}, "0.5"),  # 0.7 is not above 0.7
        (0.5, {"resilience": 0.2}, "0.35"),  # thin book: x 0.7
        (0.5, {"resilience": 0.3}, "0.5"),
        (1.0, {"stability": 0.7, "ofi": 0.8, "resilience": 0.2}, "0.42"),  # 0.5 x 1.2 x 0.7
        (0.7777, {}, "0.777"),  # rounded down onto the lot
    ],
)
def test_size_multipliers(strength, values, quantity):
    assert plan(strength=strength, **values).quantity == D(quantity)


def test_size_is_capped_at_one_and_a_half_times_the_base():
    config = UrgencyConfig(strong_flow_size_factor=D(2))
    result = plan(strength=1.0, stability=0.3, ofi=0.8, config=config)
    assert result.quantity == D("1.5")
    assert "size capped at 1.5 x base" in result.rationale


def test_the_breakers_size_factor_applies_after_the_cap():
    assert plan(strength=0.6, size_factor=D("0.5")).quantity == D("0.3")


def test_a_size_below_the_minimum_quantity_is_a_skip():
    spec = InstrumentSpec("ETH-USDT", "ETH", "USDT", D("0.1"), D("0.001"), D("0.01"))
    result = plan(strength=0.5, base="0.01", spec=spec)
    assert result == SkipExecution(
        "min_quantity",
        "the size 0.005 (on the lot 0.001) is below ETH-USDT's minimum quantity 0.01",
    )
    assert plan(strength=0.3, stability=0.1, base="0.001").rule == "min_quantity"  # 0.0003 -> 0


def test_a_size_below_the_minimum_notional_is_a_skip():
    spec = InstrumentSpec("ETH-USDT", "ETH", "USDT", D("0.1"), D("0.001"), D("0.001"), D("5"))
    result = plan(strength=0.5, base="0.08", spec=spec)
    assert result == SkipExecution(
        "min_notional",
        "the size 0.04 is worth 4 USDT at the best bid, below ETH-USDT's minimum notional 5 USDT",
    )
    assert plan(strength=0.5, base="0.1", spec=spec).quantity == D("0.05")


# -- the algorithm -------------------------------------------------------------------------


def started(result, side=Side.BUY, bid="100.0", ask="101.0"):
    """The first child the plan's algorithm sends into a book."""
    market = MarketView(NOW, D(bid), D(ask))
    step = result.algorithm().start(
        parent_id="P1", spec=SPEC, side=side, quantity=result.quantity, now=NOW, market=market
    )
    return next(action.request for action in step.actions if isinstance(action, PlaceChild))


def test_passive_maker_joins_its_touch_post_only_with_no_fallback():
    result = plan(strength=0.9, stability=0.1)
    assert (result.algorithm_kind, result.algorithm_params) == (
        "limit",
        {"timeout": "60", "fallback_to_market": False, "post_only": True},
    )
    child = started(result)
    assert child.time_in_force is TimeInForce.POST_ONLY
    assert (child.order_type, child.price) == (OrderType.LIMIT, D(100))


def test_balanced_is_a_limit_at_the_touch_then_market():
    result = plan(strength=0.6)
    assert (result.algorithm_kind, result.algorithm_params) == (
        "limit",
        {"timeout": "30", "fallback_to_market": True},
    )
    assert started(result, side=Side.BUY).price == D(100)


@pytest.mark.parametrize(
    ("side", "bid", "ask", "concentration", "price"),
    [
        (Side.BUY, "100.0", "101.0", 0.5, "100.5"),  # half-way into the spread
        (Side.SELL, "100.0", "101.0", 0.5, "100.5"),
        (Side.BUY, "100.0", "100.3", 0.5, "100.1"),  # 100.15 onto the tick, the passive way
        (Side.SELL, "100.0", "100.3", 0.5, "100.2"),
        (Side.BUY, "100.0", "101.0", 0.6, "101.0"),  # depth at the top: take the touch
        (Side.SELL, "100.0", "101.0", 0.6, "100.0"),
        (Side.BUY, "100.0", "101.0", 0.59, "100.5"),
    ],
)
def test_aggressive_limit_improves_toward_the_other_side(side, bid, ask, concentration, price):
    ofi = 0.5 * side.sign
    result = plan(
        strength=0.9,
        stability=0.3,
        ofi=ofi,
        side=side,
        bid=bid,
        ask=ask,
        concentration=concentration,
    )
    assert result.urgency is AGGRESSIVE and result.algorithm_kind == "limit"
    assert result.algorithm_params == {
        "timeout": "10",
        "fallback_to_market": True,
        "price": price,
    }
    assert started(result, side=side, bid=bid, ask=ask).price == D(price)


def test_urgent_is_a_market_order():
    result = plan(strength=0.9, stability=0.3, ofi=0.8)
    assert (result.algorithm_kind, result.algorithm_params) == ("market", {})
    assert started(result).order_type is OrderType.MARKET


@pytest.mark.parametrize(
    ("values", "kind", "params", "first_price"),
    [
        (
            {"strength": 0.9, "stability": 0.1},
            "iceberg",
            {"visible_pct": "0.2", "max_refresh_time": "60", "use_limit_orders": True},
            "100.0",
        ),
        (
            {"strength": 0.6},
            "twap",
            {"duration": "60", "num_slices": 5, "use_limit_orders": True},
            "100.0",
        ),
        (
            {"strength": 0.9, "stability": 0.5},
            "twap",
            {
                "duration": "60",
                "num_slices": 5,
                "use_limit_orders": True,
                "price_offset_pct": "0.005000000000",  # half the spread of 1 over the bid 100
            },
            "100.5",
        ),
        (
            {"strength": 0.9, "stability": 0.5, "concentration": 0.7},
            "twap",
            {
                "duration": "60",
                "num_slices": 5,
                "use_limit_orders": True,
                "price_offset_pct": "0.010000000000",
            },
            "101.0",
        ),
        (
            {"strength": 0.9, "stability": 0.3, "ofi": 0.8},
            "twap",
            {"duration": "60", "num_slices": 5, "use_limit_orders": False},
            None,
        ),
    ],
)
def test_a_thin_book_splits_the_order(values, kind, params, first_price):
    result = plan(resilience=0.29, **values)
    assert result.split and (result.algorithm_kind, result.algorithm_params) == (kind, params)
    child = started(result)
    assert child.price == (None if first_price is None else D(first_price))


@pytest.mark.parametrize("level", list(UrgencyLevel))
@pytest.mark.parametrize("split", [False, True])
def test_every_plan_is_accepted_by_algorithm_from_config(level, split):
    values = {
        PASSIVE: {"strength": 0.9, "stability": 0.1},
        BALANCED: {"strength": 0.6},
        AGGRESSIVE: {"strength": 0.9, "stability": 0.5},
        URGENT: {"strength": 0.9, "stability": 0.3, "ofi": 0.9},
    }[level]
    result = plan(resilience=0.2 if split else 0.9, **values)
    assert result.urgency is level and result.split is split
    plain = json.loads(json.dumps(result.algorithm_params))
    assert algorithm_from_config(result.algorithm_kind, plain) == result.algorithm()


def test_a_plan_the_algorithm_refuses_cannot_be_built():
    with pytest.raises(InvalidAlgoConfig, match="timeout must be positive"):
        ExecutionPlan(BALANCED, D(1), "limit", {"timeout": "0"}, False, ())


@given(
    strength=st.floats(0, 1),
    stability=st.floats(0, 1),
    ofi=st.floats(-1, 1),
    resilience=st.floats(0, 1),
    concentration=st.floats(0, 1),
    lots=st.integers(1, 10**6),
    lot=st.sampled_from([D("0.001"), D("0.5"), D(1), D(10)]),
    side=st.sampled_from(Side),
    bid_ticks=st.integers(1, 10**6),
    spread_ticks=st.integers(1, 10**4),
)
def test_size_is_within_zero_and_one_and_a_half_base_on_the_lot(
    strength, stability, ofi, resilience, concentration, lots, lot, side, bid_ticks, spread_ticks
):
    spec = InstrumentSpec("X-Y", "X", "Y", D("0.01"), lot, lot)
    base = lots * lot
    bid = bid_ticks * spec.tick_size
    ask = bid + spread_ticks * spec.tick_size
    result = plan_execution(
        features=BookFeatures(stability, ofi, resilience, concentration),
        strength=strength,
        side=side,
        base_quantity=base,
        best_bid=bid,
        best_ask=ask,
        spec=spec,
        config=UrgencyConfig(strong_flow_size_factor=D(3)),  # so that the cap binds
    )
    if isinstance(result, ExecutionPlan):
        assert 0 < result.quantity <= D("1.5") * base
        assert result.quantity % lot == 0
        assert algorithm_from_config(result.algorithm_kind, result.algorithm_params)
    else:
        assert result.rule in {"weak_signal", "unstable_for_weak_signal", "min_quantity"}


# -- configuration -------------------------------------------------------------------------


def test_config_defaults_and_json_round_trip():
    config = UrgencyConfig()
    assert (config.stable_below, config.balanced_below, config.unstable_above) == (0.2, 0.4, 0.6)
    assert config.max_size_factor == D("1.5") and config.balanced_timeout == timedelta(seconds=30)
    plain = json.loads(json.dumps(config.to_dict()))
    assert plain["passive_timeout"] == "60" and plain["unstable_size_factor"] == "0.5"
    assert UrgencyConfig.from_dict(plain) == config
    custom = UrgencyConfig.from_dict({"stable_below": 0.1, "split_duration": "90"})
    assert custom.stable_below == 0.1 and custom.split_duration == timedelta(seconds=90)


def test_config_schema_describes_every_setting():
    schema = UrgencyConfig.schema()
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(UrgencyConfig().to_dict())
    assert schema["properties"]["stable_below"] == {
        "type": "number",
        "description": "spread_stability_norm_100 below this is a stable spread",
        "default": 0.2,
        "minimum": 0,
        "maximum": 1,
    }
    assert schema["properties"]["split_slices"]["default"] == 5


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        ({"stable_bellow": 0.1}, "stable_bellow", "unknown setting 'stable_bellow'"),
        ({"stable_below": "x"}, "stable_below", "stable_below must be a number"),
        ({"stable_below": True}, "stable_below", "stable_below must be a number"),
        ({"stable_below": 1.5}, "stable_below", "stable_below must be at most 1, got 1.5"),
        ({"stable_below": 0.5}, "stable_below", r"stable_below \(0.5\) must not be above"),
        ({"unstable_size_factor": 0.5}, "unstable_size_factor", "not float"),
        ({"max_size_factor": "-1"}, "max_size_factor", "must be at least 0"),
        ({"passive_timeout": 0}, "passive_timeout", "must be greater than zero, got 0 s"),
        ({"split_slices": 0}, "split_slices", "split_slices must be at least 1"),
        ({"split_visible_pct": "1.5"}, "split_visible_pct", "at most 1"),
        ({"weak_signal_from": 0.9}, "weak_signal_from", "must not be above balanced_signal_from"),
    ],
)
def test_bad_config_names_the_key(data, key, message):
    with pytest.raises(InvalidConfig, match=message) as error:
        UrgencyConfig.from_dict(data)
    assert error.value.key == key
