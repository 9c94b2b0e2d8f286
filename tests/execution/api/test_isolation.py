"""One user can neither see nor change another's orders, parent orders, positions, trades,
accounts or execution quality.

Every operation of the API is tried by an intruder against the trader's objects: each answers
404 or an empty result, never the trader's data, and changes nothing.
"""

from decimal import Decimal as D

import pytest

from execution.models import Order, ParentOrder
from execution.services.algos import parent_order_place
from execution.services.marketdata import paper_book_update
from execution.services.orders import order_place
from tests.execution.api.conftest import BASE, order_body, place_filled, row_counts


@pytest.fixture
def victim(account, btc):
    """The trader's account with an open order, a filled one, a fill and a position."""
    open_order = order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
        quantity="0.1", price="19990", client_order_id="victim1", submit=False,
    )  # fmt: skip
    filled = place_filled(account, side="buy", quantity="0.2", price="20000", trade="t1")
    return {"account": account, "open": open_order, "filled": filled}


# Every operation of the API, as (method, path); the test below checks the schema has no other.
OPERATIONS = {
    ("get", "orders/"),
    ("post", "orders/"),
    ("get", "orders/active/"),
    ("get", "orders/{id}/"),
    ("patch", "orders/{id}/"),
    ("delete", "orders/{id}/"),
    ("get", "parent-orders/"),
    ("post", "parent-orders/"),
    ("get", "parent-orders/{id}/"),
    ("delete", "parent-orders/{id}/"),
    ("get", "execution-quality/"),
    ("get", "positions/"),
    ("get", "positions/{symbol}/"),
    ("post", "positions/sync/"),
    ("get", "trades/"),
    ("get", "performance/"),
    ("get", "statistics/"),
    ("get", "accounts/"),
    ("post", "accounts/{id}/kill-switch/"),
    ("get", "breakers/"),
    ("get", "breakers/events/"),
}


# The model registry's (mlmodels.api): model versions are shared platform objects, training
# runs their requester's; tests/mlmodels/api/test_isolation.py tries these as an intruder.
ML_BASE = "/api/v1/ml/"
ML_OPERATIONS = {
    ("get", "models/"),
    ("get", "models/{id}/"),
    ("post", "models/{id}/activate/"),
    ("post", "models/{id}/retire/"),
    ("get", "models/{id}/drift/"),
    ("get", "training-runs/"),
    ("post", "training-runs/"),
    ("get", "training-runs/{id}/"),
    ("get", "features/"),
}


# Strategies, their signals and backtests (strategies.api), each their owner's;
# tests/strategies/api/test_isolation.py tries every one as an intruder.
STRATEGIES_BASE = "/api/v1/strategies/"
STRATEGIES_OPERATIONS = {
    ("get", ""),
    ("post", ""),
    ("get", "{id}/"),
    ("patch", "{id}/"),
    ("delete", "{id}/"),
    ("post", "{id}/pause/"),
    ("post", "{id}/resume/"),
    ("post", "{id}/stop/"),
    ("get", "kinds/"),  # the same catalogue for everyone: nothing of anyone's
    ("get", "signals/"),
    ("get", "backtests/"),
    ("post", "backtests/"),
    ("get", "backtests/{id}/"),
    ("get", "backtests/{id}/result/"),
    ("get", "backtests/{id}/report/"),
    ("get", "comparisons/"),
    ("post", "comparisons/"),
    ("get", "comparisons/{id}/"),
    ("get", "comparisons/{id}/report/"),
}

