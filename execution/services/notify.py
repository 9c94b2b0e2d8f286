"""Pushes to a user's websocket group, sent on commit. A push may be lost: clients re-read."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# How long updates for one user gather before they go out as one message. Bursts (a market
# order's fills, a mark that moves many positions) cost one send instead of one each.
FLUSH_SECONDS = 0.02


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


class _Sender:
    """One event-loop thread per process that sends to a network channel layer.

    async_to_sync outside an event loop starts a new loop (and so a new Redis connection) for
    every call, which cost more than recording a fill; this keeps one loop, and gathers the
    updates of each group for FLUSH_SECONDS into one message.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._pending: dict[str, list[dict[str, Any]]] = {}

    def send(self, layer: BaseChannelLayer, group: str, update: dict[str, Any]) -> None:
        with self._lock:
            loop = self._running_loop()
            first = not self._pending
            self._pending.setdefault(group, []).append(update)
        if first:
            loop.call_soon_threadsafe(loop.call_later, FLUSH_SECONDS, self._flush_soon, layer)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._pid != os.getpid():  # a forked worker needs its own
            self._loop = asyncio.new_event_loop()
            self._pid = os.getpid()
            self._pending = {}
            threading.Thread(
                target=self._loop.run_forever, name="channel-layer-sender", daemon=True
            ).start()
        return self._loop

    def _flush_soon(self, layer: BaseChannelLayer) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for group, updates in pending.items():
            task = asyncio.ensure_future(
                layer.group_send(group, {"type": "account.batch", "updates": updates})
            )
            task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("a websocket push failed", exc_info=task.exception())


_sender = _Sender()


def broadcast(*, owner_id: int, kind: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    group = user_group(owner_id)
    try:
        if isinstance(layer, InMemoryChannelLayer):
            # In-memory groups live in the serving loop, which async_to_sync reaches from a
            # request thread.
            async_to_sync(layer.group_send)(
                group, {"type": "account.update", "kind": kind, "payload": payload}
            )
        else:
            _sender.send(layer, group, {"kind": kind, "payload": payload})
    except Exception:  # a lost push is harmless (the row is committed); never fail the write
        logger.exception("push of %s to user %s failed", kind, owner_id)


def on_commit_broadcast(*, owner_id: int, kind: str, payload: dict[str, Any]) -> None:
    transaction.on_commit(lambda: broadcast(owner_id=owner_id, kind=kind, payload=payload))
