"""The scheduler's entries name real tasks, and the live tasks call their services."""

from __future__ import annotations

import pytest
from django.conf import settings

from execution.services.orders import order_place
from execution.tasks import poll_live_orders, reconcile_account, reconcile_live_accounts
from tradingsite.celery import app

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_scheduled_task_exists():
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"execution.poll_live_orders", "execution.reconcile_live_accounts"} <= names
    assert names <= set(app.tasks)


def test_the_live_tasks_settle_a_lost_reply(live_account, okx):
    okx.lose_next_reply = True
    order = order_place(account_id=live_account.pk, symbol="BTC-USDT", side="buy",
                        order_type="limit", quantity="0.05", price="19990",
                        client_order_id="task1")  # fmt: skip
    order.refresh_from_db()
    assert order.status == "unknown"

    assert poll_live_orders.delay().get() == 1
    assert poll_live_orders.delay().get() == 0
    assert reconcile_live_accounts.delay().get() == 1
    summary = reconcile_account.delay(live_account.pk).get()
    assert summary.endswith(
        ": 0 order(s) settled, 0 unknown venue order(s) reported, 0 correction(s)"
    )
    order.refresh_from_db()
    assert order.status == "submitted" and len(okx.placed()) == 1
