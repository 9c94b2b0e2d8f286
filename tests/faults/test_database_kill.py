"""Terminate the database connections of the process recording 300 fills: none lost, none
applied twice.

A worker (the paper exchange's process, with its book) sends 300 market orders, each filled
at once by the paper venue and recorded by fills_record. Meanwhile the test terminates the
worker's PostgreSQL connections (``pg_terminate_backend``) again and again. An attempt cut
short rolls back; the task tries again with its backoff and, finding its order already sent,
asks the venue for it by client order id (never sending it twice), so the fills the venue
made are recorded, once each. The beat's sweeps stand behind (orders never sent, outbox
messages never published).

Checked in the database: 300 fills, one per order, each order filled and sent once; every
account's position is the sum of its fills, and one fill_recorded audit event per fill.
"""

from __future__ import annotations

import time
from decimal import Decimal as D
from typing import Any

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from execution.domain.values import Side
from execution.models import EventKind, ExecutionEvent, Fill, Order, Position
from execution.services.orders import order_place
from execution.tasks import submit_order
from tests.factories import btc_book, make_account, make_instrument, make_user
from tests.faults.conftest import terminate_worker_connections, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

FILLS = 300
ACCOUNTS = 10
KILL_EVERY = 0.5  # seconds
TIMEOUT = 150.0


@pytest.fixture
def market():
    make_instrument("BTC-USDT", mark="20000", tick="0.1", lot="0.001", min_notional="5")
    btc_book(timezone.now(), depth=D(50))


def orders() -> list[Any]:
    accounts = [make_account(make_user(f"trader{n}"), deposit=D(100_000)) for n in range(ACCOUNTS)]
    return [
        order_place(
            account_id=accounts[n % ACCOUNTS].pk, symbol="BTC-USDT",
            side="buy" if (n // ACCOUNTS) % 3 else "sell", order_type="market",
            quantity="0.010", submit=False,
        ).pk
        for n in range(FILLS)
    ]  # fmt: skip


def test_terminating_the_database_connections_during_300_fills_loses_and_doubles_nothing(
    market, through_broker, workers, figures
):
    worker = workers("paper", beat=True)
    placed = orders()  # while the worker starts
    worker.wait_ready()

    started = time.monotonic()
    for order_id in placed:
        submit_order.delay(str(order_id))
    kills = terminated = 0
    while Fill.objects.count() < FILLS and time.monotonic() - started < TIMEOUT:
        time.sleep(KILL_EVERY)
        kills += 1
        terminated += terminate_worker_connections()
    fills_seen = time.monotonic() - started
    wait_until(
        lambda: Order.objects.filter(status="filled").count() == FILLS, timeout=TIMEOUT,
        what=f"{FILLS} orders filled", log=worker.text,
    )  # fmt: skip

    assert Fill.objects.count() == FILLS
    per_order = Order.objects.annotate(n_fills=Count("fills"), total=Sum("fills__quantity"))
    assert {(o.n_fills, o.total == o.quantity == o.filled_quantity) for o in per_order} == {
        (1, True)
    }
    sent = ExecutionEvent.objects.filter(kind=EventKind.ORDER_SENT)
    assert sent.count() == FILLS and sent.values("order_id").distinct().count() == FILLS
    recorded = ExecutionEvent.objects.filter(kind=EventKind.FILL_RECORDED)
    assert recorded.count() == FILLS
    for position in Position.objects.all():
        signed = sum(
            (Side(side).sign * quantity for side, quantity in Fill.objects.filter(
                order__account_id=position.account_id).values_list("order__side", "quantity")),
            start=D(0),
        )  # fmt: skip
        assert position.quantity == signed
    log = worker.text()
    retries = log.count(" retry: Retry in ")
    assert terminated > 0 and retries > 0  # the connections really were cut mid-work

    figures(
        f"{FILLS} market orders, 1 worker; pg_terminate_backend every {KILL_EVERY} s: "
        f"{kills} rounds, {terminated} connections terminated, {retries} task retries; "
        f"{FILLS} fills recorded in {fills_seen:.1f} s; fills {Fill.objects.count()}, "
        f"fill events {recorded.count()}, positions = sum of fills on {ACCOUNTS} accounts "
        f"(lost 0, applied twice 0)"
    )
