"""Time-weighted returns: deposits and withdrawals are cash flows, not gains and losses."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution.domain.metrics import (
    EquityPoint,
    UnmeasurableReturn,
    summarize,
    time_weighted_curve,
    total_return,
)
from execution.domain.values import exact

START = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def day(n: float) -> datetime:
    return START + n * DAY


def daily_curve(*equity: str | int) -> list[EquityPoint]:
    return [(day(i), D(value)) for i, value in enumerate(equity)]


def test_a_deposit_without_trading_returns_nothing():
    curve = daily_curve(1000, 1000, 1500, 1500)

    summary = summarize(curve, [], 365, cash_flows=[(day(1.5), D(500))])

    assert summary.total_return == 0
    assert summary.max_drawdown.depth == 0.0
    assert (summary.sharpe_ratio, summary.sortino_ratio) == (0.0, 0.0)
    assert total_return(curve) == D("0.5")  # what the curve alone would have claimed


def test_a_withdrawal_without_trading_loses_nothing():
    curve = daily_curve(1000, 400, 400)
    summary = summarize(curve, [], 365, cash_flows=[(day(0.25), D(-600))])
    assert summary.total_return == 0 and summary.max_drawdown.depth == 0.0


def test_a_known_sequence_with_a_deposit_mid_period():
    # Day 0 -> 1: 1000 earns 110 while 200 deposited at midday counts as 100 of capital for the
    # period: (1310 - 1000 - 200) / (1000 + 0.5 x 200) = 110 / 1100 = 10%.
    # Day 1 -> 2: 1310 -> 1441, no flow: 10%. Chained: 1.1 x 1.1 - 1 = 21%.
    curve = daily_curve(1000, 1310, 1441)
    flows = [(day(0.5), D(200))]

    assert time_weighted_curve(curve, flows) == [
        (day(0), D(1000)),
        (day(1), D(1100)),
        (day(2), D(1210)),
    ]
    summary = summarize(curve, [], 365, cash_flows=flows)
    assert summary.total_return == D("0.21")


def test_several_flows_in_one_period_and_one_at_a_point():
    # Period 1: +300 at a quarter (weight 3/4) and -100 at three quarters (weight 1/4), equity
    # 1000 -> 1250: (1250 - 1000 - 200) / (1000 + 225 - 25) = 50 / 1200.
    # Period 2: +100 exactly at its end counts as in its closing equity with weight 0:
    # (1400 - 1250 - 100) / 1250 = 50 / 1250.
    curve = daily_curve(1000, 1250, 1400)
    flows = [(day(0.25), D(300)), (day(0.75), D(-100)), (day(2), D(100))]

    index = time_weighted_curve(curve, flows)

    with exact():
        expected_1 = D(1000) * (1 + D(50) / D(1200))
        expected_2 = expected_1 * (1 + D(50) / D(1250))
    assert index == [(day(0), D(1000)), (day(1), expected_1), (day(2), expected_2)]


def test_flows_outside_the_curve_are_ignored_and_no_flow_changes_nothing():
    curve = daily_curve(100, 110, 99, 121, 110)
    outside = [(day(0), D(50)), (day(-3), D(10)), (day(4.5), D(-20)), (day(2), D(0))]

    assert time_weighted_curve(curve, outside) == curve
    assert summarize(curve, [], 252, cash_flows=outside) == summarize(curve, [], 252)


@pytest.mark.parametrize(
    ("curve", "flows"),
    [
        # More withdrawn early in the day than the capital it started with (the day's gains
        # taken out at once): no capital left to measure the period on.
        (daily_curve(1000, 10), [(day(0.1), D(-3000))]),
        # A deposit lost in full, and more.
        (daily_curve(1000, 1), [(day(0.9999), D(10_000))]),
    ],
)
def test_a_period_without_capital_to_measure_is_refused(curve, flows):
    with pytest.raises(UnmeasurableReturn, match="cannot be measured"):
        summarize(curve, [], 365, cash_flows=flows)


@given(
    equity=st.lists(st.integers(1_000, 10_000), min_size=2, max_size=20),
    deposits=st.lists(
        st.tuples(st.integers(1, 10_000), st.integers(1, 5_000)), min_size=1, max_size=5
    ),
)
def test_deposits_at_a_point_with_no_trading_never_count(equity, deposits):
    """A curve that moves only by deposits made exactly at its points is flat once they are
    taken out."""
    curve = daily_curve(equity[0])
    flows = []
    balance = D(equity[0])
    for n, (_, amount) in enumerate(sorted(deposits), start=1):
        balance += amount
        curve.append((day(n), balance))
        flows.append((day(n), D(amount)))
    assert [value for _, value in time_weighted_curve(curve, flows)] == [D(equity[0])] * len(curve)
