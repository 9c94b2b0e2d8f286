"""Celery tasks (thin: each calls one service and is safe to run twice)."""

from __future__ import annotations

from celery import shared_task

from execution.services.accounts import account_days_open
from execution.services.algos import parent_order_run, parent_orders_due
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


@shared_task(name="execution.run_parent_order")
def run_parent_order(parent_id: str) -> str:
    return str(parent_order_run(parent_id=parent_id).status)


@shared_task(name="execution.run_due_parent_orders")
def run_due_parent_orders() -> int:
    return parent_orders_due()
