import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution.domain.metrics import (
    ClosedTrade,
    Drawdown,
    EquityPoint,
    average_trade,
    exposure,
    max_drawdown,
    max_drawdown_duration,
    periods_per_year_for,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    summarize,
    total_return,
    win_rate,
)

START = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def day(n: float) -> datetime:
    return START + n * DAY


def daily_curve(*equity: str | int) -> list[EquityPoint]:
    return [(day(i), Decimal(value)) for i, value in enumerate(equity)]


def trade(opened: float, closed: float, net_pnl: str | int, fees: str = "0") -> ClosedTrade:
    return ClosedTrade(
        opened_at=day(opened), closed_at=day(closed), net_pnl=Decimal(net_pnl), fees=Decimal(fees)
    )


# 100, 110, 99, 121, 110: returns 1/10, -1/10, 2/9, -1/11.
TEXTBOOK = daily_curve(100, 110, 99, 121, 110)


# --- annualisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "trading_days", "expected"),
    [
        (timedelta(hours=1), 365, 8760.0),  # 365 * 24
        (timedelta(days=1), 365, 365.0),
        (timedelta(days=1), 252, 252.0),
        (timedelta(minutes=5), 365, 105_120.0),  # 365 * 24 * 12
    ],
)
def test_periods_per_year_for(interval: timedelta, trading_days: int, expected: float) -> None:
    assert periods_per_year_for(interval, trading_days) == pytest.approx(expected)


def test_periods_per_year_for_defaults_to_round_the_clock_crypto() -> None:
    assert periods_per_year_for(timedelta(hours=1)) == pytest.approx(8760.0)


@pytest.mark.parametrize("interval", [timedelta(0), timedelta(hours=-1)])
def test_periods_per_year_for_rejects_non_positive_interval(interval: timedelta) -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        periods_per_year_for(interval)


def test_periods_per_year_for_rejects_non_positive_trading_days() -> None:
    with pytest.raises(ValueError, match="trading_days"):
        periods_per_year_for(timedelta(days=1), trading_days=0)


# --- total return ----------------------------------------------------------------------------


def test_total_return_is_exact_decimal() -> None:
    # 110 / 100 - 1 = 0.1 exactly, no float noise.
    assert total_return(TEXTBOOK) == Decimal("0.1")
    # 99.99 / 100 - 1 = -0.0001
    assert total_return(daily_curve("100", "250", "99.99")) == Decimal("-0.0001")


# --- Sharpe and Sortino ----------------------------------------------------------------------


def test_sharpe_ratio_by_hand() -> None:
    # returns 1/10, -1/10, 2/9, -1/11; mean = (2/9 - 1/11) / 4 = 13/396 = 0.0328283
    # deviations 133/1980, -263/1980, 25/132, -49/396; sum of squares = 23959/326700
    # sample std = sqrt(23959/326700 / 3) = 0.1563505
    # sharpe = 0.0328283 / 0.1563505 * sqrt(252) = 3.3331072
    assert sharpe_ratio(TEXTBOOK, periods_per_year=252) == pytest.approx(3.3331072450003623)


def test_sharpe_ratio_subtracts_per_bar_risk_free_rate() -> None:
    # one bar a year: per-bar rf = 1.05 ** 1 - 1 = 0.05; the std is unchanged by the shift
    # sharpe = (13/396 - 0.05) / 0.1563505 * sqrt(1) = -0.1098284
    assert sharpe_ratio(TEXTBOOK, periods_per_year=1, risk_free_rate=0.05) == pytest.approx(
        -0.10982837998346966
    )


def test_sortino_ratio_by_hand() -> None:
    # shortfalls min(0, r): 0, -1/10, 0, -1/11 over ALL four bars
    # downside deviation = sqrt((1/100 + 1/121) / 4) = sqrt(221/48400) = 0.0675730
    # sortino = (13/396) / 0.0675730 * sqrt(252) = 7.7121413
    assert sortino_ratio(TEXTBOOK, periods_per_year=252) == pytest.approx(7.712141348743977)


