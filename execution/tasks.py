"""Celery tasks (thin: each calls one service and is safe to run twice)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError

from execution.domain.errors import DomainError
from execution.domain.orders import OrderStatus
from execution.outbox import outbox_prune, outbox_relay
from execution.services.accounts import account_days_open
from execution.services.algos import parent_order_run, parent_orders_due
from execution.services.breakers import instrument_halts_advance
from execution.services.orders import (
    order_amend_at_venue,
    order_cancel_at_venue,
    order_reconcile,
    order_submit,
    orders_unsent_submit,
)
from execution.services.reconciliation import (
    account_reconcile,
    live_accounts_reconcile,
    live_orders_poll,
)

# A lost database connection (a failover, a restart, a killed backend) fails an attempt; the
# next one, 1, 2, 4 ... 16 s later, finds the order as the last committed transaction left it.
DATABASE_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    name="execution.submit_order", autoretry_for=DATABASE_ERRORS, retry_backoff=1,
    retry_backoff_max=16, retry_jitter=False, max_retries=12,
)  # fmt: skip
def submit_order(order_id: str) -> str:
    order = order_submit(order_id=order_id, actor="task:submit_order")
    if order.status == OrderStatus.NEW and order.sent_at is not None:
        # Sent by an attempt cut short after the venue call (its report never recorded):
        # the venue is asked by client order id, the order never sent again.
        order = order_reconcile(order_id=order_id, actor="task:submit_order")
    return str(order.status)


@shared_task(name="execution.reconcile_order")
def reconcile_order(order_id: str) -> str:
    return str(order_reconcile(order_id=order_id).status)


@shared_task(name="execution.submit_unsent_orders")
def submit_unsent_orders() -> int:
    return orders_unsent_submit(actor="task:submit_unsent_orders")


@shared_task(name="execution.advance_instrument_halts")
def advance_instrument_halts() -> int:
    return instrument_halts_advance()


@shared_task(name="execution.open_account_days")
def open_account_days() -> int:
    return account_days_open()


@shared_task(name="execution.run_parent_order")
def run_parent_order(parent_id: str) -> str:
    return str(parent_order_run(parent_id=parent_id).status)


@shared_task(name="execution.run_due_parent_orders")
def run_due_parent_orders() -> int:
    return parent_orders_due()


@shared_task(name="execution.poll_live_orders")
def poll_live_orders() -> int:
    return live_orders_poll(actor="task:poll_live_orders")


@shared_task(name="execution.reconcile_account")
def reconcile_account(account_id: int) -> str:
    return account_reconcile(account_id=account_id, actor="task:reconcile_account").summary()


@shared_task(name="execution.reconcile_live_accounts")
def reconcile_live_accounts() -> int:
    return len(live_accounts_reconcile(actor="task:reconcile_live_accounts"))


@worker_ready.connect(dispatch_uid="execution.reconcile_at_start")
def reconcile_at_start(**kwargs: Any) -> None:
    """A worker that starts (after a crash, say) has live accounts reconciled: orders its
    predecessor left unknown are settled before the periodic run comes round."""
    reconcile_live_accounts.delay()


@shared_task(name="execution.relay_outbox")
def relay_outbox() -> int:
    """Publish the outbox messages a broker outage or a crash left unsent."""
    return outbox_relay()


@shared_task(name="execution.prune_outbox")
def prune_outbox() -> int:
    return outbox_prune()


logger = logging.getLogger(__name__)


# A web process's cancels and amendments of paper orders, carried out where the paper exchange
# is (execution.services.venues.paper_venue_elsewhere). A venue's refusal is logged and on the
# order's audit trail, not a failed task.
@shared_task(name="execution.cancel_order_at_venue")
def cancel_order_at_venue(order_id: str, actor: str) -> str:
    try:
        return str(order_cancel_at_venue(order_id=order_id, actor=actor).status)
    except DomainError as error:
        logger.warning("cancel of order %s not done: %s", order_id, error)
        return "refused"


@shared_task(name="execution.amend_order_at_venue")
def amend_order_at_venue(order_id: str, changes: dict[str, str | None], actor: str) -> str:
    try:
        return str(order_amend_at_venue(order_id=order_id, changes=changes, actor=actor).status)
    except DomainError as error:
        logger.warning("amendment of order %s not done: %s", order_id, error)
        return "refused"
