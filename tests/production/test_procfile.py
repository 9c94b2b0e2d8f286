"""The production Procfile end to end: honcho starts every process of it (web, feed, features,
inference, beat) with settings.production on PostgreSQL and Redis, and a market tick becomes a
signal, an order, a fill, a follower's copy and a P&L update pushed to the follower's browser
socket.

The world: BTC-USDT marked at 20,000 with ten falling one-minute candles stored before now (down
to 19,100); a leader's public SMA 1/2 crossover strategy on it, active, and a follower copying
it at half the leader's quantity. The feed's random walk (MARKET_SOURCE=walk) starts from the
mark, so the first bar it closes ends far above the last stored close: the fast average
crosses above the slow one and the strategy buys. Most of the time is waiting: for that bar
to close (up to a minute), and for the passive child order the engine may choose to fill or
time out into a market order (up to 30 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.test import override_settings

from copytrading.models import CopyTrade
from copytrading.services.subscriptions import subscription_create
from execution.models import Candle, Fill, Instrument, Order
from strategies.models import Signal
from strategies.services import strategy_create, strategy_resume
from tests.execution.tasks.test_celery_worker import _test_database_url
from tests.factories import make_account, make_instrument, make_user

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 120.0
FLOW_TIMEOUT = 150.0  # a bar closes within a minute of the feed's start, then the trade


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def store_falling_history(instrument: Instrument, *, bars: int = 10) -> datetime:
    """Falling candles up to the minute before this one; returns the last one's start."""
    last = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    close = 19_100 + 100 * bars
    for n in range(bars, 0, -1):
        start = last - timedelta(minutes=n - 1)
        Candle.objects.create(
            instrument=instrument, interval="1m", open_time=start, open=close + 100,
            high=close + 110, low=close - 10, close=close, volume=5,
        )  # fmt: skip
        close -= 100
    return last


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def signed_in_cookie(user, secret_key: str) -> str:
    """A session of ``user`` as the web process (its secret key) reads it: the browser's cookie
    after signing in."""
    with override_settings(SECRET_KEY=secret_key):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def honcho_environment(port: int, beat_file: str, secret_key: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    return {
        **clean,
        "DJANGO_SETTINGS_MODULE": "tradingsite.settings.production",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": _test_database_url(),
        "DATABASE_POOL_SIZE": "4",
        "REDIS_URL": os.environ["REDIS_URL"],
        "SECURE_SSL_REDIRECT": "false",  # no TLS proxy in front of this test's web process
        "LOG_FORMAT": "json",
        "MARKET_SOURCE": "walk",
        "PORT": str(port),
        "CELERY_BEAT_SCHEDULE_FILE": beat_file,
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }


class Procfile:
    """`honcho start` in its own process group, its output in a file; stop() ends the group."""

    def __init__(self, env: dict[str, str], log) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", str(ROOT / "Procfile")],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        text: str = self.log.read()
        return text

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # honcho stops its processes
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # anything left of the group
        self.process.wait(timeout=10)


def wait_until(condition, what: str, procfile: Procfile, timeout: float, detail=str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        if procfile.process.poll() is not None:
            pytest.fail(f"honcho exited while waiting for {what}:\n{procfile.output()[-8000:]}")
        time.sleep(0.5)
    pytest.fail(f"{what} not seen after {timeout:.0f} s ({detail()}):\n{procfile.output()[-6000:]}")


def moved(pnl: dict[str, Any]) -> bool:
    """A P&L update of an account that holds the copy: its P&L is no longer all zero."""
    return any(Decimal(pnl[key] or 0) for key in ("unrealized_pnl", "realized_pnl"))


async def pushes_until_pnl(
    url: str, cookie: str, origin: str, timeout: float
) -> list[dict[str, Any]]:
    """The follower's pushes from connecting until a P&L update that shows the copy."""
    received: list[dict[str, Any]] = []
    headers = {"Cookie": cookie, "Origin": origin}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers=headers, heartbeat=20) as socket_,
    ):
        received.append({"kind": "connected", "received_at": datetime.now(UTC)})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = await socket_.receive(timeout=deadline - time.monotonic())
            if message.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"the socket ended: {message.type} {message.data}")
            push = json.loads(message.data)
            push["received_at"] = datetime.now(UTC)
            received.append(push)
            if push["kind"] == "pnl" and moved(push["payload"]):
                return received
    raise AssertionError(f"no P&L update showing the copy in {timeout} s: {received}")


