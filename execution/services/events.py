"""The audit trail: one helper so every state change is written the same way."""

from __future__ import annotations

from typing import Any

from execution.models import Account, EventKind, ExecutionEvent, Order


def event_append(
    *,
    kind: EventKind,
    actor: str,
    message: str,
    account: Account | None = None,
    order: Order | None = None,
    data: dict[str, Any] | None = None,
) -> ExecutionEvent:
    if order is not None and account is None:
        account = order.account
    return ExecutionEvent.objects.create(
        kind=kind, actor=actor, message=message, account=account, order=order, data=data or {}
    )
