"""Circuit breakers through the API: state, transitions and the kill switch, each user's own."""

from datetime import timedelta

import pytest
from django.utils import timezone

from execution.models import AccountBreakers, EventKind, ExecutionEvent
from tests.execution.api.conftest import BASE, order_body, row_counts
from tests.factories import btc_book, btc_unstable_spread

pytestmark = pytest.mark.django_db(transaction=True)


def kill(api, account, on, reason="risk review"):
    return api.post(
        f"{BASE}accounts/{account.pk}/kill-switch/", {"on": on, "reason": reason}, format="json"
    )


def test_breakers_show_a_market_wide_halt_and_the_halt_refuses_api_orders(api, account, btc):
    btc_unstable_spread(timezone.now() - timedelta(seconds=200))
    data = api.get(BASE + "breakers/").json()
    (instrument,) = data["instruments"]
    assert instrument["symbol"] == "BTC-USDT" and instrument["halted"] is True
    assert instrument["halted_since"] and instrument["spread_stability"] > 0.8
    assert data["config"]["halt_stability_above"] == 0.8 and data["config"]["halt_after"] == "60"
    (mine,) = data["accounts"]
    assert mine["account"] == account.pk and mine["kill_switch"]["on"] is False
    assert (mine["overrides_used"], mine["overrides_allowed"]) == (0, 5)

    response = api.post(BASE + "orders/", order_body(account), format="json")
    assert response.status_code == 422, response.content
    assert "halted" in str(response.json())

    events = api.get(BASE + "breakers/events/?breaker=halt").json()
    assert events["count"] == 1
    (halt,) = events["results"]
    assert halt["breaker"] == "halt" and halt["instrument"] == "BTC-USDT"
    assert halt["account"] is None and "new orders halted" in halt["message"]


def test_the_kill_switch_through_the_api(api, account, btc):
    btc_book(timezone.now())
    response = kill(api, account, True, "news at 14:00")
    assert response.status_code == 200, response.content
    switch = response.json()["kill_switch"]
    assert switch["on"] is True and switch["reason"] == "news at 14:00"
    assert switch["automatic"] is False

    refused = api.post(BASE + "orders/", order_body(account), format="json")
    assert refused.status_code == 422 and "kill switch is on" in str(refused.json())

    assert kill(api, account, False, "news passed").json()["kill_switch"]["on"] is False
    assert api.post(BASE + "orders/", order_body(account), format="json").status_code == 201
    events = api.get(f"{BASE}breakers/events/?account={account.pk}").json()["results"]
    assert [e["breaker"] for e in events] == ["kill_off", "kill_on"]  # newest first
    assert events[1]["actor"] == f"user:{account.owner_id}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"on": True}, "reason"),
        ({"on": True, "reason": "   "}, "reason"),
        ({"reason": "why"}, "on"),
        ({"on": "maybe", "reason": "why"}, "on"),
        ({"on": True, "reason": "why", "force": True}, "force"),
    ],
)
def test_bad_kill_switch_requests_are_refused_and_change_nothing(api, account, body, field):
    before = row_counts()
    response = api.post(f"{BASE}accounts/{account.pk}/kill-switch/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert row_counts() == before


def test_an_intruder_neither_sees_nor_switches_the_traders_breakers(
    api, account, btc, intruder_api
):
    btc_unstable_spread(timezone.now() - timedelta(seconds=200))
    kill(api, account, True)
    before = row_counts()

    response = kill(intruder_api, account, False, "let me trade")
    assert response.status_code == 404
    assert response.json()["detail"] == f"account {account.pk} is not one of your accounts."
    assert row_counts() == before
    assert AccountBreakers.objects.get(account=account).state["kill_switch"]["on"] is True
    for path in [f"accounts/{'9' * 30}/kill-switch/", "accounts/x1/kill-switch/"]:
        assert intruder_api.post(BASE + path, {"on": True, "reason": "r"}).status_code == 404

    assert intruder_api.get(f"{BASE}breakers/?account={account.pk}").status_code == 404
    theirs = intruder_api.get(BASE + "breakers/").json()
    assert [a["account_name"] for a in theirs["accounts"]] == ["Theirs"]
    assert theirs["instruments"][0]["halted"] is True  # the market is everyone's

    events = intruder_api.get(BASE + "breakers/events/").json()["results"]
    assert [e["breaker"] for e in events] == ["halt"]  # not the trader's kill switch
    assert intruder_api.get(f"{BASE}breakers/events/?account={account.pk}").json()["count"] == 0
    assert ExecutionEvent.objects.filter(kind=EventKind.BREAKER).count() == 2
