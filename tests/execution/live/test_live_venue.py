"""venue_for_account for a live account: a ccxt OKX client built from the stored credentials,
and orders placed through order_place reaching the (fake) exchange with our client order id."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from execution.domain.errors import DomainError
from execution.models import AccountMode, EventKind, ExecutionEvent, Order
from execution.services.accounts import account_open
from execution.services.live import exchange_credentials_set
from execution.services.orders import order_cancel, order_place
from execution.services.reconciliation import live_orders_poll
from execution.services.venues import venue_for_account
from execution.venues.ccxt_venue import CcxtVenue
from tests.execution.live.conftest import API_KEY, PASSPHRASE, SECRET
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: orders are sent on commit


def place(account, **kw):
    args = {"account_id": account.pk, "symbol": "BTC-USDT", "side": "buy",
            "order_type": "limit", "quantity": "0.05", "price": "19990.0"}  # fmt: skip
    args.update(kw)
    order = order_place(**args)
    order.refresh_from_db()
    return order


def test_a_live_account_trades_through_ccxt_on_the_sandbox(live_account, okx):
    venue = venue_for_account(live_account)

    assert isinstance(venue, CcxtVenue)
    assert venue is venue_for_account(live_account)  # one client per process and account
    assert venue.open_orders() == []
    assert okx.requests and all(r.headers.get("x-simulated-trading") == "1" for r in okx.requests)
    assert venue._exchange.enableRateLimit is True  # ccxt's own limiter paces the requests


def test_new_credentials_rebuild_the_client(live_account, okx):
    before = venue_for_account(live_account)
    exchange_credentials_set(
        account_id=live_account.pk, exchange_id="okx", api_key="a" * 20 + "NEW1", secret=SECRET,
        password=PASSPHRASE, sandbox=False, actor="test",
    )  # fmt: skip

    after = venue_for_account(live_account)

    assert after is not before
    okx.requests.clear()
    after.balances()
    request = okx.requests[-1]
    assert request.path == "/api/v5/account/balance"
    assert request.headers["OK-ACCESS-KEY"] == "a" * 20 + "NEW1"
    assert "x-simulated-trading" not in request.headers  # real trading now


def test_a_live_account_without_credentials_is_refused_with_the_fix(btc, encryption_key, okx):
    account = account_open(owner=make_user("nokey"), name="Bare", mode=AccountMode.LIVE)
    with pytest.raises(DomainError, match="exchange_credentials_set --account"):
        venue_for_account(account)


def test_an_order_reaches_the_exchange_with_our_client_order_id(live_account, okx):
    order = place(live_account, client_order_id="live1")

    (sent,) = okx.placed()
    (item,) = sent.body if isinstance(sent.body, list) else [sent.body]
    assert item["clOrdId"] == "live1"
    assert (item["instId"], item["side"], item["ordType"], item["sz"], item["px"]) == (
        "BTC-USDT", "buy", "limit", "0.05", "19990",
    )  # fmt: skip
    assert order.status == "submitted" and order.sent_at is not None
    assert order.venue_order_id == okx.orders["live1"].ord_id

    cancelled = order_cancel(order_id=order.pk)

    assert cancelled.status == "cancelled"
    (cancel,) = okx.posts("/api/v5/trade/cancel-order")
    assert cancel.body == {"instId": "BTC-USDT", "clOrdId": "live1"}


def test_an_order_refused_by_the_exchange_is_rejected_with_its_reason(live_account, okx):
    okx.refuse_next_order = ("51008", "Order failed. Insufficient USDT balance in account.")
    order = place(live_account)
    assert order.status == "rejected"
    assert "Insufficient USDT balance" in order.error


def test_a_lost_reply_leaves_the_order_unknown_until_the_poll_finds_it(live_account, okx):
    okx.lose_next_reply = True
    order = place(live_account, client_order_id="lost1")
    assert order.status == "unknown"

    assert live_orders_poll() == 1

    order.refresh_from_db()
    assert order.status == "submitted"
    assert order.venue_order_id == okx.orders["lost1"].ord_id
    assert len(okx.placed()) == 1  # asked about, never resent
    assert live_orders_poll() == 0


def test_an_order_that_never_arrived_is_rejected_after_the_grace_period(live_account, okx):
    okx.lose_next_request = True
    order = place(live_account, client_order_id="neverthere1")
    assert order.status == "unknown"

    assert live_orders_poll() == 0  # it may still be on its way
    order.refresh_from_db()
    assert order.status == "unknown"

    assert live_orders_poll(now=timezone.now() + timedelta(minutes=2)) == 1

    order.refresh_from_db()
    assert order.status == "rejected"
    assert "never received" in order.error
    assert okx.orders == {}
    assert okx.placed() == []  # the lost request is all there ever was


def test_the_poll_records_fills_once(live_account, okx):
    order = place(live_account, client_order_id="fills1", quantity="0.3", price="19990")
    okx.fill("fills1", size="0.1", price="19990", fee="-0.8", fee_ccy="USDT")

    assert live_orders_poll() == 1
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("partially_filled", D("0.1"))

    okx.fill("fills1", size="0.2", price="19990", fee="-1.6", fee_ccy="USDT")
    assert live_orders_poll() == 1
    assert live_orders_poll() == 0

    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", D("0.3"))
    assert order.fills.count() == 2
    assert ExecutionEvent.objects.filter(order=order, kind=EventKind.FILL_RECORDED).count() == 2
    position = live_account.positions.get()
    assert position.quantity == D("0.3")
    assert position.fees_paid == D("2.4")
    assert Order.objects.count() == 1
    assert API_KEY not in "".join(ExecutionEvent.objects.values_list("message", flat=True))
