"""Fill to page: the time from a fill's commit to its push arriving on a connected websocket,
p50 and p99, with 1, 100 and 1,000 clients on the Redis channel layer (issue 7, item 5).

Daphne serves ``tradingsite.asgi:application`` in a subprocess (bench.bench_api.daphne) on a
throwaway test database on the database DATABASE_URL names (PostgreSQL for the issue's
figures), with REDIS_URL set, so the channel layer is channels-redis' pub/sub layer, as in
production. Users, their paper accounts, one resting buy order each and their sessions are
made here; users get ids from 900,000,000 up, so their groups (``user-<id>``) cannot meet
another process's on a shared Redis. Clients are real websocket connections (aiohttp) to
/ws/account/ with the session cookie and the site's origin, held by CLIENT_PROCESSES helper
processes (bench/wsclients.py), whose loops do nothing but stamp arrivals.

The clock: this process records each fill with fill_record inside an outer transaction whose
first on-commit callback stamps ``time.time_ns()``, so the stamp is taken right after COMMIT,
before the push is even queued; a client stamps the same clock when it reads the message (same
machine). A fill is known by its order and the position after it, both in the push.

Two scenarios, labelled in the rows:
- per-user groups: N users, one connection each (N groups of one), fills recorded one after
  another by one writer with no pause, each to the next user in turn (max(N, MIN_FILLS) fills);
- fan-out: one user with N connections (one group of N), FANOUT_FILLS fills FANOUT_PAUSE apart,
  each delivered N times; every (fill, client) arrival is a sample.
- the 1,000-socket fan-out again with a second daphne process, each holding half the sockets
  (scaled out as production would be behind a load balancer; both on this machine's cores).
Sends are gathered per process for notify.FLUSH_SECONDS before they go out: that wait is part of
every figure. Each fill also makes its account's "pnl" and "chart_point" pushes 250 ms later
(counted as other pushes): they load the server as in production. A client receiving another
user's fill fails the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from bench.common import Result, child_process, percentile

SIZES = (1, 100, 1_000)
FANOUT_SIZES = (100, 1_000)
MIN_FILLS = 200  # per-user scenario: enough samples for a p99 with one client
FANOUT_FILLS = int(os.environ.get("BENCH_WS_FANOUT_FILLS", "20"))
# Seconds between fan-out fills: one fill's pushes (fill, then pnl and chart_point) to 1,000
# sockets keep one daphne busy about a second here, so 1 s apart they queue up behind each other.
FANOUT_PAUSE = float(os.environ.get("BENCH_WS_FANOUT_PAUSE", "2"))
CLIENT_PROCESSES = int(os.environ.get("BENCH_WS_CLIENT_PROCESSES", "2"))
USER_ID_BASE = 900_000_000
FILL_QUANTITY = Decimal("0.001")
SETTLE_SECONDS = 1.0  # after the last fill, for the last pushes to arrive
READY_TIMEOUT = 300.0


@dataclass
class Trader:
    user_id: int
    order_id: str
    cookie: str  # the Cookie header value
    fills: int = 0  # recorded so far: the position after the next is (fills + 1) x quantity


def _seed(count: int) -> list[Trader]:
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore

    from execution.services.orders import order_place
    from tests.factories import make_account, make_instrument

    make_instrument("BTC-USDT", mark="20000")
    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [user_model(pk=USER_ID_BASE + n, username=f"ws{n}", password="!") for n in range(count)]
    )
    traders = []
    for user in users:
        account = make_account(user, deposit=Decimal(10) ** 9)
        order = order_place(
            account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
            quantity="100", price="20000", submit=False,
        )  # fmt: skip
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
        traders.append(Trader(user_id=user.pk, order_id=str(order.pk), cookie=cookie))
    return traders


def _fill(trader: Trader, stamps: dict[tuple[str, Decimal], int]) -> None:
    """Record the trader's next fill; stamp the clock right after its COMMIT."""
    from django.db import transaction

    from execution.services.fills import fill_record

    trader.fills += 1
    key = (trader.order_id, trader.fills * FILL_QUANTITY)
    with transaction.atomic():
        # The first on-commit callback: it runs before fill_record's own (the push among them).
        transaction.on_commit(lambda: stamps.__setitem__(key, time.time_ns()))
        fill_record(
            order_id=trader.order_id, venue_trade_id=f"ws-{trader.user_id}-{trader.fills}",
            quantity=FILL_QUANTITY, price="20000",
        )  # fmt: skip


