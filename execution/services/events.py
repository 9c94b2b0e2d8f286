"""The audit trail: one helper so every state change is written the same way."""

from __future__ import annotations

from typing import Any

from execution.models import Account, EventKind, ExecutionEvent, Instrument, Order


def event_append(
    *,
    kind: EventKind,
    actor: str,
    message: str,
    account: Account | None = None,
    order: Order | None = None,
    instrument: Instrument | None = None,
    data: dict[str, Any] | None = None,
) -> ExecutionEvent:
    if order is not None and account is None:
        account = order.account
    instrument_id: int | None = None if instrument is None else instrument.pk
    if order is not None and instrument is None:
        instrument_id = order.instrument_id
    return ExecutionEvent.objects.create(
        kind=kind, actor=actor, message=message, account=account, order=order,
        instrument_id=instrument_id, data=data or {},
    )  # fmt: skip