# Copy subscriptions and copy trades, each their follower's; the leaderboard shows public
# strategies only. tests/copytrading/api/test_isolation.py tries every one as an intruder.
COPYTRADING_BASE = "/api/v1/copytrading/"
COPYTRADING_OPERATIONS = {
    ("get", "subscriptions/"),
    ("post", "subscriptions/"),
    ("get", "subscriptions/{id}/"),
    ("patch", "subscriptions/{id}/"),
    ("delete", "subscriptions/{id}/"),
    ("post", "subscriptions/{id}/pause/"),
    ("post", "subscriptions/{id}/resume/"),
    ("post", "subscriptions/{id}/stop/"),
    ("get", "subscriptions/{id}/drift/"),
    ("get", "subscriptions/{id}/pnl/"),
    ("get", "copy-trades/"),
    ("get", "summary/"),
    ("get", "pnl/"),
    ("get", "leaderboard/"),
}


@pytest.mark.parametrize(
    ("base", "listed"),
    [
        (BASE, OPERATIONS),
        (ML_BASE, ML_OPERATIONS),
        (STRATEGIES_BASE, STRATEGIES_OPERATIONS),
        (COPYTRADING_BASE, COPYTRADING_OPERATIONS),
    ],
)
def test_every_operation_of_the_schema_is_covered_here(api, base, listed):
    paths = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    operations = {
        (method, path.removeprefix(base))
        for path, item in paths.items()
        if path.startswith(base)
        for method in item
    }
    assert operations == listed


def test_an_intruder_sees_none_of_the_traders_orders(victim, intruder_api):
    account, open_order = victim["account"], victim["open"]
    for path in [
        "orders/",
        "orders/active/",
        f"orders/?account={account.pk}",
        "orders/?client_order_id=victim1",
    ]:
        response = intruder_api.get(BASE + path)
        assert response.status_code == 200 and response.data["count"] == 0, path
    response = intruder_api.get(f"{BASE}orders/{open_order.pk}/")
    assert response.status_code == 404
    assert "victim1" not in response.content.decode()


def test_an_intruder_can_neither_amend_nor_cancel_the_traders_orders(victim, intruder_api):
    before = row_counts()
    for order in (victim["open"], victim["filled"]):
        url = f"{BASE}orders/{order.pk}/"
        assert intruder_api.patch(url, {"price": "19980"}, format="json").status_code == 404
        assert intruder_api.delete(url).status_code == 404
    assert row_counts() == before
    open_order = Order.objects.get(pk=victim["open"].pk)
    assert (open_order.status, open_order.price) == ("new", 19990)


def test_an_intruder_cannot_place_orders_on_the_traders_account(victim, intruder_api):
    before = row_counts()
    account = victim["account"]

    response = intruder_api.post(BASE + "orders/", order_body(account), format="json")
    assert response.status_code == 400
    assert response.data["errors"] == {
        "account": [f"account {account.pk} is not one of your accounts."]
    }
    # Nor reach the trader's order through its client order id.
    retry = order_body(account, quantity="0.1", price="19990", client_order_id="victim1")
    del retry["account"]
    response = intruder_api.post(BASE + "orders/", retry, format="json")
    assert response.status_code == 400
    assert str(victim["open"].pk) not in response.content.decode()
    assert row_counts() == before  # refused before anything is written


def test_an_intruder_sees_none_of_the_traders_positions(victim, intruder_api):
    account = victim["account"]
    for path in ["positions/", f"positions/?account={account.pk}"]:
        assert intruder_api.get(BASE + path).data["count"] == 0
    for path in ["positions/BTC-USDT/", f"positions/BTC-USDT/?account={account.pk}"]:
        response = intruder_api.get(BASE + path)
        assert response.status_code == 200 and response.data == []


def test_an_intruder_cannot_sync_the_traders_account(victim, intruder_api):
    before = row_counts()
    account = victim["account"]
    mine = intruder_api.post(BASE + "positions/sync/", {}, format="json").data
    assert (mine["checked"], mine["changed"], mine["positions"]) == (0, [], [])
    theirs = intruder_api.post(BASE + "positions/sync/", {"account": account.pk}, format="json")
    assert theirs.status_code == 404
    assert row_counts() == before