@contextmanager
def _clients(
    bases: Sequence[str], connections: Sequence[Trader]
) -> Iterator[list[subprocess.Popen[str]]]:
    """CLIENT_PROCESSES processes holding one websocket per entry of ``connections``, each
    connected when this yields; client process n connects to server n modulo their number, as
    a load balancer would spread them."""
    shares = [list(connections[n::CLIENT_PROCESSES]) for n in range(CLIENT_PROCESSES)]
    processes = []
    try:
        for n, share in enumerate(shares):
            if not share:
                continue
            base = bases[n % len(bases)]
            url = base.replace("http://", "ws://") + "/ws/account/"
            process = child_process(
                [sys.executable, "-m", "bench.wsclients"], env=os.environ,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert process.stdin is not None
            config = {"url": url, "origin": base, "cookies": [t.cookie for t in share]}
            process.stdin.write(json.dumps(config) + "\n")
            process.stdin.flush()
            processes.append(process)
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line.startswith("ready"):
                raise RuntimeError(f"a websocket client process failed ({line!r})")
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _arrivals(
    processes: list[subprocess.Popen[str]], connections: Sequence[Trader]
) -> tuple[list[tuple[Trader, int, str, Decimal]], int]:
    """Stop the clients: (client, arrival ns, order id, position) per fill received, and how
    many other messages they got."""
    shares = [list(connections[n::CLIENT_PROCESSES]) for n in range(CLIENT_PROCESSES)]
    received = []
    others = 0
    for process, share in zip(processes, shares, strict=False):
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("stop\n")
        process.stdin.flush()
        answer = json.loads(process.stdout.readline())
        process.wait(10)
        others += answer["other_messages"]
        for index, arrived, order_id, position in answer["fills"]:
            received.append((share[index], arrived, order_id, Decimal(position)))
    return received, others


@dataclass(frozen=True)
class Measured:
    latencies_ms: list[float]
    expected: int
    others: int
    seconds: float  # recording the fills
    load: float  # the machine's 1-minute load average at the end: the figures follow it

    def note(self, scenario: str) -> str:
        lost = self.expected - len(self.latencies_ms)
        return (
            f"p50 {percentile(self.latencies_ms, 50):.1f} ms, "
            f"p99 {percentile(self.latencies_ms, 99):.1f} ms, "
            f"max {max(self.latencies_ms):.1f} ms; {scenario}; "
            f"{len(self.latencies_ms):,} arrivals"
            + (f", {lost:,} NOT ARRIVED {SETTLE_SECONDS:g} s after the last fill" if lost else "")
            + f"; {self.others:,} other pushes; load average {self.load:.1f} on "
            f"{os.cpu_count()} cores"
        )


def _measure(
    bases: Sequence[str], connections: Sequence[Trader], fills: Sequence[Trader], pause: float
) -> Measured:
    stamps: dict[tuple[str, Decimal], int] = {}
    with _clients(bases, connections) as processes:
        _fill(fills[0], {})  # warm-up: the sender's loop and Redis connection
        time.sleep(SETTLE_SECONDS)
        started = time.perf_counter()
        for trader in fills[1:]:
            _fill(trader, stamps)
            if pause:
                time.sleep(pause)
        seconds = time.perf_counter() - started
        time.sleep(SETTLE_SECONDS)
        received, others = _arrivals(processes, connections)
    owners = {t.order_id: t.user_id for t in fills}
    latencies = []
    for client, arrived, order_id, position in received:
        if owners.get(order_id, client.user_id) != client.user_id:
            raise RuntimeError(f"user {client.user_id} received user {owners[order_id]}'s fill")
        stamp = stamps.get((order_id, position))
        if stamp is not None:  # else the warm-up's
            latencies.append((arrived - stamp) / 1e6)
    per_fill = {t.user_id: sum(c.user_id == t.user_id for c in connections) for t in fills}
    expected = sum(per_fill[t.user_id] for t in fills[1:])
    return Measured(latencies, expected, others, seconds, os.getloadavg()[0])


def measure() -> list[Result]:
    from django.db import connection
    from django.db import connections as django_connections

    from bench.bench_api import _server_env, daphne

    if not os.environ.get("REDIS_URL"):
        raise RuntimeError("bench ws measures the Redis channel layer: set REDIS_URL")
    vendor = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    traders = _seed(max(SIZES) + 1)
    fan_out_user = traders.pop()
    django_connections.close_all()
    env = {**_server_env(), "MARKET_FEED": "off"}
    setting = f"1 daphne, Redis pub/sub layer, {vendor}, clients in {CLIENT_PROCESSES} processes"
    results = []
    with daphne(env) as base:
        for size in SIZES:
            users = traders[:size]
            fills = [users[n % size] for n in range(max(size, MIN_FILLS) + 1)]
            measured = _measure([base], users, fills, pause=0)
            rate = (len(fills) - 1) / measured.seconds
            print(f"# ws: per-user groups, {size} clients done", file=sys.stderr)
            results.append(
                Result(f"fill -> websocket p99, {size:,} clients, per-user groups",
                       percentile(measured.latencies_ms, 99), "ms",
                       "<= 100" if size == 1_000 else "",
                       measured.note(f"{size:,} users with one socket each, "
                                     f"{len(fills) - 1:,} fills by one writer at "
                                     f"{rate:.0f}/s, each to the next user; {setting}"))
            )  # fmt: skip
        for size in FANOUT_SIZES:
            connections = [fan_out_user] * size
            fills = [fan_out_user] * (FANOUT_FILLS + 1)
            measured = _measure([base], connections, fills, pause=FANOUT_PAUSE)
            print(f"# ws: fan-out, {size} clients done", file=sys.stderr)
            results.append(
                Result(f"fill -> websocket p99, {size:,} clients, one group (fan-out)",
                       percentile(measured.latencies_ms, 99), "ms",
                       "<= 100" if size == 1_000 else "",
                       measured.note(f"one user with {size:,} sockets, {FANOUT_FILLS} fills "
                                     f"{FANOUT_PAUSE:g} s apart, each to all; {setting}"))
            )  # fmt: skip
        # Scaled out: a second server process, each holding half of the sockets.
        with daphne(env) as second:
            size = max(FANOUT_SIZES)
            connections = [fan_out_user] * size
            fills = [fan_out_user] * (FANOUT_FILLS + 1)
            measured = _measure([base, second], connections, fills, pause=FANOUT_PAUSE)
            print(f"# ws: fan-out over 2 servers, {size} clients done", file=sys.stderr)
            results.append(
                Result(f"fill -> websocket p99, {size:,} clients, one group, 2 daphne",
                       percentile(measured.latencies_ms, 99), "ms", "",
                       measured.note(f"as above, half of the sockets on each of 2 daphne "
                                     f"processes; {setting.replace('1 daphne, ', '')}"))
            )  # fmt: skip
    return results


def run() -> list[Result]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings.test")
    import django

    django.setup()
    from django.db import connections
    from django.test.utils import setup_databases, teardown_databases

    config = setup_databases(verbosity=0, interactive=False, serialized_aliases=set())
    try:
        return measure()
    finally:
        connections.close_all()
        teardown_databases(config, verbosity=0)
