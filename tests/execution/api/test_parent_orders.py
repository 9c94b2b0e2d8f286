"""Parent orders (execution algorithms) over the API: start one against a paper book, read it
back with its children and execution quality, list, filter, cancel; bad input writes nothing."""

from datetime import datetime, timedelta
from decimal import Decimal as D
from uuid import UUID

import pytest

from execution.models import Fill, Order, ParentOrder
from execution.services.algos import parent_order_run
from execution.services.marketdata import paper_book_update
from tests.execution.api.conftest import BASE, amounts, row_counts

PARENTS = BASE + "parent-orders/"


@pytest.fixture
def book(btc):
    """BTC-USDT (lot 0.0001, tick 0.1) quoted 19999.9 / 20000.1, 2 deep on ten levels."""
    paper_book_update(
        symbol="BTC-USDT",
        bids=[(D("19999.9") - D(n) / 10, D(2)) for n in range(10)],
        asks=[(D("20000.1") + D(n) / 10, D(2)) for n in range(10)],
    )


def twap_body(account, /, **overrides):
    body = {
        "account": account.pk,
        "symbol": "BTC-USDT",
        "side": "buy",
        "quantity": "0.3",
        "algorithm": "twap",
        "params": {"duration": 60, "num_slices": 3},
        "strategy_id": 7,
    }
    body.update(overrides)
    return body


@pytest.mark.django_db(transaction=True)  # real commits: the children are sent on commit
def test_a_twap_placed_then_read_back_with_its_children_and_quality(api, account, book):
    placed = api.post(PARENTS, twap_body(account), format="json")

    assert placed.status_code == 201, placed.data
    data = placed.data
    parent = ParentOrder.objects.get()
    assert data["id"] == parent.pk
    assert (data["account"], data["symbol"], data["side"], data["algorithm"]) == (
        account.pk,
        "BTC-USDT",
        "buy",
        "twap",
    )
    assert data["params"]["num_slices"] == 3 and data["params"]["duration"] == "60"
    assert data["strategy_id"] == 7
    # The first of three slices went out at once as a market order and took the best ask.
    assert data["status"] == "partially_filled"
    assert amounts(data, "quantity", "filled_quantity", "remaining_quantity") == (
        D("0.3"),
        D("0.1"),
        D("0.2"),
    )
    [child] = data["children"]
    assert child["client_order_id"] == f"{parent.pk}c1" and child["strategy_id"] == 7
    assert (child["order_type"], child["status"], child["average_fill_price"]) == (
        "market",
        "filled",
        "20000.1",
    )
    fee = Fill.objects.get().fee  # the paper exchange's taker fee on 2000.01
    quality = data["execution_quality"]
    assert amounts(quality, "arrival_mid", "final_mid", "average_price") == (
        D(20000),
        D(20000),
        D("20000.1"),
    )
    assert D(quality["fill_rate"]) == D("0.333333333333333333")
    assert D(quality["slippage_bps"]) == D("0.05")  # 0.1 over 20000
    assert D(quality["fees"]) == fee and D(quality["fees_bps"]) == D(5)
    # 0.1 x 0.1 above the mid, plus the fee; the rest marked at an unchanged mid costs nothing.
    assert D(quality["execution_cost"]) == D("0.01") and D(quality["opportunity_cost"]) == 0
    assert D(quality["shortfall"]) == D("0.01") + fee
    # Placed directly: no signal time, so the wait counts from the placement.
    assert data["signal_at"] is None and quality["signal_to_first_fill"] >= 0
    # One market order for all 0.3 would have taken it at 20000.1 too, and paid the fee on
    # three times the notional: 0.03 + 3.000015 on 6000, against 1.010005 so far.
    baseline = quality["baseline"]
    assert baseline["complete"] and D(baseline["average_price"]) == D("20000.1")
    assert D(baseline["cost_bps"]) == D("5.05") and D(baseline["slippage_bps"]) == D("0.05")
    assert D(quality["shortfall_bps"]) == D("1.6833")
    assert D(quality["improvement_bps"]) == D("3.3667")

    started = datetime.fromisoformat(parent.state["started_at"])
    parent_order_run(parent_id=parent.pk, now=started + timedelta(seconds=20))
    parent_order_run(parent_id=parent.pk, now=started + timedelta(seconds=40))
    detail = api.get(f"{PARENTS}{parent.pk}/")

    assert detail.status_code == 200
    data = detail.data
    assert data["status"] == "filled" and data["filled_quantity"] == "0.3"
    assert [c["client_order_id"] for c in data["children"]] == [
        f"{parent.pk}c{n}" for n in (1, 2, 3)
    ]
    assert [c["status"] for c in data["children"]] == ["filled"] * 3
    assert set(Order.objects.filter(parent=parent).values_list("pk", flat=True)) == {
        UUID(c["id"]) for c in data["children"]
    }
    assert D(data["execution_quality"]["fill_rate"]) == 1
    assert D(data["execution_quality"]["opportunity_cost"]) == 0


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_parent_cancels_its_resting_child(api, account, book):
    body = twap_body(account, algorithm="iceberg", params={"visible_pct": "0.25"}, side="sell")
    parent_id = api.post(PARENTS, body, format="json").data["id"]
    clip = Order.objects.get(parent_id=parent_id)
    assert clip.status == "submitted"  # resting at the ask

    response = api.delete(f"{PARENTS}{parent_id}/")

    assert response.status_code == 200, response.data
    assert response.data["status"] == "cancelled"
    assert response.data["reason"] == "cancelled on request"
    assert [c["status"] for c in response.data["children"]] == ["cancelled"]
    quality = response.data["execution_quality"]
    assert (quality["filled_quantity"], quality["average_price"], quality["slippage_bps"]) == (
        "0",
        None,
        None,
    )
    # Nothing filled and the mid never moved: the whole 0.3 missed nothing.
    assert quality["shortfall"] == "0"
    before = row_counts()
    again = api.delete(f"{PARENTS}{parent_id}/")  # over already: answered as it is
    assert again.status_code == 200 and again.data["status"] == "cancelled"
    assert row_counts() == before


