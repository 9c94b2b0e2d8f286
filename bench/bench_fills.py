"""Recording fills: fill_record (one fill per call) and fills_record (one venue report per call),
with 1 writer and with 8 writer processes on different positions.

Runs on the database DATABASE_URL names (PostgreSQL for the issue's figures) in a throwaway
test database. Each order gets 10 fills (a market order walking a few levels) and all of a
writer's orders share one position, whose row every fill updates. The baseline row is the
same database's bare ceiling: one INSERT and COMMIT per round, no ORM, so the ratios show what
the service costs above the database itself.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bench.common import Result

FILLS_ONE_WRITER = 2_000
WRITERS = 8
FILLS_PER_WRITER = 600
FILLS_PER_ORDER = 10

Recorder = Callable[[list[str], int, str], None]


def _setup() -> tuple[Any, int, list[str]]:
    import django

    django.setup()
    from django.test.utils import setup_databases

    from tests.factories import make_account, make_instrument, make_user

    config = setup_databases(verbosity=0, interactive=False)
    owner = make_user("bench")
    symbols = [f"C{n}-USDT" for n in range(WRITERS)]
    for symbol in symbols:
        make_instrument(symbol, mark="100", tick="0.01", lot="0.001", min_notional="0")
    account = make_account(owner, deposit=Decimal(10) ** 12)
    return config, account.pk, symbols


def _orders(account_id: int, symbol: str, fills: int) -> list[str]:
    from execution.services.orders import order_place

    quantity = Decimal("0.001") * FILLS_PER_ORDER
    return [
        str(
            order_place(
                account_id=account_id,
                symbol=symbol,
                side="buy",
                order_type="market",
                quantity=quantity,
                submit=False,
            ).pk
        )
        for _ in range(-(-fills // FILLS_PER_ORDER))
    ]


def _price(k: int) -> Decimal:
    return Decimal("100.01") + Decimal(k % 50) / 100


def _one_per_call(order_ids: list[str], count: int, prefix: str) -> None:
    from execution.services.fills import fill_record

    for k in range(count):
        fill_record(
            order_id=order_ids[k // FILLS_PER_ORDER], venue_trade_id=f"{prefix}{k}",
            quantity="0.001", price=_price(k), fee="0.0001",
        )  # fmt: skip


def _report_per_call(order_ids: list[str], count: int, prefix: str) -> None:
    from execution.services.fills import FillInput, fills_record

    for n, order_id in enumerate(order_ids[: count // FILLS_PER_ORDER]):
        fills = [
            FillInput.parse(
                venue_trade_id=f"{prefix}{n}-{k}",
                quantity="0.001",
                price=_price(k),
                fee="0.0001",
            )
            for k in range(FILLS_PER_ORDER)
        ]
        fills_record(order_id=order_id, fills=fills)


def _writer(
    record: Recorder, order_ids: list[str], start: multiprocessing.synchronize.Event
) -> None:
    from django.db import connections

    connections.close_all()  # never share the parent's socket
    start.wait()
    record(order_ids, FILLS_PER_WRITER, "w")
    connections.close_all()


def _one_writer(record: Recorder, account_id: int, symbol: str) -> float:
    order_ids = _orders(account_id, symbol, FILLS_ONE_WRITER)
    started = time.perf_counter()
    record(order_ids, FILLS_ONE_WRITER, "one")
    return FILLS_ONE_WRITER / (time.perf_counter() - started)


def _many_writers(record: Recorder, account_id: int, symbols: list[str]) -> float:
    from django.db import connections

    writer_orders = [_orders(account_id, s, FILLS_PER_WRITER) for s in symbols]
    connections.close_all()
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [context.Process(target=_writer, args=(record, ids, start)) for ids in writer_orders]
    for worker in workers:
        worker.start()
    time.sleep(0.5)
    started = time.perf_counter()
    start.set()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if any(worker.exitcode for worker in workers):
        raise RuntimeError("a writer process failed")
    return WRITERS * FILLS_PER_WRITER / elapsed


def _baseline_commits(count: int) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_baseline (n integer)")
        started = time.perf_counter()
        for n in range(count):  # autocommit: every INSERT is its own transaction
            cursor.execute("INSERT INTO bench_baseline (n) VALUES (%s)", [n])
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_baseline")
    return count / elapsed


def run() -> list[Result]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings.test")
    config, account_id, symbols = _setup()
    from django.db import connection, connections
    from django.test.utils import teardown_databases

    vendor = "PostgreSQL" if connection.vendor == "postgresql" else connection.vendor
    try:
        baseline = _baseline_commits(FILLS_ONE_WRITER)
        _one_per_call(_orders(account_id, symbols[0], 50), 50, "warm")  # caches, statements
        one = _one_writer(_one_per_call, account_id, symbols[0])
        one_reports = _one_writer(_report_per_call, account_id, symbols[0])
        many = _many_writers(_one_per_call, account_id, symbols)
        many_reports = _many_writers(_report_per_call, account_id, symbols)
    finally:
        connections.close_all()
        teardown_databases(config, verbosity=0)
    layer = "Redis" if os.environ.get("REDIS_URL") else "in-memory"
    per_report = f"{FILLS_PER_ORDER}-fill reports"
    return [
        Result(f"bare INSERT+COMMIT ({vendor}, baseline)", baseline, "commits/s",
               note="one statement per transaction, no ORM"),
        Result(f"fill_record, 1 writer ({vendor})", one, "fills/s", ">= 1,000",
               f"one fill per transaction; {one / baseline:.2f}x the bare commit rate; "
               f"pushes on the {layer} layer"),
        Result(f"fill_record, {WRITERS} writer processes ({vendor})", many, "fills/s",
               ">= 2,500", f"each on its own position; {many / one:.1f}x one writer"),
        Result(f"fills_record, 1 writer, {per_report} ({vendor})", one_reports, "fills/s",
               ">= 1,000", f"one transaction per venue report; {one_reports / one:.1f}x"),
        Result(f"fills_record, {WRITERS} writers, {per_report} ({vendor})", many_reports,
               "fills/s", ">= 2,500", f"{many_reports / many:.1f}x one fill per call"),
    ]  # fmt: skip
