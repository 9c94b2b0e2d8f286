"""Bad input answers 4xx with a message that says what is wrong, and writes no rows."""

import pytest

from execution.models import EventKind, ExecutionEvent, Order
from tests.execution.api.conftest import BASE, order_body, place_filled, row_counts

ORDERS = BASE + "orders/"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"symbol": "DOGE-USDT"}, "symbol", "unknown instrument 'DOGE-USDT'"),
        ({"quantity": "0"}, "quantity", "quantity must be greater than zero, got 0"),
        ({"quantity": "-0.5"}, "quantity", "quantity must be greater than zero, got -0.5"),
        (
            {"quantity": "0.00005"},
            "quantity",
            "quantity 0.00005 is not a multiple of BTC-USDT's lot size 0.0001",
        ),
        (
            {"quantity": "0.0002", "price": "20000"},
            "quantity",
            "order value 4.0000 USDT is below BTC-USDT's minimum notional 5",
        ),
        (
            {"price": "20000.05"},
            "price",
            "price 20000.05 is not a multiple of BTC-USDT's tick size 0.1",
        ),
        (
            {"order_type": "stop_limit", "stop_price": "19990.01"},
            "stop_price",
            "stop price 19990.01 is not a multiple of BTC-USDT's tick size 0.1",
        ),
        ({"order_type": "market"}, "price", "a market order takes no limit price"),
        ({"price": None}, "price", "a limit order needs a price"),
        (
            {"order_type": "market", "price": None, "time_in_force": "post_only"},
            "time_in_force",
            "post-only applies to limit orders only",
        ),
    ],
)
def test_broken_instrument_rules_answer_400_naming_the_field(
    api, account, btc, overrides, field, message
):
    before = row_counts()

    response = api.post(ORDERS, order_body(account, **overrides), format="json")

    # Messages are the trading rules' own; `in`: the rules' amounts may carry trailing zeros.
    assert response.status_code == 400, response.data
    assert list(response.data["errors"]) == [field]
    assert message in response.data["errors"][field][0]
    if field == "symbol":  # checked by the serializer, before any trading rule
        assert response.data["detail"] == f"symbol: {message}"
    else:
        assert response.data["detail"].startswith(message)
        assert response.data["code"] == "rule_violation"
        assert response.data["violations"][0]["field"] == field
    assert row_counts() == before


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"quantity": "abc"}, "quantity", "A valid number is required."),
        ({"quantity": True}, "quantity", "A valid number is required."),
        ({"quantity": "NaN"}, "quantity", "A valid number is required."),
        ({"quantity": "1e-19"}, "quantity", "no more than 18 decimal places"),
        ({"quantity": "1e30"}, "quantity", "no more than 20 digits before the decimal point"),
        ({"side": "long"}, "side", '"long" is not a valid choice.'),
        ({"order_type": "iceberg"}, "order_type", '"iceberg" is not a valid choice.'),
        ({"account": 999_999}, "account", "account 999999 is not one of your accounts."),
        ({"account": "1.5"}, "account", "Expected an account id"),
        ({"client_order_id": "has-dash"}, "client_order_id", "1 to 32 letters or digits"),
        ({"reduceOnly": True}, "reduceOnly", "This field is not accepted here."),
    ],
)
def test_malformed_fields_answer_400_naming_the_field(api, account, btc, overrides, field, message):
    before = row_counts()

    response = api.post(ORDERS, order_body(account, **overrides), format="json")

    assert response.status_code == 400
    assert response.data["code"] == "invalid"
    assert message in " ".join(response.data["errors"][field])
    assert field in response.data["detail"]
    assert row_counts() == before


def test_missing_fields_are_each_named(api, account, btc):
    response = api.post(ORDERS, {}, format="json")
    assert response.status_code == 400
    assert set(response.data["errors"]) == {"symbol", "side", "order_type", "quantity"}


@pytest.mark.parametrize(
    "body",
    [
        '{"symbol": "BTC-USDT", "quantity": ',
        "not json at all",
        '{"quantity": NaN}',
        "[1, 2]",
    ],
)
def test_malformed_json_answers_400(api, account, btc, body):
    before = row_counts()

    response = api.post(ORDERS, body, content_type="application/json")

    assert response.status_code == 400
    assert response.data["code"] in {"parse_error", "invalid"}
    assert response.data["detail"]
    assert row_counts() == before


def test_a_risk_refusal_answers_422_with_every_failed_check(api, account, btc):
    before = row_counts()

    response = api.post(ORDERS, order_body(account, quantity="10", price="22000"), format="json")

    assert response.status_code == 422
    data = response.data
    assert data["code"] == "order_refused"
    assert [(v["rule"], v["field"]) for v in data["violations"]] == [
        ("price_deviation", "price"),
        ("max_position_value", None),
        ("insufficient_balance", None),
    ]
    assert set(data["errors"]) == {"price", "non_field_errors"}
    assert len(data["errors"]["non_field_errors"]) == 2
    assert data["detail"].startswith("order refused: price 22000 is 10.00% from the mid 20000")
    # No order; the refusal itself goes to the audit trail, by design.
    after = row_counts()
    assert after["Order"] == before["Order"]
    assert after["ExecutionEvent"] == before["ExecutionEvent"] + 1
    assert ExecutionEvent.objects.latest("id").kind == EventKind.ORDER_REFUSED


def test_amending_a_filled_order_is_refused_and_writes_nothing(api, account, btc):
    order = place_filled(account, side="buy", quantity="0.2", price="20000", trade="t1")
    before = row_counts()

    response = api.patch(f"{ORDERS}{order.pk}/", {"quantity": "0.4"}, format="json")

    assert response.status_code == 400
    assert response.data["detail"] == (
        f"order {order.client_order_id} is filled and cannot be amended"
    )
    assert row_counts() == before


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "non_field_errors", "An amendment needs a new quantity or a new price."),
        ({"price": "20000.05"}, "price", "price 20000.05 is not a multiple of"),
        ({"quantity": "0"}, "non_field_errors", "new quantity 0 must be above the"),
        ({"quantity": "0.00005"}, "quantity", "is not a multiple of BTC-USDT's lot size"),
        ({"side": "sell"}, "side", "This field is not accepted here."),
        ({"price": "x"}, "price", "A valid number is required."),
    ],
)
def test_bad_amendments_are_refused_and_write_nothing(api, account, btc, body, field, message):
    order_id = api.post(ORDERS, order_body(account), format="json").data["id"]
    before = row_counts()

    response = api.patch(f"{ORDERS}{order_id}/", body, format="json")

    assert response.status_code == 400
    assert message in response.data["errors"][field][0]
    assert row_counts() == before
    order = Order.objects.get()
    assert (str(order.quantity.normalize()), order.price) == ("0.5", 20000)


def test_cancelling_someone_elses_order_is_not_found_and_writes_nothing(
    api, account, btc, intruder_api
):
    order_id = api.post(ORDERS, order_body(account), format="json").data["id"]
    before = row_counts()

    response = intruder_api.delete(f"{ORDERS}{order_id}/")

    assert response.status_code == 404
    assert response.data["code"] == "not_found"
    assert row_counts() == before
    assert Order.objects.get().status == "new"


def test_an_unknown_path_or_method_answers_json(api, account):
    missing = api.get("/api/v1/trading/nothing-here/")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "There is no API endpoint at /api/v1/trading/nothing-here/."
    put = api.put(BASE + "accounts/", {}, format="json")
    assert put.status_code == 405 and put.data["code"] == "method_not_allowed"
