"""P&L ticks (mark pushes) are coalesced per connection: a few a second, the latest value each;
fills and orders are never held back."""

import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from execution.consumers import THROTTLE_SECONDS
from execution.services.notify import user_group
from tradingsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def test_marks_are_coalesced_to_the_latest_per_symbol_and_fills_pass_at_once(memory_layer, user):
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", f"{cookie.key}={cookie.value}".encode()),
    ]

    async def scenario():
        layer = get_channel_layer()
        socket = WebsocketCommunicator(application, "/ws/account/", headers=headers)
        assert (await socket.connect())[0]
        received = []
        try:
            marks = [
                {"kind": "mark", "payload": {"symbol": symbol, "mark_price": str(price)}}
                for price in range(20000, 20050)
                for symbol in ("BTC-USDT", "ETH-USDT")
            ]
            fill = {"kind": "fill", "payload": {"symbol": "BTC-USDT", "quantity": "1"}}
            started = time.monotonic()
            group = user_group(user.pk)
            await layer.group_send(group, {"type": "account.batch", "updates": marks[:50]})
            await layer.group_send(group, {"type": "account.batch", "updates": [fill]})
            await layer.group_send(group, {"type": "account.batch", "updates": marks[50:]})
            while time.monotonic() - started < 4 * THROTTLE_SECONDS:
                if await socket.receive_nothing(timeout=0.05):
                    continue  # (a receive that times out would cancel the consumer)
                message = await socket.receive_json_from(timeout=1)
                received.append((time.monotonic() - started, message))
        finally:
            await socket.disconnect()
        return received

    received = async_to_sync(scenario)()

    kinds = [message["kind"] for _, message in received]
    assert kinds.count("fill") == 1
    marks = [message["payload"] for _, message in received if message["kind"] == "mark"]
    # 100 marks became at most two flushes (the first at once, then the rest coalesced), each
    # carrying one mark per symbol, and the last of each symbol is its latest price.
    assert len(marks) <= 4
    latest = {m["symbol"]: m["mark_price"] for m in marks}
    assert latest == {"BTC-USDT": "20049", "ETH-USDT": "20049"}
