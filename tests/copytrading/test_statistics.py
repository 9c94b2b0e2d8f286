"""Statistics: a leader's figures on a hand-made daily equity series, the capital copying
it; daily snapshots (idempotent per day) and the P&L series read from them."""

import math
from datetime import timedelta
from decimal import Decimal as D

import pytest

from copytrading.models import FollowerAccountSnapshot, SubscriptionEquitySnapshot
from copytrading.services.snapshots import equity_snapshots_take
from copytrading.services.subscriptions import subscription_create, subscription_pause
from copytrading.statistics import (
    follower_pnl_series,
    follower_summary,
    leader_statistics,
    public_strategies,
    subscription_pnl_series,
    window_statistics,
)
from copytrading.tasks import take_equity_snapshots
from execution.models import AccountDay
from execution.selectors import utc_today
from execution.services.accounts import funds_deposit
from execution.services.positions import positions_mark
from tests.copytrading.conftest import leader_trade, make_strategy
from tests.factories import make_account, make_user


def follow(leader, name, allocation="50"):
    account = make_account(make_user(name), deposit=D(10_000))
    return subscription_create(
        follower_id=account.owner_id, account_id=account.pk, strategy_id=leader.pk,
        terms={"allocation_percent": allocation},
    )  # fmt: skip


def test_leader_statistics_on_a_hand_made_equity_series(leader):
    today = utc_today()
    # Opening equity of the last three days, then now: 100,000 (nothing traded).
    for days_ago, equity in ((3, "100000"), (2, "110000"), (1, "99000")):
        AccountDay.objects.update_or_create(
            account=leader.account, day=today - timedelta(days=days_ago),
            defaults={"start_equity": D(equity)},
        )  # fmt: skip
    active = follow(leader, "a")
    subscription_pause(subscription_id=follow(leader, "b", "10").pk, follower_id=None)
    other = make_user("private")
    make_strategy(other, make_account(other), name="hidden", visibility="private")

    strategies = list(public_strategies())
    assert [s.name for s in strategies] == ["leader"]
    (stats,) = leader_statistics(strategies)
    assert stats.capital_copying == active.start_capital == D(5000)
    assert stats.follower_count == 1  # the paused one is not copying
    week = stats.windows[0]
    assert week.days == 7 and week.roi == 0 and week.pnl == 0
    assert week.max_drawdown == pytest.approx(0.1)  # 110,000 to 99,000
    returns = [0.1, 99000 / 110000 - 1, 100000 / 99000 - 1]
    mean = sum(returns) / 3
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 2)
    assert week.sharpe == pytest.approx(mean / std * math.sqrt(365))
    assert week.trades == 0 and week.win_rate == 0
    # Each window read from one load of the account equals its own account_performance.
    assert_same_windows(stats.windows, leader.account, today)


def test_windows_from_one_load_equal_each_window_alone(leader):
    """Trades closing on either side of a window's start and a deposit inside the windows."""
    today = utc_today()
    for days_ago, equity in ((40, "90000"), (20, "100000"), (10, "104000"), (2, "101000")):
        AccountDay.objects.update_or_create(
            account=leader.account, day=today - timedelta(days=days_ago),
            defaults={"start_equity": D(equity)},
        )  # fmt: skip
    leader_trade(leader, "buy", "0.1", "20000", "t1")
    leader_trade(leader, "sell", "0.1", "20100", "t2")
    funds_deposit(account_id=leader.account_id, amount="5000")
    (stats,) = leader_statistics(list(public_strategies()))
    assert_same_windows(stats.windows, leader.account, today)


def assert_same_windows(windows, account, today):
    """Equal up to the clock: the curve ends at the equity now, taken a moment apart."""

    def figures(w):
        numbers = (w.roi, w.pnl, w.max_drawdown, w.win_rate, w.sharpe)
        return (w.days, w.trades, *(None if n is None else float(n) for n in numbers))

    alone = [window_statistics(account, days=days, today=today) for days in (7, 30, 90)]
    assert [figures(w) for w in windows] == [pytest.approx(figures(w), rel=1e-6) for w in alone]


def test_snapshots_once_a_day_and_the_pnl_series(leader, django_capture_on_commit_callbacks):
    subscription = follow(leader, "f")
    today = utc_today()
    yesterday = today - timedelta(days=1)
    assert equity_snapshots_take(day=yesterday).subscriptions == 1
    with django_capture_on_commit_callbacks(execute=True):
        leader_trade(leader, "buy", "1", "20000", "L1")  # the follower copies 0.05
    positions_mark(symbol="BTC-USDT", mark_price=D("21000"))
    assert take_equity_snapshots() == 1
    assert take_equity_snapshots() == 0  # again today: nothing new
    assert equity_snapshots_take().accounts == 0
    assert SubscriptionEquitySnapshot.objects.count() == 2
    assert FollowerAccountSnapshot.objects.count() == 2

    day, today_ = subscription_pnl_series(subscription)
    assert today_.day == today and today_.pnl == 0  # today so far: the mark has not moved
    assert day.day == yesterday and day.start_equity == D(5000)
    summary = follower_summary(subscription.follower_id)
    assert day.end_equity == summary.subscriptions[0].equity
    fee = day.end_equity - (D(5000) + D("0.05") * 1000)  # what the copy cost beyond the price
    assert -2 < fee < 0 and day.pnl == D("0.05") * 1000 + fee
    assert summary.pnl == day.pnl and summary.trades == 1 and summary.strategies_followed == 1
    assert summary.return_ == day.pnl / D(5000) and summary.orphans == []

    account_day, _ = follower_pnl_series(subscription.follower_id)
    assert account_day.pnl == day.pnl  # the account only traded the copy
