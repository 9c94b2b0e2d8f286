"""Celery tasks (thin: each calls one service and is safe to run twice)."""

from __future__ import annotations

from celery import shared_task

from execution.services.accounts import account_days_open
from execution.services.orders import order_reconcile, order_submit


@shared_task(name="execution.submit_order")
def submit_order(order_id: str) -> str:
    return str(order_submit(order_id=order_id, actor="task:submit_order").status)


@shared_task(name="execution.reconcile_order")
def reconcile_order(order_id: str) -> str:
    return str(order_reconcile(order_id=order_id).status)


@shared_task(name="execution.open_account_days")
def open_account_days() -> int:
    return account_days_open()
