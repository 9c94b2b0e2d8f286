"""The audit trail: one helper so every state change is written the same way."""

from __future__ import annotations

import logging
from typing import Any

from execution.models import Account, EventKind, ExecutionEvent, Instrument, Order

# One line per event, with the ids it concerns as fields (a log shipper indexes them).
audit_log = logging.getLogger("execution.audit")


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
    event = ExecutionEvent.objects.create(
        kind=kind, actor=actor, message=message, account=account, order=order,
        instrument_id=instrument_id, data=data or {},
    )  # fmt: skip
    if audit_log.isEnabledFor(logging.INFO):
        ids = _event_ids(account, order, actor)
        audit_log.info("%s by %s: %s", kind, actor, message, extra=ids)
    return event


def _event_ids(account: Account | None, order: Order | None, actor: str) -> dict[str, object]:
    strategy_id: object = None if order is None else order.strategy_id
    if strategy_id is None and actor.startswith("strategy:"):
        strategy_id = actor.removeprefix("strategy:")  # a strategy's signal acts as it
    ids = {
        "order_id": None if order is None else order.pk,
        "parent_order_id": None if order is None else order.parent_id,
        "account_id": None if account is None else account.pk,
        "strategy_id": strategy_id,
    }
    return {name: str(value) for name, value in ids.items() if value is not None}
