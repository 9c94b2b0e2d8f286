"""kill -9 a Celery worker while 500 signals are being executed: none lost, none doubled.

500 pending signals (strategy decisions committed, their execution not yet done, as a crash
of the runner leaves them) on 25 strategy accounts are carried out by three worker
processes at once, each running the carry-out sweep (``strategies.carry_out_pending_signals``:
each signal is executed under its row lock, skipping those another worker holds). One worker
is killed with SIGKILL a third of the way through: its open transaction is rolled back by
PostgreSQL, the signal it held stays pending, and an order it committed but had not yet sent
stays unsent. The beat of the surviving workers (the same sweeps every 5 s, and the unsent
order sweep) finish the work.

Checked in the database: every signal settled; each executed signal has exactly one parent
order and no parent order is without one; every child order reached the venue exactly once
(one ``order_sent`` event each), and no parent has more quantity working than it was given.
"""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal as D

import pytest
from django.db.models import Count, Q, Sum
from django.utils import timezone

from execution.models import EventKind, ExecutionEvent, Order, ParentOrder
from strategies.models import Signal, SignalOutcome, Strategy
from strategies.services import signal_record
from tests.copytrading.conftest import make_strategy
from tests.factories import make_account, make_instrument, make_user
from tests.faults.conftest import wait_until
from tradingsite.celery import app as celery_app

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

SIGNALS = 500
ACCOUNTS = 25
KILL_AT = SIGNALS // 3
TIMEOUT = 120.0
SWEEP_AGE = 5.5  # seconds: signals_pending_carry_out's older_than, and a little


@pytest.fixture
def market():
    make_instrument("BTC-USDT", mark="20000", tick="0.1", lot="0.001", min_notional="5")


def pending_signals() -> None:
    strategies = []
    for n in range(ACCOUNTS):
        owner = make_user(f"quant{n}")
        strategies.append(make_strategy(owner, make_account(owner, deposit=D(1_000_000))))
    # Decided an hour's decay ago at most: the test's own pace never expires one.
    Strategy.objects.update(signal_decay_seconds=3600, max_signals_per_minute=600)
    now = timezone.now()
    for n in range(SIGNALS):
        signal_record(
            strategy_id=strategies[n % ACCOUNTS].pk, symbol="BTC-USDT", at=now,
            side="buy" if n % 2 == 0 else "sell", target_position=1.0, strength=0.9,
            size=D("0.010"),
        )  # fmt: skip


def settled() -> int:
    return Signal.objects.exclude(outcome=SignalOutcome.PENDING).count()


def unsent_orders() -> int:
    return Order.objects.filter(sent_at__isnull=True).count()


def test_kill_9_of_a_worker_during_500_signal_executions_loses_and_doubles_nothing(
    market, through_broker, workers, figures
):
    killed = workers("killed")
    survivors = [workers("survivor1", beat=True), workers("survivor2")]
    pending_signals()  # while the workers start
    recorded = time.monotonic()
    for worker in (killed, *survivors):
        worker.wait_ready()
    # The sweep takes signals pending for 5 s (younger ones are still the runner's).
    time.sleep(max(0.0, SWEEP_AGE - (time.monotonic() - recorded)))

    started = time.monotonic()
    for _ in range(3):  # one sweep per worker, each worker taking one at a time
        celery_app.send_task("strategies.carry_out_pending_signals")
    wait_until(
        lambda: settled() >= KILL_AT and "carry_out_pending_signals" in killed.text(),
        timeout=TIMEOUT, what=f"{KILL_AT} signals settled", log=killed.text,
    )  # fmt: skip
    killed.kill9()
    at_kill, killed_after = settled(), time.monotonic() - started
    # Its in-flight work: the signal it held (rolled back) and any order committed unsent.
    wait_until(
        lambda: settled() == SIGNALS and unsent_orders() == 0, timeout=TIMEOUT,
        what="every signal settled and every order sent", log=survivors[0].text,
    )  # fmt: skip
    all_done = time.monotonic() - started

    outcomes = Counter(Signal.objects.values_list("outcome", flat=True))
    executed = Signal.objects.filter(outcome=SignalOutcome.EXECUTED)
    assert outcomes[SignalOutcome.PENDING] == 0
    assert outcomes[SignalOutcome.EXECUTED] == SIGNALS, outcomes  # nothing refused or skipped
    # One parent order per executed signal, and none without its signal.
    parents = ParentOrder.objects.count()
    assert parents == executed.count()
    assert executed.values("parent_order_id").distinct().count() == parents
    assert not ParentOrder.objects.exclude(pk__in=executed.values("parent_order_id")).exists()
    # Every child order reached the venue, once.
    orders = Order.objects.count()
    sent_events = Counter(
        ExecutionEvent.objects.filter(kind=EventKind.ORDER_SENT).values_list("order_id", flat=True)
    )
    assert orders >= parents and set(sent_events) == set(Order.objects.values_list("pk", flat=True))
    assert max(sent_events.values()) == 1
    # No parent works more than it was given (a child placed twice would).
    working = ParentOrder.objects.annotate(
        ordered=Sum(
            "children__quantity",
            filter=~Q(children__status__in=["cancelled", "rejected", "expired"]),
        )
    )
    assert not [p.pk for p in working if p.ordered is not None and p.ordered > p.quantity]
    assert not ParentOrder.objects.annotate(n=Count("children")).filter(n=0).exists()

    figures(
        f"{SIGNALS} signals on {ACCOUNTS} accounts, 3 workers; kill -9 after {killed_after:.1f} s"
        f" with {at_kill} settled; all settled {all_done:.1f} s after the start "
        f"({all_done - killed_after:.1f} s after the kill); outcomes {dict(outcomes)}; "
        f"{parents} parent orders, {orders} child orders, sent once each "
        f"(lost 0, doubled 0)"
    )
