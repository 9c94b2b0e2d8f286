"""Orders sent through the paper venue: the venue, the task and the services together.

Every test starts from a clean in-process paper market and feeds it L2 snapshots; orders are
placed with ``submit=True`` and the submit task runs in-process when the transaction commits.
"""

from decimal import Decimal as D

import pytest

from execution.models import EventKind, ExecutionEvent, Fill, Order, Position
from execution.services.marketdata import paper_book_update
from execution.services.orders import order_amend, order_cancel, order_place, order_submit
from execution.services.positions import position_exits_set
from execution.services.venues import paper_reset, venue_for_account

# BTC-USDT (tests.factories): tick 0.1, lot 0.0001. Mid of this book: 20000.0.
BIDS = [(D("19999.9"), D("0.5")), (D("19999.0"), D("1"))]
ASKS = [(D("20000.1"), D("0.3")), (D("20001.0"), D("0.5")), (D("20002.0"), D("2"))]


@pytest.fixture(autouse=True)
def clean_paper_market():
    paper_reset()
    yield
    paper_reset()


@pytest.fixture
def book(btc, account):
    """The account's paper venue is running when the first snapshot arrives."""
    venue_for_account(account)
    paper_book_update(symbol="BTC-USDT", bids=BIDS, asks=ASKS)


def place(capture, account, **kw):
    args = {
        "account_id": account.pk,
        "symbol": "BTC-USDT",
        "side": "buy",
        "order_type": "limit",
        "quantity": "0.2",
        "price": "19990.0",
        "submit": True,
    }
    args.update(kw)
    with capture(execute=True):
        order = order_place(**args)
    order.refresh_from_db()
    return order


def feed(capture, bids, asks):
    with capture(execute=True):
        return paper_book_update(symbol="BTC-USDT", bids=bids, asks=asks)


def events(order, kind):
    return ExecutionEvent.objects.filter(order=order, kind=kind).count()


def test_a_market_order_walks_the_book_and_books_the_taker_fee(
    django_capture_on_commit_callbacks, account, book
):
    order = place(
        django_capture_on_commit_callbacks, account, order_type="market", price=None, quantity="0.5"
    )

    assert order.status == "filled" and order.sent_at is not None
    assert order.filled_quantity == D("0.5")
    # 0.3 at 20000.1 and 0.2 at 20001.0
    assert order.average_fill_price == D("20000.46")
    assert order.venue_order_id
    fills = list(Fill.objects.filter(order=order).order_by("price"))
    assert [(f.quantity, f.price, f.liquidity) for f in fills] == [
        (D("0.3"), D("20000.1"), "taker"),
        (D("0.2"), D("20001.0"), "taker"),
    ]
    assert len({f.venue_trade_id for f in fills}) == 2
    assert all(f.venue_trade_id.startswith("paper") for f in fills)
    # Taker fee 0.0005 of each fill's notional, in USDT.
    assert [f.fee for f in fills] == [D("3.000015"), D("2.0001")]
    assert {f.fee_currency for f in fills} == {"USDT"}
    position = Position.objects.get(account=account)
    assert position.quantity == D("0.5") and position.average_entry_price == D("20000.46")
    assert position.fees_paid == D("5.000115") and position.realized_pnl == D("-5.000115")
    assert events(order, EventKind.ORDER_SENT) == 1
    assert events(order, EventKind.FILL_RECORDED) == 2


def test_a_resting_limit_order_fills_as_maker_when_a_snapshot_crosses_it(
    django_capture_on_commit_callbacks, account, book
):
    order = place(django_capture_on_commit_callbacks, account, price="19999.0")
    assert order.status == "submitted" and order.sent_at is not None
    assert not Fill.objects.exists()

    # The offer drops through our bid: we are filled at our price, as the maker.
    feed(
        django_capture_on_commit_callbacks,
        bids=[(D("19998.0"), D("1"))],
        asks=[(D("19998.5"), D("0.1")), (D("19999.0"), D("0.5"))],
    )

    order.refresh_from_db()
    assert order.status == "filled" and order.average_fill_price == D("19999.0")
    fill = Fill.objects.get(order=order)
    assert (fill.quantity, fill.price, fill.liquidity) == (D("0.2"), D("19999.0"), "maker")
    assert fill.fee == D("0.79996")  # maker rate 0.0002
    position = Position.objects.get(account=account)
    assert position.quantity == D("0.2") and position.fees_paid == D("0.79996")


