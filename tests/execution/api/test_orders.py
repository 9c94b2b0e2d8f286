"""Orders over the API: place, retry, list with filters and pages, amend, cancel."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from execution.models import EventKind, ExecutionEvent, Order
from execution.services.orders import order_place
from tests.execution.api.conftest import BASE, order_body, place_filled, row_counts
from tests.factories import make_account, make_instrument

ORDERS = BASE + "orders/"


def test_placing_an_order_answers_201_with_the_saved_order(api, account, btc):
    response = api.post(ORDERS, order_body(account, client_order_id="first1"), format="json")

    assert response.status_code == 201, response.data
    data = response.data
    order = Order.objects.get()
    assert data["id"] == str(order.pk) and data["client_order_id"] == "first1"
    assert (data["account"], data["symbol"], data["side"], data["order_type"]) == (
        account.pk,
        "BTC-USDT",
        "buy",
        "limit",
    )
    # Amounts are decimal strings without padding.
    assert (data["quantity"], data["price"], data["remaining_quantity"]) == ("0.5", "20000", "0.5")
    assert data["status"] == "new" and data["time_in_force"] == "gtc"
    assert data["stop_price"] is None and data["reduce_only"] is False
    event = ExecutionEvent.objects.get(kind=EventKind.ORDER_CREATED)
    assert event.actor == f"user:{account.owner_id}"


def test_json_numbers_are_read_exactly(api, account, btc):
    # 0.1234 as a JSON number: read as a Decimal, never through a binary float.
    response = api.post(
        ORDERS,
        '{"symbol": "BTC-USDT", "side": "buy", "order_type": "limit", '
        '"quantity": 0.1234, "price": 19999.9}',
        content_type="application/json",
    )
    assert response.status_code == 201, response.data
    order = Order.objects.get()
    assert (order.quantity, order.price) == (D("0.1234"), D("19999.9"))


def test_the_account_may_be_left_out_only_with_a_single_account(api, account, btc, user):
    body = order_body(account)
    del body["account"]
    assert api.post(ORDERS, body, format="json").status_code == 201

    make_account(user, name="Second")
    response = api.post(ORDERS, body, format="json")
    assert response.status_code == 400
    assert response.data["errors"] == {"account": ["You have several accounts: say which one."]}


def test_a_retry_with_the_same_client_order_id_returns_the_existing_order(api, account, btc):
    body = order_body(account, client_order_id="retry7")
    first = api.post(ORDERS, body, format="json")
    before = row_counts()

    again = api.post(ORDERS, body, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.data["id"] == first.data["id"]
    assert row_counts() == before

    changed = api.post(ORDERS, {**body, "quantity": "0.6"}, format="json")
    assert changed.status_code == 400
    assert changed.data["detail"] == "client order id retry7 is already used by a different order"
    assert row_counts() == before


def test_a_symbol_is_read_in_any_case(api, account, btc):
    response = api.post(ORDERS, order_body(account, symbol="btc-usdt"), format="json")
    assert response.status_code == 201 and response.data["symbol"] == "BTC-USDT"


def test_listing_filters_and_pages(api, account, btc, user):
    make_instrument("ETH-USDT", mark="1000", tick="0.01", lot="0.001")
    second = make_account(user, name="Second")
    for n in range(3):
        order_place(
            account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
            quantity="0.1", price=str(19990 + n), submit=False,
        )  # fmt: skip
    eth = order_place(
        account_id=second.pk, symbol="ETH-USDT", side="sell", order_type="limit",
        quantity="1", price="1001", submit=False, strategy_id=42,
    )  # fmt: skip
    filled = place_filled(account, side="buy", quantity="0.2", price="20000", trade="t1")

    def ids(query=""):
        response = api.get(ORDERS + query)
        assert response.status_code == 200, response.data
        return [row["id"] for row in response.data["results"]]

    assert len(ids()) == 5
    assert ids("?symbol=ETH-USDT") == [str(eth.pk)]
    assert ids("?symbol=eth-usdt") == [str(eth.pk)]
    assert ids("?strategy_id=42") == [str(eth.pk)]
    assert ids(f"?account={second.pk}") == [str(eth.pk)]
    assert ids("?status=filled") == [str(filled.pk)]
    assert len(ids("?status=filled&status=new")) == 5
    assert ids("?side=sell") == [str(eth.pk)]
    assert ids(f"?client_order_id={filled.client_order_id}") == [str(filled.pk)]
    today = timezone.now().date()
    assert len(ids(f"?created_after={today}&created_before={today}")) == 5
    assert ids(f"?created_after={today + timedelta(days=1)}") == []
    assert ids(f"?created_before={today - timedelta(days=1)}") == []

    # Newest first, two to a page.
    page1 = api.get(ORDERS + "?page_size=2").data
    page3 = api.get(ORDERS + "?page_size=2&page=3").data
    assert page1["count"] == 5 and page1["next"] and page1["previous"] is None
    assert page1["results"][0]["id"] == str(filled.pk)
    assert len(page3["results"]) == 1 and page3["next"] is None
    # The page size has a ceiling.
    assert len(api.get(ORDERS + "?page_size=100000").data["results"]) == 5


def test_bad_filters_answer_400_with_the_field(api, account, btc):
    for query, field in [
        ("?status=open", "status"),
        ("?created_after=yesterday", "created"),
        ("?strategy_id=1.5", "strategy_id"),
        ("?account=99999999999999999999", "account"),
    ]:
        response = api.get(ORDERS + query)
        assert response.status_code == 400, query
        assert response.data["code"] == "invalid"
        assert any(key.startswith(field) for key in response.data["errors"]), response.data


def test_active_orders_are_the_open_ones(api, account, btc):
    open_order = order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
        quantity="0.1", price="19990", submit=False,
    )  # fmt: skip
    place_filled(account, side="buy", quantity="0.2", price="20000", trade="t1")

    response = api.get(ORDERS + "active/")

    assert response.status_code == 200
    assert [row["id"] for row in response.data["results"]] == [str(open_order.pk)]


def test_one_order_by_id(api, account, btc):
    order = place_filled(account, side="buy", quantity="0.2", price="20000", trade="t1")

    data = api.get(f"{ORDERS}{order.pk}/").data

    assert data["status"] == "filled"
    assert (data["filled_quantity"], data["average_fill_price"], data["remaining_quantity"]) == (
        "0.2",
        "20000",
        "0",
    )
    assert api.get(ORDERS + "not-a-uuid/").status_code == 404


def test_amending_changes_quantity_and_price(api, account, btc):
    order_id = api.post(ORDERS, order_body(account), format="json").data["id"]

    response = api.patch(
        f"{ORDERS}{order_id}/", {"quantity": "0.7", "price": "20100"}, format="json"
    )

    assert response.status_code == 200, response.data
    assert (response.data["quantity"], response.data["price"]) == ("0.7", "20100")
    order = Order.objects.get()
    assert (order.quantity, order.price) == (D("0.7"), D(20100))
    assert ExecutionEvent.objects.filter(kind=EventKind.ORDER_AMENDED).count() == 1

    price_only = api.patch(f"{ORDERS}{order_id}/", {"price": "20050"}, format="json")
    assert (price_only.data["quantity"], price_only.data["price"]) == ("0.7", "20050")


def test_cancelling_answers_the_cancelled_order(api, account, btc):
    order_id = api.post(ORDERS, order_body(account), format="json").data["id"]

    response = api.delete(f"{ORDERS}{order_id}/")

    assert response.status_code == 200
    assert response.data["status"] == "cancelled"
    assert Order.objects.get().status == "cancelled"
    again = api.delete(f"{ORDERS}{order_id}/")
    assert again.status_code == 400
    assert "is cancelled and cannot be cancelled" in again.data["detail"]


# Transactional, as in production: the submit task runs when order_place commits, before the
# view answers.
@pytest.mark.django_db(transaction=True)
def test_a_placed_order_is_sent_and_answers_as_it_stands(api, account, btc):
    from execution.services.marketdata import paper_book_update
    from execution.services.venues import venue_for_account

    venue_for_account(account)
    paper_book_update(
        symbol="BTC-USDT",
        bids=[(D("19999.9"), D("1"))],
        asks=[(D("20000.1"), D("1"))],
    )
    response = api.post(
        ORDERS,
        order_body(account, order_type="market", price=None, quantity="0.3"),
        format="json",
    )

    assert response.status_code == 201
    # The submit task ran on commit, in-process (no broker): the order filled at the venue.
    assert response.data["status"] == "filled" and response.data["sent_at"]
    assert response.data["average_fill_price"] == "20000.1"
