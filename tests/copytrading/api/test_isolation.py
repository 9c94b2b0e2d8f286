"""One follower can neither see nor change another's subscriptions, copy trades, drift or
series: their ids answer 404 and nothing changes."""

from decimal import Decimal as D

from copytrading.models import CopySubscription
from tests.copytrading.api.conftest import BASE, row_counts
from tests.copytrading.conftest import leader_trade
from tests.execution.api.conftest import client_for
from tests.factories import make_account, make_user


def test_an_intruder_sees_and_changes_none_of_a_followers_copying(
    leader, follower_account, follower_api, django_capture_on_commit_callbacks
):
    sid = follower_api.post(
        BASE + "subscriptions/", {"account": follower_account.pk, "strategy": leader.pk},
        format="json",
    ).data["id"]  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        leader_trade(leader, "buy", "1", "20000", "L1")
    intruder = make_user("intruder")
    make_account(intruder, name="Theirs", deposit=D(1000))
    api = client_for(intruder)
    for path in ("subscriptions/", "copy-trades/", f"copy-trades/?subscription={sid}"):
        assert api.get(BASE + path).data["count"] == 0
    summary = api.get(BASE + "summary/").data
    assert summary["subscriptions"] == [] and summary["trades"] == 0
    assert api.get(BASE + "pnl/").data == {"days": []}
    before = row_counts()
    url = f"{BASE}subscriptions/{sid}/"
    for method, path, body in [
        ("get", "", None), ("get", "drift/", None), ("get", "pnl/", None),
        ("patch", "", {"allocation_percent": "1"}), ("delete", "", None),
        ("post", "pause/", None), ("post", "resume/", None), ("post", "stop/", {"close": True}),
    ]:  # fmt: skip
        response = getattr(api, method)(url + path, body, format="json")
        assert response.status_code == 404, (method, path, response.data)
        assert response.data["code"] == "not_found"
    assert row_counts() == before
    subscription = CopySubscription.objects.get(pk=sid)
    assert subscription.status == "active" and subscription.allocation_percent == 35
    # The leaderboard shows the strategy, never the follower's or the leader's accounts.
    board = api.get(BASE + "leaderboard/").data["results"]
    assert [row["strategy"] for row in board] == [leader.pk]
    assert not {"account", "owner", "follower"} & set(board[0])
