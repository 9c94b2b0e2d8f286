"""Leader fills mirrored to followers through the real execution path (paper venue)."""

from decimal import Decimal as D

import pytest

from copytrading.models import CopyTrade, CopyTradeKind, SubscriptionStatus
from copytrading.services.mirroring import copy_stop_loss_check
from copytrading.services.subscriptions import (
    subscription_create,
    subscription_pause,
    subscription_resume,
    subscription_stop,
)
from execution.models import Fill, Order, Position
from execution.services.fills import fill_record
from execution.services.orders import order_place
from execution.services.positions import positions_mark
from execution.signals import fill_committed
from tests.copytrading.conftest import leader_trade
from tests.factories import make_account, make_user

MODES = [
    ({"allocation_percent": "50"}, D("0.05")),  # 1 BTC x 5,000 / 100,000
    ({"mode": "fixed_ratio", "copy_ratio": "0.1", "allocation_percent": "10"}, D("0.1")),
    ({"mode": "fixed_amount", "fixed_amount": "1000", "allocation_percent": "10"}, D("0.05")),
]


@pytest.fixture
def followers(leader):
    subscriptions = []
    for n, (terms, _) in enumerate(MODES):
        account = make_account(make_user(f"follower{n}"), deposit=D(10_000))
        subscriptions.append(
            subscription_create(
                follower_id=account.owner_id, account_id=account.pk, strategy_id=leader.pk,
                terms=terms,
            )
        )  # fmt: skip
    return subscriptions


def follower_orders(subscription):
    return Order.objects.filter(account_id=subscription.account_id).order_by("created_at")


def position(subscription) -> D:
    row = Position.objects.filter(account_id=subscription.account_id).first()
    return D(0) if row is None else row.quantity


def trade(strategy, side, quantity, trade_id, capture):
    with capture(execute=True):
        return leader_trade(strategy, side, quantity, "20000", trade_id)


def deliver_again(fill: Fill, capture) -> None:
    with capture(execute=True):
        fill_committed.send(
            sender=Fill, fill_id=fill.pk, order_id=fill.order_id,
            account_id=fill.order.account_id, parent_id=None,
        )  # fmt: skip


def test_a_fill_delivered_three_times_makes_one_order_per_follower_of_the_right_size(
    leader, followers, django_capture_on_commit_callbacks
):
    fill = trade(leader, "buy", "1", "L1", django_capture_on_commit_callbacks)
    deliver_again(fill, django_capture_on_commit_callbacks)
    deliver_again(fill, django_capture_on_commit_callbacks)
    for subscription, (_, size) in zip(followers, MODES, strict=True):
        orders = list(follower_orders(subscription))
        assert [(o.side, o.quantity, o.order_type, o.time_in_force) for o in orders] == [
            ("buy", size, "limit", "ioc")
        ]
        assert orders[0].price == D("20100")  # 20,000 + the default 50 bps cap
        assert orders[0].status == "filled" and position(subscription) == size
        copy = CopyTrade.objects.get(subscription=subscription)
        assert copy.leader_fill_id == fill.pk and copy.actual_quantity == size
    assert CopyTrade.objects.count() == 3


def test_a_leader_close_closes_the_copied_quantity_and_never_more_than_held(
    leader, followers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    trade(leader, "buy", "1", "L1", capture)
    first = followers[0]
    # The follower sells part of the copy by hand: 0.03 of the 0.05 left.
    with capture(execute=True):
        own = order_place(
            account_id=first.account_id, symbol="BTC-USDT", side="sell", order_type="market",
            quantity="0.02", submit=False,
        )  # fmt: skip
        fill_record(order_id=own.pk, venue_trade_id="own1", quantity="0.02", price="20000")
    trade(leader, "sell", "0.5", "L2", capture)  # half: 0.025 of the copied 0.05
    trade(leader, "sell", "0.5", "L3", capture)  # the rest
    closes = [o for o in follower_orders(first) if o.reduce_only]
    assert sum(o.filled_quantity for o in closes) == D("0.03")
    assert position(first) == 0
    for subscription, (_, size) in zip(followers[1:], MODES[1:], strict=True):
        assert position(subscription) == 0
        sold = [o.filled_quantity for o in follower_orders(subscription) if o.side == "sell"]
        assert sum(sold) == size


def test_a_close_of_a_position_the_follower_never_copied_is_recorded_not_silent(
    leader, market, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    trade(leader, "buy", "1", "L1", capture)
    account = make_account(make_user("late"), deposit=D(10_000))
    late = subscription_create(
        follower_id=account.owner_id, account_id=account.pk, strategy_id=leader.pk
    )
    trade(leader, "sell", "1", "L2", capture)
    skipped = CopyTrade.objects.get(subscription=late)
    assert skipped.follower_order is None and "does not hold" in skipped.skipped_reason
    assert not Order.objects.filter(account=account).exists()


def test_pause_copies_nothing_and_resume_copies_again(
    leader, followers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    subscription = followers[0]
    subscription_pause(subscription_id=subscription.pk, follower_id=subscription.follower_id)
    trade(leader, "buy", "1", "L1", capture)
    assert not follower_orders(subscription).exists()
    assert not CopyTrade.objects.filter(subscription=subscription).exists()
    subscription_resume(subscription_id=subscription.pk, follower_id=subscription.follower_id)
    trade(leader, "buy", "1", "L2", capture)
    assert [o.quantity for o in follower_orders(subscription)] == [D("0.05")]


@pytest.mark.parametrize("close", [True, False])
def test_stop_closes_or_keeps_the_copied_positions(
    leader, followers, django_capture_on_commit_callbacks, close
):
    capture = django_capture_on_commit_callbacks
    trade(leader, "buy", "1", "L1", capture)
    subscription = followers[0]
    with capture(execute=True):
        subscription_stop(
            subscription_id=subscription.pk, follower_id=subscription.follower_id, close=close
        )
    assert position(subscription) == (0 if close else D("0.05"))
    assert CopyTrade.objects.filter(
        subscription=subscription, kind=CopyTradeKind.CLOSE
    ).count() == (1 if close else 0)
    trade(leader, "buy", "1", "L2", capture)  # a stopped subscription copies nothing more
    assert not CopyTrade.objects.filter(subscription=subscription, leader_fill__venue_trade_id="L2")


def test_copy_stop_loss_stops_and_closes_when_equity_falls_from_its_peak(
    leader, followers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    subscription = followers[1]  # 0.1 BTC on a 1,000 capital: a 10% fall of BTC is ~20%
    subscription.copy_stop_loss_percent = D(15)
    subscription.close_on_copy_stop_loss = True
    subscription.save()
    trade(leader, "buy", "1", "L1", capture)
    positions_mark(symbol="BTC-USDT", mark_price=D("19900"))
    assert copy_stop_loss_check() == []  # -1%: still copying
    positions_mark(symbol="BTC-USDT", mark_price=D("18000"))
    with capture(execute=True):
        assert copy_stop_loss_check() == [subscription.pk]
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.STOPPED
    assert subscription.stop_reason.startswith("copy stop loss")
    assert position(subscription) == 0
    assert followers[0].__class__.objects.get(pk=followers[0].pk).status == "active"
