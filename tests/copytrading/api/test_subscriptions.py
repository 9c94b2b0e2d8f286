"""Subscriptions through the API: create, change, pause, resume, stop; bad input refused by
field with nothing changed; copy trades, drift, summary, series and the leaderboard."""

from decimal import Decimal as D

import pytest

from copytrading.models import CopySubscription
from tests.copytrading.api.conftest import BASE, row_counts
from tests.copytrading.conftest import leader_trade, make_strategy
from tests.execution.api.conftest import client_for
from tests.factories import make_account, make_user


def create(api, account, strategy, **terms):
    return api.post(
        BASE + "subscriptions/",
        {"account": account.pk, "strategy": strategy.pk, **terms},
        format="json",
    )


def test_crud_and_actions(leader, follower_account, follower_api):
    response = create(follower_api, follower_account, leader, allocation_percent="50")
    assert response.status_code == 201, response.data
    sid = response.data["id"]
    assert response.data["status"] == "active" and D(response.data["start_capital"]) == 5000
    listed = follower_api.get(BASE + "subscriptions/").data
    assert [row["id"] for row in listed["results"]] == [sid]
    url = f"{BASE}subscriptions/{sid}/"
    changed = follower_api.patch(
        url, {"slippage_bps": 20, "allocation_percent": "60"}, format="json"
    )
    assert changed.status_code == 200, changed.data
    assert changed.data["slippage_bps"] == 20 and D(changed.data["allocation_percent"]) == 60
    assert follower_api.post(url + "pause/").data["status"] == "paused"
    assert follower_api.post(url + "pause/").status_code == 400  # already paused
    assert follower_api.post(url + "resume/").data["status"] == "active"
    stopped = follower_api.post(url + "stop/", {"close": True}, format="json")
    assert stopped.status_code == 200 and stopped.data["status"] == "stopped"
    assert follower_api.delete(url).status_code == 400  # already stopped
    # A new one on the same account, deleted: stopped, kept on record.
    again = create(follower_api, follower_account, leader).data["id"]
    assert follower_api.delete(f"{BASE}subscriptions/{again}/").status_code == 204
    assert CopySubscription.objects.get(pk=again).status == "stopped"


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"allocation_percent": "101"}, "allocation_percent"),
        ({"capital_cap": "-5"}, "capital_cap"),
        ({"copy_ratio": "0"}, "copy_ratio"),
        ({"mode": "fixed_amount"}, "fixed_amount"),
        ({"slippage_bps": 5000}, "slippage_bps"),
        ({"mode": "everything"}, "mode"),
        ({"leverage": 3}, "leverage"),
        ({"account_mode": "live"}, "account"),
    ],
)
def test_bad_terms_are_refused_by_field_and_nothing_is_saved(
    leader, follower_account, follower_api, terms, field
):
    before = row_counts()
    response = create(follower_api, follower_account, leader, **terms)
    assert response.status_code == 400 and field in response.data["errors"], response.data
    assert row_counts() == before


def test_allocations_over_100_percent_own_and_private_strategies_are_refused(
    leader, follower, follower_account, follower_api
):
    assert (
        create(follower_api, follower_account, leader, allocation_percent="70").status_code == 201
    )
    other_owner = make_user("other")
    other = make_strategy(other_owner, make_account(other_owner), name="second")
    before = row_counts()
    over = create(follower_api, follower_account, other, allocation_percent="40")
    assert over.status_code == 400 and "more than 100%" in str(over.data["errors"])
    hidden = make_strategy(other_owner, make_account(other_owner, name="b"), name="hidden",
                           visibility="private")  # fmt: skip
    private = create(follower_api, follower_account, hidden, allocation_percent="10")
    assert private.data["errors"] == {"strategy": [f"no public strategy {hidden.pk}"]}
    own = make_strategy(follower, make_account(follower, name="mine"), name="own")
    mine = create(follower_api, follower_account, own, allocation_percent="10")
    assert mine.data["errors"] == {"strategy": ["you cannot copy your own strategy"]}
    theirs = create(follower_api, make_account(other_owner, name="c"), other)
    assert theirs.status_code == 400 and "account" in theirs.data["errors"]
    assert row_counts() == before
    # A change over 100% in total is refused too, and changes nothing.
    sid = CopySubscription.objects.get(follower=follower).pk
    bad = client_for(follower).patch(
        f"{BASE}subscriptions/{sid}/", {"allocation_percent": "101"}, format="json"
    )
    assert bad.status_code == 400 and "allocation_percent" in bad.data["errors"]
    assert CopySubscription.objects.get(pk=sid).allocation_percent == 70


def test_reads_copy_trades_drift_summary_series_and_leaderboard(
    leader, follower_account, follower_api, django_capture_on_commit_callbacks
):
    sid = create(follower_api, follower_account, leader, allocation_percent="50").data["id"]
    with django_capture_on_commit_callbacks(execute=True):
        leader_trade(leader, "buy", "1", "20000", "L1")
    trades = follower_api.get(BASE + f"copy-trades/?subscription={sid}").data
    assert [(t["kind"], D(t["actual_quantity"])) for t in trades["results"]] == [
        ("mirror", D("0.05"))
    ]
    drift = follower_api.get(f"{BASE}subscriptions/{sid}/drift/")
    assert drift.status_code == 200, drift.data
    parts = sum(D(v) for v in drift.data["parts"].values())
    assert parts == D(drift.data["difference"]) and D(drift.data["residual"]) == 0
    assert drift.data["copies"] == 1
    bad = follower_api.get(
        f"{BASE}subscriptions/{sid}/drift/?from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z"
    )
    assert bad.status_code == 400 and "to" in bad.data["errors"]
    summary = follower_api.get(BASE + "summary/").data
    assert summary["trades"] == 1 and summary["strategies_followed"] == 1
    assert summary["orphans"] == []
    assert follower_api.get(f"{BASE}subscriptions/{sid}/pnl/").data == {"days": []}
    assert follower_api.get(BASE + "pnl/").data == {"days": []}
    board = follower_api.get(BASE + "leaderboard/").data["results"]
    assert [(row["name"], row["follower_count"]) for row in board] == [("leader", 1)]
    assert D(board[0]["capital_copying"]) == 5000
    assert [w["days"] for w in board[0]["windows"]] == [7, 30, 90]
    assert "account" not in board[0]
