"""A real Celery worker process takes the submit task from Redis and sends the order once.

The worker is a separate process with its own (empty) paper market: with no book there, the
paper venue accepts a market order and keeps it waiting, so the order ends ``submitted``.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from execution.models import EventKind, ExecutionEvent, Order
from execution.services.orders import order_place
from execution.tasks import submit_order
from tradingsite.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 30.0
STARTUP_TIMEOUT = 180.0  # importing the project on a loaded 2-core machine can take a while


def wait_for_worker(process: subprocess.Popen[str], worker_log) -> None:
    """Until the worker says it is ready, so a test's timeout measures the task, not start-up."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if " ready." in worker_log():
            return
        if process.poll() is not None:
            pytest.fail(f"the worker exited with {process.returncode}:\n{worker_log()}")
        time.sleep(0.2)
    pytest.fail(f"the worker was not ready after {STARTUP_TIMEOUT} s:\n{worker_log()}")


pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _test_database_url() -> str:
    """DATABASE_URL of the test database itself, so the worker sees this test's rows."""
    db = connection.settings_dict
    auth = quote(db["USER"], safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


@pytest.fixture
def tasks_through_the_broker():
    conf = celery_app.conf
    saved = conf.task_always_eager
    conf.task_always_eager = False
    yield
    conf.task_always_eager = saved


@pytest.fixture
def worker(tasks_through_the_broker):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingsite.settings.test",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
    }
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tradingsite",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "-Q",
                "execution",  # where submit_order is routed (tradingsite.celery)
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def worker_log():
            log.seek(0)
            return log.read()

        try:
            wait_for_worker(process, worker_log)
            yield worker_log
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def wait_until_sent(order: Order, worker_log) -> Order:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        order.refresh_from_db()
        if order.status != "new":
            return order
        time.sleep(0.1)
    pytest.fail(f"order still new after {TIMEOUT} s; worker log:\n{worker_log()}")


def place(account):
    return order_place(
        account_id=account.pk,
        symbol="BTC-USDT",
        side="buy",
        order_type="market",
        quantity="0.1",
        submit=False,
    )


def test_a_worker_sends_an_order_once_however_often_the_task_arrives(worker, account, btc):
    order = place(account)

    submit_order.delay(str(order.pk))
    order = wait_until_sent(order, worker)

    assert order.status == "submitted" and order.sent_at is not None
    assert order.venue_order_id
    sent = ExecutionEvent.objects.filter(order=order, kind=EventKind.ORDER_SENT)
    assert sent.count() == 1 and sent.get().actor == "task:submit_order"

    # Delivered again, then a second order behind it: once the second order is sent, the
    # worker (one process, one task at a time, in queue order) has run the repeat too.
    submit_order.delay(str(order.pk))
    marker = place(account)
    submit_order.delay(str(marker.pk))
    wait_until_sent(marker, worker)

    order.refresh_from_db()
    assert order.status == "submitted"
    assert sent.count() == 1
    assert ExecutionEvent.objects.filter(kind=EventKind.ORDER_SENT).count() == 2
