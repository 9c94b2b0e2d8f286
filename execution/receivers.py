"""Reactions inside execution to its own on-commit signals (connected in apps.py)."""

from __future__ import annotations

from typing import Any

from execution.signals import fill_committed, order_status_committed
from execution.tasks import run_parent_order


def wake_parent_order(sender: Any, *, parent_id: str | None = None, **kwargs: Any) -> None:
    """A child filled or changed status: its parent order decides what comes next."""
    if parent_id is not None:
        run_parent_order.delay(parent_id)


def connect() -> None:
    fill_committed.connect(wake_parent_order, dispatch_uid="execution.wake_parent_on_fill")
    order_status_committed.connect(
        wake_parent_order, dispatch_uid="execution.wake_parent_on_status"
    )