def test_an_intruder_sees_none_of_the_traders_trades(victim, intruder_api):
    account, filled = victim["account"], victim["filled"]
    for path in ["trades/", f"trades/?account={account.pk}", f"trades/?order={filled.pk}"]:
        response = intruder_api.get(BASE + path)
        assert response.status_code == 200 and response.data["count"] == 0, path


def test_an_intruder_sees_none_of_the_traders_accounts_or_figures(victim, intruder_api):
    account = victim["account"]
    accounts = intruder_api.get(BASE + "accounts/").data
    assert [a["name"] for a in accounts] == ["Theirs"]
    for path in ["performance/", "statistics/"]:
        response = intruder_api.get(f"{BASE}{path}?account={account.pk}")
        assert response.status_code == 404, path
        assert response.data["detail"] == f"account {account.pk} is not one of your accounts."
    statistics = intruder_api.get(BASE + "statistics/").data
    assert (statistics["order_count"], statistics["fill_count"]) == (0, 0)
    performance = intruder_api.get(BASE + "performance/").data
    assert performance["trade_count"] == 0 and performance["account"] != account.pk


@pytest.fixture
def victim_parent(account, btc):
    """The trader's limit parent, its child resting below the market."""
    paper_book_update(symbol="BTC-USDT", bids=[(D("19999.9"), D(2))], asks=[(D("20000.1"), D(2))])
    return parent_order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", quantity="0.1",
        algorithm="limit", params={"timeout": 60, "price": "19990"}, strategy_id=3,
    )  # fmt: skip


def test_an_intruder_sees_none_of_the_traders_parent_orders(victim_parent, intruder_api):
    account = victim_parent.account
    for path in [
        "parent-orders/",
        f"parent-orders/?account={account.pk}",
        "parent-orders/?strategy_id=3",
        "parent-orders/?algorithm=limit&status=working",
    ]:
        response = intruder_api.get(BASE + path)
        assert response.status_code == 200 and response.data["count"] == 0, path
    response = intruder_api.get(f"{BASE}parent-orders/{victim_parent.pk}/")
    assert response.status_code == 404
    assert victim_parent.pk not in response.content.decode()


def test_an_intruder_can_neither_cancel_nor_place_parent_orders_for_the_trader(
    victim_parent, intruder_api
):
    before = row_counts()
    account = victim_parent.account

    cancel = intruder_api.delete(f"{BASE}parent-orders/{victim_parent.pk}/")
    place = intruder_api.post(
        BASE + "parent-orders/",
        {"account": account.pk, "symbol": "BTC-USDT", "side": "buy", "quantity": "0.1",
         "algorithm": "market"},
        format="json",
    )  # fmt: skip

    assert cancel.status_code == 404
    assert place.status_code == 400
    assert place.data["errors"] == {
        "account": [f"account {account.pk} is not one of your accounts."]
    }
    assert row_counts() == before
    assert ParentOrder.objects.get().status == "working"
    assert Order.objects.get(parent=victim_parent).status == "new"


def test_an_intruder_sees_none_of_the_traders_execution_quality(victim_parent, intruder_api, api):
    account = victim_parent.account
    theirs = api.get(BASE + "execution-quality/").data
    assert theirs["parent_count"] == 1 and theirs["by_algorithm"][0]["algorithm"] == "limit"
    for path in [
        "execution-quality/",
        "execution-quality/?strategy_id=3",
        "execution-quality/?algorithm=limit&instrument=BTC-USDT",
    ]:
        response = intruder_api.get(BASE + path)
        assert response.status_code == 200, path
        assert response.data == {
            "parent_count": 0,
            "measured_count": 0,
            "by_algorithm": [],
            "by_strategy": [],
        }, path
    response = intruder_api.get(f"{BASE}execution-quality/?account={account.pk}")
    assert response.status_code == 404
    assert response.data["detail"] == f"account {account.pk} is not one of your accounts."
