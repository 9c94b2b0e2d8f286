"""Signal-to-order latency in-process: from calling ``signal_execute`` to its first child order
reaching the paper venue, on SQLite and on PostgreSQL, p50 and p99 in ms.

The plan is URGENT, worked by the ``market`` algorithm: a buy signal of strength 0.9 on a book
whose spread alternates between 1 and 3 ticks (spread_stability_norm_100 = 0.33: neither
stable nor unstable, so no halt) while the bid rises 2 ticks a snapshot (order flow toward the
buy, ofi_normalized_1m > 0.7). ``parent_order_place`` runs the first step at once, so the
child is created, risk-checked by ``order_place`` and sent on commit (Celery tasks are eager
in the test settings) inside the call. The clock stops when ``PaperVenue.submit`` is entered
for the child, its row saved and marked sent; the whole call (fills recorded, the parent's
follow-up step, the signal's audit event) is timed too.

The baseline is ``order_place`` of the same market order (same quantity, same account) with
submit, timed to the same point: what the signal path adds above placing an order directly.
Baseline and signal calls alternate inside one loop, after an untimed book snapshot each
round (10 levels a side, 2 BTC a level), so noise on this shared machine hits both alike.

Each database runs in its own process (settings read DATABASE_URL at import): SQLite in a
temporary directory, PostgreSQL when DATABASE_URL names it (``make bench`` does), in a
throwaway test database named by TEST_DATABASE_NAME.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any
from unittest import mock

from bench.common import Result, child_process, percentile

ITERATIONS = int(os.environ.get("BENCH_SIGNAL_ITERATIONS", "300"))
WARMUP = 20
SYMBOL = "BTC-USDT"
TICK = Decimal("0.1")
LEVELS = 10
DEPTH = Decimal(2)
STRENGTH = 0.9
BASE_QUANTITY = Decimal("0.01")

Level = tuple[Decimal, Decimal]


def _snapshot(step: int) -> tuple[list[Level], list[Level]]:
    """The book at ``step``: the bid 2 ticks higher each time, the spread 1 or 3 ticks."""
    bid = Decimal(20_000) + 2 * TICK * step
    ask = bid + TICK * (1 if step % 2 else 3)
    bids = [(bid - TICK * n, DEPTH) for n in range(LEVELS)]
    asks = [(ask + TICK * n, DEPTH) for n in range(LEVELS)]
    return bids, asks


class _FirstSend:
    """Notes when PaperVenue.submit is first entered after ``reset``: the order is sent."""

    def __init__(self) -> None:
        self.at: float | None = None
        self.sends = 0

    def reset(self) -> None:
        self.at, self.sends = None, 0

    @contextmanager
    def installed(self) -> Iterator[None]:
        from execution.venues.paper import PaperVenue

        original = PaperVenue.submit
        probe = self

        def submit(venue: PaperVenue, request: Any, *, client_order_id: str) -> Any:
            if probe.at is None:
                probe.at = time.perf_counter()
            probe.sends += 1
            return original(venue, request, client_order_id=client_order_id)

        with mock.patch.object(PaperVenue, "submit", submit):
            yield


def measure(*, iterations: int = ITERATIONS, warmup: int = WARMUP) -> dict[str, Any]:
    """Samples in ms on the configured database (set up, with its tables, by the caller)."""
    from django.utils import timezone

    from execution.domain.urgency import UrgencyLevel
    from execution.models import Order
    from execution.services.marketdata import paper_book_update
    from execution.services.orders import order_place
    from execution.services.signal_execution import signal_execute
    from execution.services.venues import paper_reset
    from tests.factories import make_account, make_instrument, make_user

    paper_reset()
    make_instrument(SYMBOL, mark="20000", tick=str(TICK), lot="0.001", min_notional="5")
    account = make_account(make_user("bench-signal"), deposit=Decimal(10) ** 9)
    step = 0

    def feed() -> datetime:
        nonlocal step
        bids, asks = _snapshot(step)
        step += 1
        at = timezone.now()
        paper_book_update(symbol=SYMBOL, bids=bids, asks=asks, at=at)
        return at

    for _ in range(6):  # enough touches for the order-flow feature
        feed()
    probe = _FirstSend()
    samples: dict[str, list[float]] = {
        "signal_first": [], "signal_whole": [], "order_first": [], "order_whole": [],
    }  # fmt: skip
    quantity = Decimal(0)

    def signal() -> tuple[float, float]:
        nonlocal quantity
        started = time.perf_counter()
        outcome = signal_execute(
            account_id=account.pk, symbol=SYMBOL, side="buy", strength=STRENGTH,
            base_quantity=BASE_QUANTITY,
        )  # fmt: skip
        ended = time.perf_counter()
        parent = outcome.parent_order
        if outcome.urgency is not UrgencyLevel.URGENT or parent is None:
            raise RuntimeError(f"the signal was not worked as urgent: {outcome}")
        if parent.algorithm != "market" or probe.sends != 1 or probe.at is None:
            raise RuntimeError(f"expected one market child sent, got {probe.sends} sends")
        assert outcome.quantity is not None
        quantity = outcome.quantity
        return probe.at - started, ended - started

    def order() -> tuple[float, float]:
        started = time.perf_counter()
        placed = order_place(
            account_id=account.pk, symbol=SYMBOL, side="buy", order_type="market",
            quantity=quantity,
        )  # fmt: skip
        ended = time.perf_counter()
        if probe.sends != 1 or probe.at is None:
            raise RuntimeError(f"expected order {placed.pk} sent once, got {probe.sends} sends")
        return probe.at - started, ended - started

    runs: list[tuple[str, Callable[[], tuple[float, float]]]] = [
        ("signal", signal),
        ("order", order),
    ]
    with probe.installed():
        for n in range(warmup + iterations):
            feed()
            for name, call in runs if n % 2 == 0 else runs[::-1]:
                probe.reset()
                first, whole = call()
                if n >= warmup:
                    samples[f"{name}_first"].append(first * 1000)
                    samples[f"{name}_whole"].append(whole * 1000)
    children = Order.objects.filter(account=account, parent__isnull=False)
    if children.filter(sent_at__isnull=True).exists():
        raise RuntimeError("a child order was never sent")
    paper_reset()
    from django.db import connection

    return {
        **samples,
        "vendor": "PostgreSQL" if connection.vendor == "postgresql" else "SQLite",
        "quantity": str(quantity),
        "children": children.count(),
    }


def results(data: dict[str, Any]) -> list[Result]:
    """Table rows from one database's samples."""
    vendor = data["vendor"]
    count = len(data["signal_first"])
    rows = []
    for q in (50, 99):
        base = percentile(data["order_first"], q)
        sig = percentile(data["signal_first"], q)
        whole = percentile(data["signal_whole"], q)
        base_whole = percentile(data["order_whole"], q)
        rows += [
            Result(
                f"order_place+submit, market order -> venue, p{q} ({vendor}, baseline)", base,
                "ms", note=f"{count} orders of {data['quantity']} BTC; whole call p{q} "
                f"{base_whole:.1f} ms (fills, position, status)",
            ),
            Result(
                f"signal_execute -> first child at venue, p{q} ({vendor})", sig, "ms",
                note=f"{sig / base:.1f}x the baseline; urgent plan, market algorithm; "
                f"whole call p{q} {whole:.1f} ms ({whole / base_whole:.1f}x baseline's)",
            ),
        ]  # fmt: skip
    return rows