def test_flat_curve_has_zero_ratios_not_nan() -> None:
    flat = daily_curve(100, 100, 100, 100)
    assert total_return(flat) == 0
    assert sharpe_ratio(flat, periods_per_year=365) == 0.0
    assert sortino_ratio(flat, periods_per_year=365) == 0.0


def test_constant_growth_has_zero_std_so_zero_ratios() -> None:
    # every return is exactly 0.1: std = 0 and no downside, both ratios undefined -> 0.0
    growth = daily_curve("100", "110", "121", "133.1", "146.41")
    assert sharpe_ratio(growth, periods_per_year=365) == 0.0
    assert sortino_ratio(growth, periods_per_year=365) == 0.0


def test_a_single_return_gives_zero_ratios() -> None:
    two_points = daily_curve(100, 90)
    assert sharpe_ratio(two_points, periods_per_year=365) == 0.0
    assert sortino_ratio(two_points, periods_per_year=365) == 0.0


@pytest.mark.parametrize("periods_per_year", [0.0, -1.0, math.inf, math.nan])
def test_ratios_reject_bad_periods_per_year(periods_per_year: float) -> None:
    with pytest.raises(ValueError, match="periods_per_year"):
        sharpe_ratio(TEXTBOOK, periods_per_year=periods_per_year)
    with pytest.raises(ValueError, match="periods_per_year"):
        sortino_ratio(TEXTBOOK, periods_per_year=periods_per_year)


def test_ratios_reject_risk_free_rate_of_minus_one_or_less() -> None:
    with pytest.raises(ValueError, match="risk_free_rate"):
        sharpe_ratio(TEXTBOOK, periods_per_year=365, risk_free_rate=-1.0)


# --- drawdowns -------------------------------------------------------------------------------


def test_max_drawdown_by_hand() -> None:
    # running peak 100, 110, 110, 121, 121
    # episode 1: 110 (day 1) -> 99 (day 2), depth 11/110 = 0.1, back to 121 on day 3
    # episode 2: 121 (day 3) -> 110 (day 4), depth 11/121 = 0.0909, never recovered
    assert max_drawdown(TEXTBOOK) == Drawdown(
        depth=0.1,
        peak_to_trough=Decimal(11),  # 110 - 99
        peak_at=day(1),
        trough_at=day(2),
        recovered_at=day(3),
        duration=2 * DAY,  # day 1 -> day 3
    )
    # episode 1 lasts 2 days, episode 2 lasts 1 day (day 3 -> the last point on day 4)
    assert max_drawdown_duration(TEXTBOOK) == 2 * DAY


def test_longest_drawdown_can_be_a_shallower_episode() -> None:
    # episode 1: 100 (day 0) -> 90 (day 1), depth 0.1, recovered by 101 on day 2: 2 days
    # episode 2: 101 (day 2) -> 99.5 (day 4), depth 1.5/101 = 0.0149, still below 101 at the
    # last point on day 5: 3 days
    curve = daily_curve("100", "90", "101", "100", "99.5", "100.5")
    deepest = max_drawdown(curve)
    assert deepest.depth == pytest.approx(0.1)
    assert (deepest.peak_at, deepest.recovered_at, deepest.duration) == (day(0), day(2), 2 * DAY)
    assert max_drawdown_duration(curve) == 3 * DAY


def test_unrecovered_drawdown_lasts_to_the_last_point() -> None:
    # 120 (day 1) -> 90 (day 2): depth 30/120 = 0.25, 100 on day 3 is still below 120
    drawdown = max_drawdown(daily_curve(100, 120, 90, 100))
    assert drawdown.depth == pytest.approx(0.25)
    assert drawdown.peak_to_trough == Decimal(30)
    assert drawdown.recovered_at is None
    assert drawdown.duration == 2 * DAY  # day 1 -> day 3


def test_drawdown_starts_at_the_last_point_on_the_peak_and_ends_back_at_it() -> None:
    # 110 on days 1 and 2: the fall starts from day 2; 110 again on day 4 counts as recovered
    drawdown = max_drawdown(daily_curve(100, 110, 110, 99, 110))
    assert (drawdown.peak_at, drawdown.trough_at, drawdown.recovered_at) == (day(2), day(3), day(4))
    assert drawdown.duration == 2 * DAY


