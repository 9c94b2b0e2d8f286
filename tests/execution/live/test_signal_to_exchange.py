"""The done criterion of live trading: a signal on a live account whose child order the
exchange accepts but whose reply is lost ends with exactly one order at the exchange, its
fills recorded once and the position right; polling and reconciliation again change nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from execution.models import EventKind, ExecutionEvent, Fill, Order, ParentOrder
from execution.services.marketdata import paper_book_update
from execution.services.reconciliation import account_reconcile, live_orders_poll
from execution.services.signal_execution import signal_execute
from tests.execution.live.conftest import DEPOSIT

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: tasks run on commit


def stable_book(start):
    """Five identical snapshots a second apart around 20000: a perfectly stable spread."""
    for n in range(5):
        paper_book_update(
            symbol="BTC-USDT",
            bids=[(D("19999.9") - D(k) / 10, D(2)) for k in range(10)],
            asks=[(D("20000.1") + D(k) / 10, D(2)) for k in range(10)],
            at=start + timedelta(seconds=n),
        )
    return start + timedelta(seconds=4)


def counts():
    return (Order.objects.count(), Fill.objects.count(), ExecutionEvent.objects.count())


def test_a_lost_reply_ends_with_exactly_one_order_per_signal(live_account, okx):
    now = stable_book(timezone.now())
    okx.lose_next_reply = True  # the exchange takes the order; its answer never arrives

    outcome = signal_execute(account_id=live_account.pk, symbol="BTC-USDT", side="buy",
                             strength=0.9, base_quantity="0.2", now=now)  # fmt: skip

    parent = outcome.parent_order
    assert parent is not None and outcome.quantity == D("0.18")
    child = Order.objects.get(parent=parent)
    assert child.status == "unknown" and child.sent_at is not None
    (sent,) = okx.placed()
    (item,) = sent.body if isinstance(sent.body, list) else [sent.body]
    assert item["clOrdId"] == child.client_order_id
    assert list(okx.orders) == [child.client_order_id]

    # It rests at the exchange and fills there; the poll hears of it by client order id.
    price, fee = D("19999.9"), D("0.7199964")  # a 0.02% maker fee, charged in USDT
    okx.fill(child.client_order_id, size="0.18", price=str(price), fee=str(-fee), fee_ccy="USDT")
    assert live_orders_poll() == 1

    child.refresh_from_db()
    assert child.status == "filled" and child.filled_quantity == D("0.18")
    assert child.venue_order_id == okx.orders[child.client_order_id].ord_id
    (fill,) = child.fills.all()
    assert (fill.quantity, fill.price, fill.fee, fill.liquidity) == (D("0.18"), price, fee, "maker")
    position = live_account.positions.get()
    assert position.quantity == D("0.18")
    assert position.average_entry_price == price
    assert position.fees_paid == fee and position.realized_pnl == -fee
    parent = ParentOrder.objects.get(pk=parent.pk)
    assert parent.filled_quantity == D("0.18") and parent.status == "filled"

    # The exchange's books agree with ours: reconciliation finds nothing to correct.
    assert okx.balance("BTC") == D("0.18")
    assert okx.balance("USDT") == DEPOSIT - D("0.18") * price - fee
    result = account_reconcile(account_id=live_account.pk)
    assert (result.settled, result.unknown_at_venue, result.corrections) == ((), (), ())
    assert result.deferred is None

    # Asking again, either way, does nothing more.
    before = counts()
    assert live_orders_poll() == 0
    again = account_reconcile(account_id=live_account.pk)
    assert (again.settled, again.unknown_at_venue, again.corrections) == ((), (), ())
    assert counts() == before
    assert len(okx.placed()) == 1 and len(okx.orders) == 1  # one order at the exchange
    assert Order.objects.filter(account=live_account).count() == 1
    assert ExecutionEvent.objects.filter(kind=EventKind.FILL_RECORDED).count() == 1
    assert not ExecutionEvent.objects.filter(kind=EventKind.RECONCILIATION).exists()