def test_cancelling_a_resting_order_cancels_it_at_the_venue(
    django_capture_on_commit_callbacks, account, book
):
    order = place(django_capture_on_commit_callbacks, account)
    assert order.status == "submitted"

    with django_capture_on_commit_callbacks(execute=True):
        order = order_cancel(order_id=order.pk, actor="user:1")

    assert order.status == "cancelled"
    assert events(order, EventKind.ORDER_CANCEL_REQUESTED) == 1
    assert venue_for_account(account).open_orders() == []
    # The offer later crosses the old price: nothing fills.
    feed(
        django_capture_on_commit_callbacks,
        bids=[(D("19980.0"), D("1"))],
        asks=[(D("19985.0"), D("1"))],
    )
    assert not Fill.objects.exists()
    order.refresh_from_db()
    assert order.status == "cancelled"


def test_amending_a_resting_order_moves_it_at_the_venue(
    django_capture_on_commit_callbacks, account, book
):
    order = place(django_capture_on_commit_callbacks, account, price="19990.0")

    with django_capture_on_commit_callbacks(execute=True):
        order = order_amend(order_id=order.pk, price="19995.0")

    order.refresh_from_db()
    assert order.price == D("19995.0") and order.status == "submitted"
    assert events(order, EventKind.ORDER_AMENDED) == 1
    # An offer at 19995.0 crosses the amended price, not the original 19990.0.
    feed(
        django_capture_on_commit_callbacks,
        bids=[(D("19994.0"), D("1"))],
        asks=[(D("19995.0"), D("1"))],
    )
    order.refresh_from_db()
    assert order.status == "filled"
    assert Fill.objects.get(order=order).price == D("19995.0")


def test_submitting_twice_sends_once(django_capture_on_commit_callbacks, account, book):
    order = place(django_capture_on_commit_callbacks, account, submit=False)
    assert order.status == "new" and order.sent_at is None

    with django_capture_on_commit_callbacks(execute=True):
        first = order_submit(order_id=order.pk)
    with django_capture_on_commit_callbacks(execute=True):
        second = order_submit(order_id=order.pk)

    assert first.status == second.status == "submitted"
    assert events(order, EventKind.ORDER_SENT) == 1
    assert len(venue_for_account(account).open_orders()) == 1


def test_a_restarted_venue_restores_resting_orders_from_the_database(
    django_capture_on_commit_callbacks, account, book
):
    order = place(django_capture_on_commit_callbacks, account)
    before = venue_for_account(account)

    paper_reset()  # the process restarts: its paper market is gone

    venue = venue_for_account(account)
    assert venue is not before
    assert [r.client_order_id for r in venue.open_orders()] == [order.client_order_id]
    with django_capture_on_commit_callbacks(execute=True):
        order = order_cancel(order_id=order.pk)
    assert order.status == "cancelled"
    assert venue.open_orders() == []


def test_a_restored_order_fills_on_the_next_snapshot(
    django_capture_on_commit_callbacks, account, book
):
    order = place(django_capture_on_commit_callbacks, account, price="19999.0")
    paper_reset()
    venue_for_account(account)

    feed(
        django_capture_on_commit_callbacks,
        bids=[(D("19998.0"), D("1"))],
        asks=[(D("19999.0"), D("1"))],
    )

    order.refresh_from_db()
    assert order.status == "filled" and order.filled_quantity == D("0.2")
    assert Position.objects.get(account=account).quantity == D("0.2")


def test_a_restored_resting_order_is_still_a_maker(
    django_capture_on_commit_callbacks, account, book
):
    order = place(django_capture_on_commit_callbacks, account, price="19999.0")
    paper_reset()
    venue_for_account(account)

    feed(
        django_capture_on_commit_callbacks,
        bids=[(D("19998.0"), D("1"))],
        asks=[(D("19998.5"), D("1"))],
    )

    fill = Fill.objects.get(order=order)
    assert (fill.price, fill.liquidity) == (D("19999.0"), "maker")


def test_the_first_order_of_a_process_meets_the_known_book(
    django_capture_on_commit_callbacks, account, btc
):
    # The snapshot arrives before the account's venue exists in this process; the venue is
    # opened while the order is being sent.
    feed(django_capture_on_commit_callbacks, bids=BIDS, asks=ASKS)

    order = place(
        django_capture_on_commit_callbacks, account, order_type="market", price=None, quantity="0.5"
    )

    assert order.status == "filled" and order.average_fill_price == D("20000.46")