def test_no_drawdown_reports_the_first_point_and_zero_duration() -> None:
    for curve in (daily_curve(100, 100, 100), daily_curve(100, 101, 102), daily_curve(100)):
        assert max_drawdown(curve) == Drawdown(
            0.0, Decimal(0), day(0), day(0), day(0), timedelta(0)
        )
        assert max_drawdown_duration(curve) == timedelta(0)


def test_ties_pick_the_first_deepest_drawdown() -> None:
    # 100 -> 90 and 200 -> 180 are both 10%: the first one is reported
    drawdown = max_drawdown(daily_curve(100, 90, 200, 180))
    assert (drawdown.peak_at, drawdown.trough_at) == (day(0), day(1))


# --- trades ----------------------------------------------------------------------------------

MIXED = [trade(0, 1, 10), trade(1, 2, -5), trade(2, 3, 0), trade(3, 4, 20)]


def test_trade_statistics_by_hand() -> None:
    # wins: 10 and 20 (0 is not a win) -> 2 / 4
    assert win_rate(MIXED) == 0.5
    # gross profit 10 + 20 = 30, gross loss 5 -> 6
    assert profit_factor(MIXED) == 6.0
    # (10 - 5 + 0 + 20) / 4 = 6.25
    assert average_trade(MIXED) == Decimal("6.25")


def test_no_trades() -> None:
    assert win_rate([]) == 0.0
    assert profit_factor([]) is None
    assert average_trade([]) == Decimal(0)


def test_single_winning_trade_has_undefined_profit_factor() -> None:
    only = [trade(0, 1, "12.34")]
    assert win_rate(only) == 1.0
    assert profit_factor(only) is None
    assert average_trade(only) == Decimal("12.34")


def test_no_winning_trades() -> None:
    losers = [trade(0, 1, -3), trade(1, 2, 0)]
    assert win_rate(losers) == 0.0
    assert profit_factor(losers) == 0.0  # 0 / 3
    assert average_trade(losers) == Decimal("-1.5")  # -3 / 2


def test_average_trade_stays_decimal() -> None:
    # 0.1 + 0.2 = 0.3 exactly, / 3 = 0.1
    assert average_trade([trade(0, 1, "0.1"), trade(1, 2, "0.2"), trade(2, 3, "0")]) == Decimal(
        "0.1"
    )


def test_trade_closed_before_it_opened_is_rejected() -> None:
    with pytest.raises(ValueError, match="before it opened"):
        trade(2, 1, 5)


def test_trade_with_nan_pnl_is_rejected() -> None:
    with pytest.raises(ValueError, match="net_pnl must be finite"):
        trade(0, 1, "NaN")


# --- exposure --------------------------------------------------------------------------------


def test_exposure_merges_overlaps_and_clips_to_the_curve() -> None:
    curve = daily_curve(*([100] * 11))  # day 0 .. day 10: 10 days
    trades = [
        trade(1, 3, 1),
        trade(2, 4, 1),  # overlaps the first: together day 1 -> 4, 3 days
        trade(2.5, 3.5, 1),  # inside both: adds nothing
        trade(8, 12, 1),  # clipped to day 8 -> 10, 2 days
        trade(-5, -1, 1),  # before the curve: 0
        trade(6, 6, 1),  # zero length: 0
    ]
    # (3 + 2) / 10
    assert exposure(curve, trades) == pytest.approx(0.5)


def test_exposure_bounds() -> None:
    curve = daily_curve(100, 101, 102)
    assert exposure(curve, []) == 0.0
    assert exposure(curve, [trade(-1, 5, 1)]) == 1.0


# --- validation ------------------------------------------------------------------------------


def test_unsorted_timestamps_are_rejected_naming_the_point() -> None:
    curve = [(day(0), Decimal(100)), (day(2), Decimal(101)), (day(1), Decimal(102))]
    with pytest.raises(ValueError, match="point 2: timestamp .* is not after"):
        total_return(curve)


def test_repeated_timestamps_are_rejected() -> None:
    curve = [(day(0), Decimal(100)), (day(0), Decimal(101))]
    with pytest.raises(ValueError, match="point 1: timestamp"):
        max_drawdown(curve)