def _worker() -> None:
    """In a fresh process: a throwaway database, the samples as JSON on the last line."""
    import django

    django.setup()
    from django.db import connections
    from django.test.utils import setup_databases, teardown_databases

    config = setup_databases(verbosity=0, interactive=False, serialized_aliases=set())
    try:
        data = measure()
    finally:
        connections.close_all()
        teardown_databases(config, verbosity=0)
    print(json.dumps(data))


def _in_process(env: dict[str, str]) -> dict[str, Any]:
    worker = child_process(
        [sys.executable, "-m", "bench.bench_signal"], env=env, stdout=-1, text=True
    )
    out, _ = worker.communicate()
    if worker.returncode:
        raise RuntimeError(f"the signal benchmark worker failed (exit {worker.returncode})")
    data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return data


def run() -> list[Result]:
    # Celery logs every eager task at INFO: keep the table readable.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingsite.settings.test",
        "LOG_LEVEL": "WARNING",
    }
    rows: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-signal-") as directory:
        sqlite = {k: v for k, v in env.items() if k != "DATABASE_URL"}
        sqlite["SQLITE_TEST_NAME"] = os.path.join(directory, "signal.sqlite3")
        rows += results(_in_process(sqlite))
    if env.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        rows += results(_in_process(env))
    else:
        print("# bench_signal: PostgreSQL skipped (DATABASE_URL does not name it)", file=sys.stderr)
    return rows


if __name__ == "__main__":
    _worker()