def test_a_market_tick_becomes_a_signal_an_order_a_fill_a_copy_and_a_pushed_pnl():
    btc = make_instrument("BTC-USDT", mark="20000")
    history_end = store_falling_history(btc)
    leader = make_user("leader")
    leader_account = make_account(leader, deposit=Decimal(100_000))
    strategy = strategy_create(
        owner_id=leader.pk, name="fast cross", kind="sma_crossover", account_id=leader_account.pk,
        symbols=["BTC-USDT"], interval="1m", config={"fast_window": 1, "slow_window": 2},
        visibility="public",
    )  # fmt: skip
    strategy_resume(strategy_id=strategy.pk)
    follower = make_user("follower")
    follower_account = make_account(follower, deposit=Decimal(50_000))
    subscription_create(
        follower_id=follower.pk, account_id=follower_account.pk, strategy_id=strategy.pk,
        terms={"mode": "fixed_ratio", "copy_ratio": "0.5"},
    )  # fmt: skip
    secret_key = secrets.token_urlsafe(64)
    cookie = signed_in_cookie(follower, secret_key)
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    timings: dict[str, float] = {}
    started = time.monotonic()
    with (
        tempfile.NamedTemporaryFile("w+") as log,
        tempfile.TemporaryDirectory() as scratch,
    ):
        procfile = Procfile(honcho_environment(port, f"{scratch}/beat-schedule", secret_key), log)
        try:
            health: list[str] = []

            def web_and_workers_healthy() -> bool:
                try:
                    status, body = http_get(f"{base}/health/")
                except OSError:
                    return False
                health.append(body)
                return status == 200

            wait_until(
                web_and_workers_healthy, "a healthy /health/", procfile, STARTUP_TIMEOUT,
                detail=lambda: health[-1] if health else "no answer",
            )  # fmt: skip
            timings["processes up (health 200)"] = time.monotonic() - started

            try:
                pushes = asyncio.run(
                    pushes_until_pnl(
                        f"ws://127.0.0.1:{port}/ws/account/", cookie, base, FLOW_TIMEOUT
                    )
                )
            except (AssertionError, aiohttp.ClientError, TimeoutError) as error:
                pytest.fail(f"{error!r}\n{procfile.output()[-8000:]}")
            timings["follower's pnl pushed"] = time.monotonic() - started
        finally:
            procfile.stop()
        output = procfile.output()

    # The chain, from the database: the feed's bar, the leader's signal, order and fill, the
    # follower's copy and its fill.
    bar = Candle.objects.filter(instrument=btc, open_time__gt=history_end).order_by("open_time")
    assert bar.exists(), "the feed stored no bar"
    signal_ = Signal.objects.get(strategy=strategy)
    assert signal_.side == "buy" and signal_.outcome == "executed", signal_.outcome_detail
    leader_fills = Fill.objects.filter(order__account=leader_account)
    assert leader_fills.exists()
    copy = CopyTrade.objects.get(subscription__account=follower_account)
    follower_order = Order.objects.get(pk=copy.follower_order_id)
    assert follower_order.side == "buy" and follower_order.filled_quantity > 0
    copy_fill = Fill.objects.filter(order=follower_order).order_by("recorded_at").first()
    assert copy_fill is not None

    pnl = pushes[-1]["payload"]
    assert pnl["account_id"] == follower_account.pk and moved(pnl)
    connected_at = pushes[0]["received_at"]
    if copy_fill.recorded_at > connected_at:  # else it filled before the socket opened
        fills = [p["payload"] for p in pushes if p["kind"] == "fill"]
        assert fills, pushes
        assert (fills[0]["order_id"], fills[0]["client_order_id"]) == (
            str(follower_order.pk), follower_order.client_order_id,
        )  # fmt: skip

    # Every Procfile process ran, and logged JSON lines with the trade's ids.
    for name in ("web", "feed", "features", "inference", "beat"):
        assert f" {name}." in output or f"{name}.1" in output, f"no output from {name}"
    records = [json.loads(line.split(" | ", 1)[1]) for line in output.splitlines()
               if " | {" in line]  # fmt: skip
    leader_orders = {str(pk) for pk in Order.objects.filter(account=leader_account)
                     .values_list("pk", flat=True)}  # fmt: skip
    about_the_leader = [r for r in records if r.get("order_id") in leader_orders]
    assert about_the_leader, "no log line names the leader's order"
    for record in about_the_leader:
        assert record["account_id"] == str(leader_account.pk)
        assert record["strategy_id"] == str(strategy.pk)

    print("\nProcfile end to end (honcho, settings.production, PostgreSQL and Redis):")
    for step, seconds in timings.items():
        print(f"  {step:<28} {seconds:6.1f} s")
    pushed_at = pushes[-1]["received_at"]
    leader_fill = leader_fills.order_by("recorded_at").first()
    steps = [
        ("bar closed", signal_.at),
        ("signal recorded", signal_.created_at),
        ("leader order saved", leader_fill.order.created_at),
        ("leader fill recorded", leader_fill.recorded_at),
        ("follower order saved", follower_order.created_at),
        ("follower fill recorded", copy_fill.recorded_at),
        ("follower's pnl received", pushed_at),
    ]
    for (_, before), (step, at) in itertools.pairwise(steps):
        print(f"  {step:<28} +{(at - before).total_seconds():6.3f} s")
    print(f"  bar close to pushed P&L      {(pushed_at - signal_.at).total_seconds():6.3f} s")