@pytest.mark.parametrize("bad", ["-5", "0", "NaN", "Infinity"])
def test_non_positive_or_non_finite_equity_is_rejected(bad: str) -> None:
    curve = daily_curve("100", "101", bad)
    with pytest.raises(ValueError, match=f"point 2: equity must be finite and positive, got {bad}"):
        sharpe_ratio(curve, periods_per_year=365)


def test_float_equity_is_rejected() -> None:
    curve = [(day(0), Decimal(100)), (day(1), 101.0)]
    with pytest.raises(TypeError, match="point 1: equity must be a Decimal"):
        total_return(curve)  # type: ignore[arg-type]


def test_return_statistics_need_two_points() -> None:
    one_point = daily_curve(100)
    for compute in (
        total_return,
        lambda curve: sharpe_ratio(curve, 365),
        lambda curve: sortino_ratio(curve, 365),
        lambda curve: exposure(curve, []),
        lambda curve: summarize(curve, [], 365),
    ):
        with pytest.raises(ValueError, match="at least 2 points, got 1"):
            compute(one_point)


def test_drawdown_of_an_empty_curve_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 1 points, got 0"):
        max_drawdown([])


# --- summary ---------------------------------------------------------------------------------


def test_summarize_matches_the_individual_metrics_and_serialises() -> None:
    trades = [trade(0, 1, 10, fees="0.5"), trade(1, 3, -5, fees="0.25")]
    summary = summarize(TEXTBOOK, trades, periods_per_year=252)

    assert summary.total_return == Decimal("0.1")
    assert summary.max_drawdown == max_drawdown(TEXTBOOK)
    assert summary.max_drawdown_duration == 2 * DAY
    assert summary.sharpe_ratio == sharpe_ratio(TEXTBOOK, 252)
    assert summary.sortino_ratio == sortino_ratio(TEXTBOOK, 252)
    assert summary.win_rate == 0.5
    assert summary.profit_factor == 2.0  # 10 / 5
    assert summary.average_trade == Decimal("2.5")  # (10 - 5) / 2
    assert summary.exposure == 0.75  # day 0 -> 3 of day 0 -> 4
    assert summary.trade_count == 2
    assert summary.total_fees == Decimal("0.75")

    as_dict = summary.as_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["total_return"] == "0.1"
    assert as_dict["average_trade"] == "2.5"
    assert as_dict["max_drawdown_duration"] == 2 * 86_400.0
    assert as_dict["max_drawdown"] == {
        "depth": 0.1,
        "peak_to_trough": "11",
        "peak_at": "2024-01-02T00:00:00+00:00",
        "trough_at": "2024-01-03T00:00:00+00:00",
        "recovered_at": "2024-01-04T00:00:00+00:00",
        "duration": 2 * 86_400.0,
    }


def test_summary_of_an_unrecovered_curve_without_losers_serialises_nulls() -> None:
    summary = summarize(daily_curve(100, 120, 90), [trade(0, 1, 5)], periods_per_year=365)
    as_dict = summary.as_dict()
    assert as_dict["profit_factor"] is None
    assert as_dict["max_drawdown"] == {
        "depth": 0.25,
        "peak_to_trough": "30",
        "peak_at": "2024-01-02T00:00:00+00:00",
        "trough_at": "2024-01-03T00:00:00+00:00",
        "recovered_at": None,
        "duration": 86_400.0,
    }


# --- properties ------------------------------------------------------------------------------

cents = st.integers(min_value=1, max_value=10**9).map(lambda n: Decimal(n).scaleb(-2))


def timed(equity: Sequence[Decimal], gaps: Sequence[int]) -> list[EquityPoint]:
    times = [START + timedelta(seconds=sum(gaps[: i + 1])) for i in range(len(equity))]
    return list(zip(times, equity, strict=True))


@st.composite
def curves(draw: st.DrawFn, equity: st.SearchStrategy[list[Decimal]]) -> list[EquityPoint]:
    values = draw(equity)
    gaps = draw(st.lists(st.integers(1, 10**6), min_size=len(values), max_size=len(values)))
    return timed(values, gaps)


