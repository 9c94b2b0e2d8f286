"""The health endpoint, failed tasks in the admin and the workers' JSON log lines, with a
real Celery worker process on Redis and PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.contrib.auth.models import User
from django_celery_results.models import TaskResult

from execution.services.orders import order_place
from execution.tasks import submit_order
from strategies.services import strategy_create
from tests.factories import make_account, make_instrument, make_user
from tests.production.conftest import celery_worker
from tradingsite.health import health_reset

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EVERY_QUEUE = "execution,copy,features,inference,celery"
TIMEOUT = 30.0


@pytest.fixture
def worker(tasks_through_the_broker):
    health_reset()
    with celery_worker(EVERY_QUEUE) as log:
        yield log
    health_reset()


def wait_for(condition, what: str, log):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} not seen after {TIMEOUT} s; worker log:\n{log()}")


def test_health_is_ok_with_the_database_redis_and_a_worker_on_every_queue(client, worker):
    response = client.get("/health/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {
        "status": "ok",
        "database": "ok",
        "redis": "ok",
        "workers": {"execution": 1, "copy": 1, "features": 1, "inference": 1},
    }
    assert "test-" not in response.content.decode()  # no worker host names to anyone
    assert response["Cache-Control"].startswith("max-age=0")


def test_health_names_a_queue_no_worker_consumes(client, worker, settings):
    # Strategies run in workers: the bars queue is needed, and no worker here consumes it.
    settings.STRATEGY_RUNNER = "celery"
    health_reset()

    response = client.get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down" and body["down"] == ["workers:strategies.bars.0"]
    assert body["database"] == "ok" and body["redis"] == "ok"
    assert body["workers"]["strategies.bars.0"] == 0 and body["workers"]["execution"] == 1


def test_health_says_redis_is_down_without_saying_where_it_was(
    client, settings, tasks_through_the_broker
):
    settings.REDIS_URL = "redis://127.0.0.1:9/4"  # nothing listens there
    health_reset()

    response = client.get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["redis"] == "down" and body["database"] == "ok"
    assert set(body["down"]) == {"redis", "workers:execution", "workers:copy",
                                 "workers:features", "workers:inference"}  # fmt: skip
    assert "127.0.0.1" not in response.content.decode()
    health_reset()


def test_a_failed_task_is_listed_in_the_admin_with_its_arguments_and_traceback(client, worker):
    missing = str(uuid.uuid4())

    submit_order.delay(missing)

    failure = wait_for(
        lambda: TaskResult.objects.filter(task_name="execution.submit_order").first(),
        "the failed task's row", worker,
    )  # fmt: skip
    assert failure.status == "FAILURE"
    assert missing in failure.task_args
    assert "DomainError" in failure.result and f"order {missing} does not exist" in failure.result
    assert "order_submit" in failure.traceback  # where it was raised
    assert failure.date_done is not None
    # Successful tasks are not kept: only failures.
    assert TaskResult.objects.count() == 1

    staff = User.objects.create_user("ops", password="pw", is_staff=True, is_superuser=True)
    client.force_login(staff)
    listing = client.get("/admin/django_celery_results/taskresult/")
    assert listing.status_code == 200
    assert "execution.submit_order" in listing.content.decode()
    detail = client.get(f"/admin/django_celery_results/taskresult/{failure.pk}/change/")
    assert "DomainError" in detail.content.decode() and "order_submit" in detail.content.decode()


def test_a_workers_log_lines_about_an_order_carry_its_order_account_and_strategy_ids(worker):
    trader = make_user("logged")
    make_instrument("BTC-USDT", mark="20000")
    account = make_account(trader)
    strategy = strategy_create(
        owner_id=trader.pk, name="logged", kind="sma_crossover", account_id=account.pk,
        symbols=["BTC-USDT"], interval="1m", config={"fast_window": 1, "slow_window": 2},
    )  # fmt: skip
    order = order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="market",
        quantity="0.1", strategy_id=strategy.pk, submit=False,
    )  # fmt: skip

    submit_order.delay(str(order.pk))

    def lines_about_the_order():
        lines = []
        for line in worker().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("order_id") == str(order.pk):
                lines.append(record)
        succeeded = [r for r in lines if "succeeded" in r["message"]]
        return lines if succeeded else None

    lines = wait_for(lines_about_the_order, "the task's log lines", worker)
    # The audit line names the ids itself; the task's own lines (Celery's "succeeded")
    # get them from the task's context.
    sent = [r for r in lines if r["name"] == "execution.audit" and "order_sent" in r["message"]]
    succeeded = [r for r in lines if "succeeded" in r["message"]]
    for record in (*sent, *succeeded):
        assert record["account_id"] == str(account.pk)
        assert record["strategy_id"] == str(strategy.pk)
        assert record["level"] == "INFO" and record["time"]
    assert sent and succeeded