def test_amending_a_partially_filled_order_after_a_restart(
    django_capture_on_commit_callbacks, account, book
):
    order = place(django_capture_on_commit_callbacks, account, price="19999.0", quantity="1")
    feed(
        django_capture_on_commit_callbacks,
        bids=[(D("19990.0"), D("1"))],
        asks=[(D("19999.0"), D("0.4")), (D("20000.0"), D("1"))],
    )
    order.refresh_from_db()
    assert order.status == "partially_filled" and order.filled_quantity == D("0.4")
    paper_reset()

    with django_capture_on_commit_callbacks(execute=True):
        order_amend(order_id=order.pk, quantity="0.8")
    feed(
        django_capture_on_commit_callbacks,
        bids=[(D("19990.0"), D("1"))],
        asks=[(D("19998.0"), D("5"))],
    )

    order.refresh_from_db()
    assert order.status == "filled" and order.filled_quantity == D("0.8")


def test_a_post_only_order_that_would_cross_is_rejected_with_the_reason(
    django_capture_on_commit_callbacks, account, book
):
    order = place(
        django_capture_on_commit_callbacks, account, price="20000.1", time_in_force="post_only"
    )

    assert order.status == "rejected"
    assert "post-only order would take liquidity" in order.error
    assert not Fill.objects.exists()
    assert not Position.objects.filter(quantity__gt=0).exists()


def test_a_stop_loss_is_executed_through_the_venue(
    django_capture_on_commit_callbacks, account, book
):
    entry = place(
        django_capture_on_commit_callbacks, account, order_type="market", price=None, quantity="0.5"
    )
    assert entry.status == "filled"
    position = Position.objects.get(account=account)
    position_exits_set(position_id=position.pk, stop_loss_price="19500", take_profit_price="21000")

    # Mid 19600.05: above the stop, nothing happens.
    above = feed(
        django_capture_on_commit_callbacks,
        bids=[(D("19600.0"), D("1"))],
        asks=[(D("19600.1"), D("1"))],
    )
    assert above == []
    # Mid 19400.05: through the stop; the exit sells into the new bids.
    exits = feed(
        django_capture_on_commit_callbacks,
        bids=[(D("19400.0"), D("0.3")), (D("19399.0"), D("1"))],
        asks=[(D("19400.1"), D("1"))],
    )

    assert len(exits) == 1
    exit_order = Order.objects.get(pk=exits[0].pk)
    assert exit_order.reduce_only and exit_order.side == "sell"
    assert exit_order.status == "filled" and exit_order.filled_quantity == D("0.5")
    assert sorted(Fill.objects.filter(order=exit_order).values_list("price", flat=True)) == [
        D("19399.0"),
        D("19400.0"),
    ]
    position.refresh_from_db()
    assert position.quantity == 0 and position.stop_loss_price is None
    assert ExecutionEvent.objects.filter(kind=EventKind.EXIT_TRIGGERED, order=exit_order).exists()


def test_an_order_whose_submit_task_was_lost_is_sent_once_by_the_sweep(account, btc):
    from datetime import timedelta

    from django.utils import timezone

    from execution.services.orders import UNSENT_AFTER, orders_unsent_submit

    order = order_place(account_id=account.pk, symbol="BTC-USDT", side="buy",
                        order_type="limit", quantity="0.1", price="19990",
                        submit=False)  # fmt: skip
    assert orders_unsent_submit() == 0  # too young: its task may still be on its way
    later = timezone.now() + UNSENT_AFTER + timedelta(seconds=1)
    assert orders_unsent_submit(now=later) == 1
    order.refresh_from_db()
    assert order.sent_at is not None and order.status == "submitted"
    assert orders_unsent_submit(now=later) == 0  # never twice
    assert ExecutionEvent.objects.filter(order=order, kind=EventKind.ORDER_SENT).count() == 1


def test_an_order_the_venue_never_received_is_closed_only_after_the_grace(account, btc):
    from datetime import timedelta

    from django.utils import timezone

    from execution.services.orders import NOT_FOUND_GRACE, order_reconcile

    order = order_place(account_id=account.pk, symbol="BTC-USDT", side="buy",
                        order_type="limit", quantity="0.1", price="19990",
                        submit=False)  # fmt: skip
    venue_for_account(account)  # running already: a new one would restore the order
    # The worker marked it sent and died before the venue heard of it.
    sent_at = timezone.now()
    Order.objects.filter(pk=order.pk).update(sent_at=sent_at)
    soon = order_reconcile(order_id=order.pk, now=sent_at + NOT_FOUND_GRACE / 2)
    assert soon.status == "new"  # it may still be on its way
    late = order_reconcile(order_id=order.pk, now=sent_at + NOT_FOUND_GRACE + timedelta(seconds=1))
    assert late.status == "rejected" and "never received" in late.error
