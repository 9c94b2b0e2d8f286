"""Requests per second on the real ASGI server: GET /api/v1/trading/positions/ and
POST /api/v1/trading/orders/, with GET /healthz on the same server in the same run as the
baseline.

Daphne serves ``tradingsite.asgi:application`` in a subprocess, on a socket bound here (so the
port is free and known), against a throwaway test database on the database DATABASE_URL names
(PostgreSQL under ``make bench``), migrated and seeded here: one user whose token comes from
POST /api/v1/auth/token/, one paper account with 10^9 USDT, POSITIONS instruments with a
position in each. The server runs the test settings: DEBUG off, API throttles off (the default
100/s per user would answer 429), Celery tasks eager, so each POST saves, risk-checks and sends
its order to the paper venue inside the request; PostgreSQL connections come from the
project's pool (settings: CONN_MAX_AGE under ASGI left one connection per request thread).
Daphne has no worker processes of its own, and a paper venue lives in one process, so this is
one server process. Orders are limit buys 3% below the mark, each with its own client order
id; the server's paper book is empty, so they rest, and the open orders add up over the run.

The load generator (bench/loadgen.py, aiohttp) runs here, in the benchmark's process, on the
same 2-core machine as the server: CONNECTIONS keep-alive connections, each sending its next
request when the previous answer arrives. Each endpoint gets ROUNDS turns of SECONDS/ROUNDS,
the endpoints taking turns, so a noisy neighbour hits them alike. Any non-2xx answer is an
error; more than MAX_ERROR_FRACTION of them fails the benchmark.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import loadgen
from bench.common import Result, child_process

CONNECTIONS = int(os.environ.get("BENCH_API_CONNECTIONS", "16"))
SECONDS = float(os.environ.get("BENCH_API_SECONDS", "20"))
ROUNDS = 2
WARMUP_SECONDS = 1.0
POSITIONS = 10
MAX_ERROR_FRACTION = 0.01
START_TIMEOUT = 60.0

HEALTHZ = "/healthz"
POSITIONS_URL = "/api/v1/trading/positions/"
ORDERS_URL = "/api/v1/trading/orders/"


@dataclass(frozen=True)
class Seeded:
    username: str
    password: str
    account_id: int
    symbol: str
    order_price: Decimal


def _seed() -> Seeded:
    from execution.services.fills import fill_record
    from execution.services.orders import order_place
    from tests.factories import make_account, make_instrument, make_user

    user = make_user("bench-api")
    account = make_account(user, deposit=Decimal(10) ** 9)
    symbols = [f"B{n}-USDT" for n in range(POSITIONS)]
    for n, symbol in enumerate(symbols):
        make_instrument(symbol, mark="100", tick="0.01", lot="0.001", min_notional="5")
        order = order_place(
            account_id=account.pk, symbol=symbol, side="buy" if n % 2 else "sell",
            order_type="limit", quantity="2", price="100", submit=False,
        )  # fmt: skip
        fill_record(order_id=order.pk, venue_trade_id=f"seed{n}", quantity="2", price="100")
    return Seeded(
        username=user.username,
        password="pw-" + user.username,  # as tests.factories.make_user sets it
        account_id=account.pk,
        symbol=symbols[0],
        order_price=Decimal("97"),  # 3% under the mark: inside the 5% deviation limit
    )


def _server_env() -> dict[str, str]:
    """The server's environment: the database this process set up, throttles off."""
    from django.db import connection

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingsite.settings.test",
        "API_THROTTLE_USER": "off",
        "API_THROTTLE_ANON": "off",
        "LOG_LEVEL": "WARNING",
    }
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "postgresql":
        parts = urlsplit(os.environ["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    else:
        env.pop("DATABASE_URL", None)
        env["SQLITE_NAME"] = os.path.abspath(name)
    return env


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# Daphne's command line with the project's settings as they are.
_SERVER = """
from daphne.cli import CommandLineInterface
CommandLineInterface.entrypoint()
"""


@contextmanager
def daphne(env: dict[str, str]) -> Iterator[str]:
    """A daphne process serving the project on a free port; yields its base URL."""
    with tempfile.TemporaryFile("w+") as log:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", 0))
            listener.listen(1024)
            base = f"http://127.0.0.1:{listener.getsockname()[1]}"
            server = child_process(
                [sys.executable, "-c", _SERVER, "-v", "0", "--fd", str(listener.fileno()),
                 "tradingsite.asgi:application"],
                env=env, pass_fds=[listener.fileno()], stdout=log, stderr=log, text=True,
            )  # fmt: skip
        # The server holds its own copy of the socket now.
        try:
            _wait_until_up(server, base)
            yield base
        except BaseException:
            log.seek(0)
            print(f"# daphne's output:\n{log.read()[-3000:]}", file=sys.stderr)
            raise
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_up(server: subprocess.Popen[Any], base: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"daphne exited with {server.returncode}")
        try:
            if _get(base + HEALTHZ)[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise RuntimeError(f"daphne did not answer {HEALTHZ} within {START_TIMEOUT:.0f}s")
        time.sleep(0.1)


def _token(base: str, seeded: Seeded) -> str:
    body = json.dumps({"username": seeded.username, "password": seeded.password}).encode()
    request = urllib.request.Request(
        base + "/api/v1/auth/token/", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        token: str = json.loads(answer.read())["token"]
    return token


def measure(
    *,
    seconds: float = SECONDS,
    connections: int = CONNECTIONS,
    rounds: int = ROUNDS,
    warmup: float = WARMUP_SECONDS,
) -> list[Result]:
    """Seed the configured database (its tables made by the caller), serve it, load it."""
    from django.db import connection
    from django.db import connections as django_connections

    from execution.models import Order

    seeded = _seed()
    env = _server_env()
    vendor = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    django_connections.close_all()
    prefix = uuid.uuid4().hex[:8]
    order_template = {
        "account": seeded.account_id, "symbol": seeded.symbol, "side": "buy",
        "order_type": "limit", "quantity": "0.1", "price": str(seeded.order_price),
    }  # fmt: skip

    def order_bodies(turn: int) -> loadgen.Body:
        # The load generator numbers each turn's requests from 0: the turn keeps ids unique.
        def body(n: int) -> bytes:
            client_order_id = f"{prefix}t{turn + 1}n{n}"
            return json.dumps({**order_template, "client_order_id": client_order_id}).encode()

        return body

    with daphne(env) as base:
        auth = {"Authorization": f"Token {_token(base, seeded)}"}
        status, page = _get(base + POSITIONS_URL, auth)
        if status != 200 or json.loads(page)["count"] != POSITIONS:
            raise RuntimeError(f"GET positions answered {status}: {page[:300]!r}")
        post = {**auth, "Content-Type": "application/json"}
        endpoints: dict[str, dict[str, Any]] = {
            "healthz": {"url": base + HEALTHZ},
            "positions": {"url": base + POSITIONS_URL, "headers": auth},
            "orders": {"url": base + ORDERS_URL, "method": "POST", "headers": post},
        }
        results = {name: loadgen.LoadResult() for name in endpoints}
        order_rates: list[float] = []  # per turn: resting orders add up
        for turn in range(-1, rounds):  # turn -1: warm-up, not counted
            for name, spec in endpoints.items():
                result = loadgen.load(
                    connections=connections,
                    seconds=warmup if turn < 0 else seconds / rounds,
                    body=order_bodies(turn) if name == "orders" else None,
                    **spec,
                )
                result.check(f"{spec.get('method', 'GET')} {spec['url']}", MAX_ERROR_FRACTION)
                if turn >= 0:
                    results[name] = results[name].merge(result)
                    if name == "orders":
                        order_rates.append(result.rate)
    placed = Order.objects.filter(client_order_id__startswith=prefix)
    created = placed.count()
    resting = placed.filter(status="submitted").count()
    django_connections.close_all()
    if resting != created:
        raise RuntimeError(f"only {resting} of the {created} orders placed are resting")

    health, positions, orders = results["healthz"], results["positions"], results["orders"]
    setting = f"{connections} connections, {seconds:g} s, 1 daphne process ({vendor})"

    turns = ", ".join(f"{rate:.0f}" for rate in order_rates)

    def latency(result: loadgen.LoadResult) -> str:
        return f"p50 {result.latency_ms(50):.1f} ms, p99 {result.latency_ms(99):.1f} ms"

    return [
        Result(f"GET {HEALTHZ} ({vendor}, baseline)", health.rate, "req/s",
               note=f"{latency(health)}; SELECT 1; {setting}"),
        Result(f"GET {POSITIONS_URL} ({vendor})", positions.rate, "req/s",
               note=f"{positions.rate / health.rate:.2f}x healthz; {latency(positions)}; "
               f"{POSITIONS} positions, token auth; {positions.errors} errors"),
        Result(f"POST {ORDERS_URL} ({vendor})", orders.rate, "req/s",
               note=f"{orders.rate / health.rate:.2f}x healthz; {latency(orders)}; one account; "
               f"limit buys 3% under the mark, sent to the paper venue, resting ({resting} of "
               f"{created} placed incl. warm-up); turn by turn {turns} req/s; "
               f"{orders.errors} errors"),
    ]  # fmt: skip


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
