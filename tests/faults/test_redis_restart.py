"""Restart Redis under load: no order or fill lost, and websockets come back.

Redis is the Celery broker and the Channels layer. A private redis-server (persisting to an
append-only file, as a production broker must) carries the submit tasks of market orders to
a worker (the paper exchange's process), and the worker's fill pushes to a real daphne
process holding a signed-in user's websocket. Redis is restarted while tasks are queued and
orders are being placed: an order whose submit task the stopped broker refused is saved all
the same and sent by the beat's unsent-order sweep. The page reconnects after a drop
(static/js/live.js) and re-reads its state; here a connection opened after the restart
receives the pushes of new fills.

Checked in the database: every order filled once, sent once, one fill each, the position the
sum of its fills.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from decimal import Decimal as D
from typing import Any

import aiohttp
import pytest
from django.conf import settings
from django.db.models import Count
from django.test import Client
from django.utils import timezone

from execution.domain.values import Side
from execution.models import EventKind, ExecutionEvent, Fill, Order, Position
from execution.services.orders import order_place
from tests.browser.conftest import AsgiServer
from tests.execution.tasks.test_celery_worker import _test_database_url
from tests.factories import btc_book, make_account, make_instrument, make_user
from tests.faults.conftest import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

BEFORE, DURING, AFTER, LATE = 40, 10, 40, 5  # orders placed around the restart
TIMEOUT = 90.0


class AccountSocket:
    """A client of /ws/account/ (aiohttp) on a thread of its own, keeping what it is sent."""

    def __init__(self, base_url: str, cookie: str) -> None:
        self.url = base_url.replace("http://", "ws://") + "/ws/account/"
        self.headers = {"Cookie": cookie, "Origin": base_url}
        self.messages: list[dict[str, Any]] = []
        self.opened = threading.Event()
        self.dropped = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def open(self) -> AccountSocket:
        self._thread.start()
        if not self.opened.wait(30):
            pytest.fail(f"the websocket {self.url} did not open")
        return self

    def fills(self) -> int:
        return sum(message.get("kind") == "fill" for message in self.messages)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)

    async def _run(self) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(self.url, headers=self.headers) as socket,
        ):
            self.opened.set()
            while not self._stop.is_set():
                try:
                    message = await socket.receive(timeout=0.2)
                except TimeoutError:
                    continue
                if message.type != aiohttp.WSMsgType.TEXT:
                    break  # closed by the server
                self.messages.append(json.loads(message.data))
        self.dropped.set()


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    return f"{cookie.key}={cookie.value}"


@pytest.fixture
def trader():
    make_instrument("BTC-USDT", mark="20000", tick="0.1", lot="0.001", min_notional="5")
    btc_book(timezone.now(), depth=D(50))
    user = make_user("watcher")
    return user, make_account(user, deposit=D(1_000_000))


@pytest.fixture
def daphne(private_redis):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DJANGO_SETTINGS_MODULE="tradingsite.settings.test", MARKET_FEED="off",
        DATABASE_URL=_test_database_url(), REDIS_URL=private_redis.url(),
    )  # fmt: skip
    server = AsgiServer(env)
    server.start()
    yield server
    server.stop()


def place(account: Any, count: int, start: int) -> None:
    for n in range(start, start + count):
        order_place(
            account_id=account.pk, symbol="BTC-USDT", side="buy" if n % 2 == 0 else "sell",
            order_type="market", quantity="0.010",
        )  # fmt: skip


def test_a_redis_restart_under_load_loses_no_order_or_fill_and_websockets_come_back(
    trader, through_broker, workers, daphne, figures
):
    user, account = trader
    worker = workers("paper", beat=True)
    worker.wait_ready()
    cookie = session_cookie(user)
    before_restart = AccountSocket(daphne.url, cookie).open()

    place(account, BEFORE, 0)
    wait_until(
        lambda: before_restart.fills() >= 1, timeout=TIMEOUT,
        what="a fill push before the restart", log=worker.text,
    )  # fmt: skip
    place(account, AFTER, BEFORE)  # queued when Redis goes down
    queued = Order.objects.filter(sent_at__isnull=True).count()
    started = time.monotonic()
    through_broker.stop()
    place(account, DURING, BEFORE + AFTER)  # their submit tasks are refused: saved unsent
    through_broker.start()
    outage = time.monotonic() - started
    pushes_at_restart = before_restart.fills()

    total = BEFORE + DURING + AFTER
    wait_until(
        lambda: Order.objects.filter(status="filled").count() == total, timeout=TIMEOUT,
        what=f"{total} orders filled after the restart", log=worker.text,
    )  # fmt: skip
    all_filled = time.monotonic() - started

    # The page reconnects: a new connection gets the pushes of fills after the restart.
    after_restart = AccountSocket(daphne.url, cookie).open()
    place(account, LATE, total)
    wait_until(
        lambda: after_restart.fills() >= LATE, timeout=TIMEOUT,
        what="the fill pushes on a connection opened after the restart", log=worker.text,
    )  # fmt: skip
    total += LATE
    wait_until(
        lambda: Order.objects.filter(status="filled").count() == total, timeout=TIMEOUT,
        what=f"{total} orders filled", log=worker.text,
    )  # fmt: skip
    old_socket = (
        "dropped" if before_restart.dropped.is_set()
        else f"still open, {before_restart.fills() - pushes_at_restart} fill pushes since"
    )  # fmt: skip
    before_restart.close()
    after_restart.close()

    assert Fill.objects.count() == total
    assert set(Order.objects.annotate(n=Count("fills")).values_list("n", flat=True)) == {1}
    sent = ExecutionEvent.objects.filter(kind=EventKind.ORDER_SENT)
    assert sent.count() == total and sent.values("order_id").distinct().count() == total
    position = Position.objects.get(account=account)
    signed = sum(
        (Side(side).sign * quantity for side, quantity in Fill.objects.values_list(
            "order__side", "quantity")),
        start=D(0),
    )  # fmt: skip
    assert position.quantity == signed

    figures(
        f"{total} market orders; Redis restarted with {queued} submit tasks queued and "
        f"{DURING} orders placed while it was down ({outage:.1f} s away); all filled "
        f"{all_filled:.1f} s after the stop; fills {Fill.objects.count()}, one per order, "
        f"sent once each (lost 0, doubled 0); a connection opened after the restart got "
        f"{after_restart.fills()} fill pushes of {LATE}; the connection from before: {old_socket}"
    )