def test_the_list_filters_and_pages(api, account, book, user):
    for algorithm, params, side in [
        ("twap", {"duration": 60, "num_slices": 3}, "buy"),
        ("limit", {"timeout": 30, "price": "19990"}, "buy"),
        ("iceberg", {"visible_pct": "0.5"}, "sell"),
    ]:
        body = twap_body(account, algorithm=algorithm, params=params, side=side)
        assert api.post(PARENTS, body, format="json").status_code == 201

    def algorithms(query=""):
        response = api.get(PARENTS + query)
        assert response.status_code == 200, response.data
        return [row["algorithm"] for row in response.data["results"]]

    assert algorithms() == ["iceberg", "limit", "twap"]  # newest first
    assert algorithms("?algorithm=limit") == ["limit"]
    assert algorithms("?status=working&status=partially_filled") == ["iceberg", "limit", "twap"]
    assert algorithms("?status=filled") == []
    assert algorithms("?side=sell&symbol=btc-usdt") == ["iceberg"]
    assert algorithms(f"?account={account.pk}&strategy_id=7&page_size=1") == ["iceberg"]
    assert algorithms("?symbol=ETH-USDT") == []
    listed = api.get(PARENTS).data["results"][0]
    assert "children" not in listed and "execution_quality" not in listed
    for query in ["?algorithm=sniper", "?status=done", "?account=x"]:
        assert api.get(PARENTS + query).status_code == 400, query


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"params": {"duration": 60, "num_slices": 0}}, "params.num_slices", "at least 1, got 0"),
        ({"params": {"num_slices": 3}}, "params.duration", "twap needs 'duration'"),
        ({"params": {"duration": 60, "slices": 3}}, "params.slices", "takes no parameter"),
        ({"params": {"duration": -5}}, "params.duration", "duration must be positive"),
        ({"params": {"duration": "1e999999"}}, "params.duration", "too large"),
        ({"params": {"duration": "1e19"}}, "params.duration", "too long"),
        ({"params": {"duration": 60, "num_slices": 1.5}}, "params.num_slices", "whole number"),
        (
            {"algorithm": "limit", "params": {"timeout": 30, "price": "20000.05"}},
            "params.price",
            "not a multiple of BTC-USDT's tick size 0.1",
        ),
        ({"params": [60, 3]}, "params", "Expected a dictionary"),
        ({"algorithm": "sniper"}, "algorithm", '"sniper" is not a valid choice.'),
        ({"quantity": "0.00005"}, "quantity", "not a multiple of BTC-USDT's lot size"),
        ({"quantity": "0"}, "quantity", "quantity must be greater than zero"),
        ({"symbol": "DOGE-USDT"}, "symbol", "unknown instrument 'DOGE-USDT'"),
        ({"side": "long"}, "side", '"long" is not a valid choice.'),
        ({"strategy_id": 0}, "strategy_id", "greater than or equal to 1"),
        ({"algo": "twap"}, "algo", "This field is not accepted here."),
    ],
)
def test_bad_input_answers_400_naming_the_field_and_writes_nothing(
    api, account, book, overrides, field, message
):
    before = row_counts()

    response = api.post(PARENTS, twap_body(account, **overrides), format="json")

    assert response.status_code == 400, response.data
    assert list(response.data["errors"]) == [field], response.data
    assert message in response.data["errors"][field][0]
    assert row_counts() == before


def test_missing_fields_are_each_named(api, account, btc):
    response = api.post(PARENTS, {}, format="json")
    assert response.status_code == 400
    assert set(response.data["errors"]) == {"symbol", "side", "quantity", "algorithm"}


def test_an_unknown_parent_is_not_found(api, account):
    for method in ("get", "delete"):
        response = getattr(api, method)(f"{PARENTS}nosuchparent/")
        assert response.status_code == 404 and response.data["code"] == "not_found"


@pytest.mark.django_db(transaction=True)
def test_quality_summarized_per_algorithm_and_per_strategy(api, account, book):
    for algorithm, params, strategy_id in [
        ("market", {}, 7),
        ("market", {}, None),
        ("iceberg", {"visible_pct": "0.5"}, 7),  # its clip rests: nothing filled
    ]:
        body = twap_body(account, algorithm=algorithm, params=params, strategy_id=strategy_id)
        assert api.post(PARENTS, body, format="json").status_code == 201

    report = api.get(BASE + "execution-quality/").data

    assert (report["parent_count"], report["measured_count"]) == (3, 3)
    by_algorithm = {row["algorithm"]: row for row in report["by_algorithm"]}
    assert list(by_algorithm) == ["iceberg", "market"]
    assert [row["strategy_id"] for row in report["by_strategy"]] == [None, 7]
    market = by_algorithm["market"]
    assert (market["count"], market["filled_count"], market["currency"]) == (2, 2, "USDT")
    assert D(market["fill_rate"]) == D(market["mean_fill_rate"]) == 1
    # Each took its 0.3 at the best ask (20000.1, 2 deep): 0.1 above the mid of 20000.
    assert D(market["mean_slippage_bps"]) == D(market["slippage_bps"]) == D("0.05")
    iceberg = by_algorithm["iceberg"]
    assert (iceberg["count"], iceberg["filled_count"], iceberg["mean_slippage_bps"]) == (1, 0, None)
    assert [row["count"] for row in report["by_strategy"]] == [1, 2]