any_curves = curves(st.lists(cents, min_size=2, max_size=40))
rising_curves = curves(
    st.lists(st.integers(1, 10**6), min_size=2, max_size=40).map(
        lambda steps: [Decimal(sum(steps[: i + 1])) for i in range(len(steps))]
    )
)


@given(any_curves)
def test_drawdown_depth_is_a_fraction_below_one(curve: list[EquityPoint]) -> None:
    drawdown = max_drawdown(curve)
    assert 0.0 <= drawdown.depth < 1.0
    assert drawdown.peak_at <= drawdown.trough_at
    # the deepest episode is one of the episodes, so it cannot outlast the longest one
    assert drawdown.duration <= max_drawdown_duration(curve)


@given(any_curves, st.integers(1, 10**6).map(lambda n: Decimal(n).scaleb(-2)))
def test_scaling_equity_changes_no_ratio(curve: list[EquityPoint], factor: Decimal) -> None:
    scaled = [(at, equity * factor) for at, equity in curve]
    # returns are divided in Decimal before becoming floats, so they are bit-identical
    assert sharpe_ratio(scaled, 8760) == sharpe_ratio(curve, 8760)
    assert sortino_ratio(scaled, 8760) == sortino_ratio(curve, 8760)
    assert total_return(scaled) == total_return(curve)
    # ties between equally deep episodes may resolve differently in float, so compare closely
    assert max_drawdown(scaled).depth == pytest.approx(max_drawdown(curve).depth, rel=1e-12)
    assert max_drawdown_duration(scaled) == max_drawdown_duration(curve)


@given(rising_curves)
def test_rising_curve_gains_and_never_draws_down(curve: list[EquityPoint]) -> None:
    assert total_return(curve) > 0
    assert max_drawdown(curve).depth == 0.0
    assert max_drawdown_duration(curve) == timedelta(0)
    assert sortino_ratio(curve, 365) == 0.0  # no bar below a zero risk-free rate


@given(
    any_curves,
    st.lists(st.tuples(st.integers(-(10**6), 10**8), st.integers(0, 10**7)), max_size=10),
)
def test_exposure_is_a_fraction(curve: list[EquityPoint], spans: list[tuple[int, int]]) -> None:
    trades = [
        ClosedTrade(
            opened_at=START + timedelta(seconds=offset),
            closed_at=START + timedelta(seconds=offset + length),
            net_pnl=Decimal(1),
        )
        for offset, length in spans
    ]
    assert 0.0 <= exposure(curve, trades) <= 1.0


def test_closed_trades_from_fills_split_a_flip_and_keep_every_fee():
    from execution.domain.metrics import closed_trades
    from execution.domain.orders import FillEvent
    from execution.domain.values import Side

    t = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n) for n in range(5)]
    fills = [
        (t[0], FillEvent("1", Side.BUY, Decimal(2), Decimal(100), Decimal("0.2"))),
        (t[1], FillEvent("2", Side.SELL, Decimal(1), Decimal(110), Decimal("0.1"))),
        # Sells 1 to close at 90 and 2 more to open a short: fee 0.3 split 0.1 / 0.2.
        (t[2], FillEvent("3", Side.SELL, Decimal(3), Decimal(90), Decimal("0.3"))),
        (t[3], FillEvent("4", Side.BUY, Decimal(2), Decimal(80), Decimal("0.2"))),
    ]
    first, second = closed_trades(fills)
    # Long 2 @ 100: +10 on the first unit, -10 on the second, fees 0.2 + 0.1 + 0.1.
    assert (first.opened_at, first.closed_at) == (t[0], t[2])
    assert first.net_pnl == Decimal("-0.4") and first.fees == Decimal("0.4")
    # Short 2 @ 90 covered at 80: +20, fees 0.2 (its share of the flip) + 0.2.
    assert (second.opened_at, second.closed_at) == (t[2], t[3])
    assert second.net_pnl == Decimal("19.6") and second.fees == Decimal("0.4")
    assert not closed_trades(fills[:1])  # still open: no closed trade yet
