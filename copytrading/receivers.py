"""Reactions to execution's on-commit signals (connected in apps.py); each is idempotent."""

from __future__ import annotations

from typing import Any

from django.db import connection

from copytrading.models import SubscriptionStatus
from copytrading.services.mirroring import copy_fill_apply
from copytrading.tasks import mirror_fill_task
from execution.models import Order
from execution.signals import fill_committed

# One round trip per fill of any account: is it a follower's copy order, and does its account
# trade for a strategy someone copies?
_WHAT_FILLED = """
SELECT
    EXISTS (SELECT 1 FROM copytrading_copytrade WHERE follower_order_id = %s),
    EXISTS (
        SELECT 1 FROM strategies_strategy s
        JOIN copytrading_copysubscription c ON c.strategy_id = s.id
        WHERE s.account_id = %s AND c.status = %s
    )
"""


def on_fill_committed(
    sender: Any, *, fill_id: int, order_id: Any, account_id: int, **kwargs: Any
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            _WHAT_FILLED,
            [_order_pk(order_id), account_id, SubscriptionStatus.ACTIVE],
        )
        is_copy, is_leader = cursor.fetchone()
    if is_copy:
        copy_fill_apply(order_id=order_id)
    elif is_leader:
        mirror_fill_task.delay(fill_id)


def _order_pk(order_id: Any) -> Any:
    return Order._meta.pk.get_db_prep_value(order_id, connection)


def connect() -> None:
    fill_committed.connect(on_fill_committed, dispatch_uid="copytrading.on_fill_committed")
