"""The account websocket through the whole ASGI stack: origin check, session auth, the user's
own group, and pushes sent when a fill commits.

Each check runs over the in-memory channel layer and, with REDIS_URL, over Redis.
"""

import uuid
from decimal import Decimal as D

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from execution.services.fills import fill_record
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
    """Select the channel layer; channels drops its cached layer when the setting changes."""
    config = {"BACKEND": BACKENDS[request.param]}
    if request.param == "redis":
        # A prefix of our own: other processes on this Redis never reach our groups.
        config["CONFIG"] = {
            "hosts": [django_settings.REDIS_URL],
            "prefix": f"test{uuid.uuid4().hex[:12]}",
        }
    settings.CHANNEL_LAYERS = {"default": config}
    layer = get_channel_layer()
    assert f"{type(layer).__module__}.{type(layer).__name__}" == config["BACKEND"]
    return request.param


def headers(*, user=None, origin=b"http://localhost"):
    result = [(b"origin", origin), (b"host", b"localhost")]
    if user is not None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
        result.append((b"cookie", f"{cookie.key}={cookie.value}".encode()))
    return result


def connect_once(**kw):
    connection_headers = headers(**kw)

    async def scenario():
        communicator = WebsocketCommunicator(application, PATH, headers=connection_headers)
        connected, code = await communicator.connect()
        if connected:
            await communicator.disconnect()
        return connected, code

    return async_to_sync(scenario)()


def test_an_anonymous_connection_is_refused(layer):
    assert connect_once() == (False, 4401)


def test_a_connection_from_another_origin_is_refused(layer, user):
    connected, _ = connect_once(user=user, origin=b"https://evil.example")
    assert not connected


def test_a_signed_in_user_can_connect(layer, user):
    assert connect_once(user=user) == (True, None)


def test_a_fill_is_pushed_to_its_owner_only(layer, account, btc):
    order = order_place(
        account_id=account.pk,
        symbol="BTC-USDT",
        side="buy",
        order_type="market",
        quantity="0.5",
        submit=False,
    )
    other = make_user("other")
    make_account(other, name="Other")
    mine_headers, other_headers = headers(user=account.owner), headers(user=other)

    async def scenario():
        mine = WebsocketCommunicator(application, PATH, headers=mine_headers)
        theirs = WebsocketCommunicator(application, PATH, headers=other_headers)
        try:
            assert (await mine.connect())[0] and (await theirs.connect())[0]
            # Recorded in a thread, as a venue callback would be; pushed when it commits.
            await sync_to_async(fill_record)(
                order_id=order.pk,
                venue_trade_id="t1",
                quantity="0.2",
                price="20000.5",
                fee="2",
                liquidity="taker",
            )
            # The order's own push (placed before we connected) may still be on its way
            # through the sender's coalescing window: the fill is the message we wait for.
            message = await mine.receive_json_from(timeout=5)
            while message["kind"] != "fill":
                message = await mine.receive_json_from(timeout=5)
            silent = await theirs.receive_nothing(timeout=0.5)
        finally:
            await mine.disconnect()
            await theirs.disconnect()
        return message, silent

    message, silent = async_to_sync(scenario)()

    assert message == {
        "kind": "fill",
        "payload": {
            "order_id": str(order.pk),
            "client_order_id": order.client_order_id,
            "symbol": "BTC-USDT",
            "side": "buy",
            "quantity": str(D("0.2")),
            "price": str(D("20000.5")),
            "status": "partially_filled",
            "position": message["payload"]["position"],
        },
    }
    assert D(message["payload"]["position"]) == D("0.2")
    assert silent
