"""Orphans: follower holdings the leader no longer backs, found and reported once a day."""

from decimal import Decimal as D

from copytrading.services.reconciliation import copy_orphans, copy_orphans_report
from copytrading.services.subscriptions import subscription_create
from copytrading.tasks import report_copy_orphans
from execution.models import EventKind, ExecutionEvent
from execution.services.fills import fill_record
from execution.services.orders import order_place
from tests.copytrading.conftest import leader_trade
from tests.factories import make_account, make_user


def leader_sells_by_hand(leader, quantity, trade_id, capture):
    """Not a strategy order: nothing is mirrored."""
    with capture(execute=True):
        order = order_place(
            account_id=leader.account_id, symbol="BTC-USDT", side="sell", order_type="limit",
            quantity=quantity, price="20000", submit=False,
        )  # fmt: skip
        fill_record(order_id=order.pk, venue_trade_id=trade_id, quantity=quantity, price="20000")


def test_orphans_are_found_and_reported(leader, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    account = make_account(make_user("f"), deposit=D(10_000))
    subscription = subscription_create(
        follower_id=account.owner_id, account_id=account.pk, strategy_id=leader.pk,
        terms={"allocation_percent": "50"},
    )  # fmt: skip
    with capture(execute=True):
        leader_trade(leader, "buy", "1", "20000", "L1")  # copied: 0.05
    assert copy_orphans() == []

    leader_sells_by_hand(leader, "0.5", "H1", capture)
    (excess,) = copy_orphans()
    assert excess.subscription_id == subscription.pk and excess.symbol == "BTC-USDT"
    assert (excess.held, excess.expected, excess.quantity) == (D("0.05"), D("0.025"), D("0.025"))
    assert excess.reason.startswith("more than the copy ratio implies")

    leader_sells_by_hand(leader, "0.5", "H2", capture)
    (orphan,) = copy_orphans(follower_id=account.owner_id)
    assert orphan.quantity == D("0.05") and orphan.reason == "the leader holds none of BTC-USDT"
    assert copy_orphans(follower_id=leader.owner_id) == []

    assert report_copy_orphans() == 1
    copy_orphans_report()  # the same orphan again within a day: not written twice
    (event,) = ExecutionEvent.objects.filter(kind=EventKind.RECONCILIATION, account=account)
    assert event.data["copy_orphan"] is True and event.data["quantity"] == "0.05"
