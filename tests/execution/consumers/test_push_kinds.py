"""Server-side P&L pushes: after fills commit, the owner's sockets get "pnl" (equity, today's
and 30-day P&L) and "chart_point" (today's point), valued after the commit and coalesced, and
no other user's socket gets anything.

Each check runs over the in-memory channel layer and, with REDIS_URL, over Redis.
"""

import time
import uuid
from decimal import Decimal as D

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from execution.consumers import THROTTLE_SECONDS
from execution.selectors import account_dashboards_for_owner, utc_today
from execution.services.fills import fill_record
from execution.services.notify import PNL_SECONDS
from execution.services.orders import order_place
from tests.factories import make_account, make_user
from tradingsite.asgi import application

PATH = "/ws/account/"

pytestmark = pytest.mark.django_db(transaction=True)

BACKENDS = {
    "memory": "channels.layers.InMemoryChannelLayer",
    "redis": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


@pytest.fixture(
    params=["memory", pytest.param("redis", marks=pytest.mark.redis)], ids=["memory", "redis"]
)
def layer(request, settings):
    config = {"BACKEND": BACKENDS[request.param]}
    if request.param == "redis":
        # A prefix of our own: other processes on this Redis never reach our groups.
        config["CONFIG"] = {
            "hosts": [django_settings.REDIS_URL],
            "prefix": f"test{uuid.uuid4().hex[:12]}",
        }
    settings.CHANNEL_LAYERS = {"default": config}
    assert f"{type(get_channel_layer()).__module__}" in config["BACKEND"]
    return request.param


def headers(user):
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    return [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", f"{cookie.key}={cookie.value}".encode()),
    ]


def buy_order(account, quantity="1"):
    return order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="market",
        quantity=quantity, submit=False,
    )  # fmt: skip


def listen(mine_headers, other_headers, record, seconds):
    """Connect the owner's socket and another user's, run ``record`` in a thread (as a venue
    callback would), then collect what each socket receives for ``seconds``."""

    async def scenario():
        mine = WebsocketCommunicator(application, PATH, headers=mine_headers)
        theirs = WebsocketCommunicator(application, PATH, headers=other_headers)
        received: list[tuple[float, dict]] = []
        try:
            assert (await mine.connect())[0] and (await theirs.connect())[0]
            started = time.monotonic()
            await sync_to_async(record)()
            while time.monotonic() - started < seconds:
                if await mine.receive_nothing(timeout=0.05):
                    continue  # (a receive that times out would cancel the consumer)
                message = await mine.receive_json_from(timeout=1)
                received.append((time.monotonic() - started, message))
            silent = await theirs.receive_nothing(timeout=0.2)
        finally:
            await mine.disconnect()
            await theirs.disconnect()
        return received, silent

    return async_to_sync(scenario)()


def test_a_fill_pushes_the_accounts_pnl_and_todays_chart_point_to_its_owner_only(
    layer, account, btc
):
    order = buy_order(account)
    other = make_user("other")
    make_account(other, name="Other")

    def record():
        fill_record(order_id=order.pk, venue_trade_id="t1", quantity="1", price="20000",
                    fee="20")  # fmt: skip

    received, silent = listen(headers(account.owner), headers(other), record, seconds=1.5)

    by_kind = {message["kind"]: message["payload"] for _, message in received}
    assert {"fill", "pnl", "chart_point"} <= set(by_kind)
    board = account_dashboards_for_owner(account.owner_id)[0]
    pnl = by_kind["pnl"]
    assert pnl["account_id"] == account.pk
    # As the overview's state reads it: bought at the mark, so today's P&L is the fee.
    assert D(pnl["equity"]) == board.valuation.equity == D(100_000) - 20
    assert D(pnl["today_pnl"]) == board.today_pnl == D(-20)
    assert D(pnl["unrealized_pnl"]) == board.valuation.unrealized_pnl
    assert D(pnl["pnl_30d"]) == board.pnl_30d
    point = by_kind["chart_point"]
    assert point["account_id"] == account.pk
    assert point["day"] == utc_today().isoformat()
    assert D(point["pnl"]) == D(-20)
    assert silent  # the other user's socket heard nothing


def test_a_burst_of_fills_costs_a_few_pnl_pushes_carrying_the_final_state(layer, account, btc):
    order = buy_order(account, quantity="2")
    other = make_user("other")
    make_account(other, name="Other")
    fills = 20
    took = []

    def record():
        started = time.monotonic()
        for n in range(fills):  # one transaction each, as a venue reports them
            fill_record(order_id=order.pk, venue_trade_id=f"t{n}", quantity="0.1",
                        price=str(20000 + n), fee="1")  # fmt: skip
        took.append(time.monotonic() - started)

    received, silent = listen(headers(account.owner), headers(other), record, seconds=2.0)

    kinds = [message["kind"] for _, message in received]
    assert kinds.count("fill") == fills  # fills are never held back or coalesced
    pnl = [message["payload"] for _, message in received if message["kind"] == "pnl"]
    # One valuation per window while fills come in, and one for the last window: a few a
    # second however many fills (the consumer holds them to THROTTLE_SECONDS apart as well).
    assert 1 <= len(pnl) <= 2 + took[0] / max(PNL_SECONDS, THROTTLE_SECONDS)
    assert len(pnl) < fills
    board = account_dashboards_for_owner(account.owner_id)[0]
    last = pnl[-1]
    assert D(last["equity"]) == board.valuation.equity
    assert D(last["today_pnl"]) == board.today_pnl
    points = [message["payload"] for _, message in received if message["kind"] == "chart_point"]
    assert points and D(points[-1]["pnl"]) == board.today_pnl
    assert silent
