"""Pushes to a user's websocket group, sent on commit. A push may be lost: clients re-read."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def broadcast(*, owner_id: int, kind: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            user_group(owner_id), {"type": "account.update", "kind": kind, "payload": payload}
        )
    except Exception:  # a lost push is harmless (the row is committed); never fail the write
        logger.exception("push of %s to user %s failed", kind, owner_id)


def on_commit_broadcast(*, owner_id: int, kind: str, payload: dict[str, Any]) -> None:
    transaction.on_commit(lambda: broadcast(owner_id=owner_id, kind=kind, payload=payload))
