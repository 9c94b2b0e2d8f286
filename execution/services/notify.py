"""Pushes to a user's websocket group, sent on commit. A push may be lost: clients re-read."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


class _SenderLoop:
    """One event loop thread per process that sends to a network channel layer.

    async_to_sync outside an event loop starts a new loop (and so a new Redis connection) for
    every call, which cost more than recording the fill itself; this loop keeps one.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._pid = 0

    def submit(self, coroutine: Coroutine[Any, Any, None]) -> Future[None]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked worker needs its own
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                threading.Thread(
                    target=self._loop.run_forever, name="channel-layer-sender", daemon=True
                ).start()
            return self._loop


_sender = _SenderLoop()


def _log_failure(future: Future[None]) -> None:
    if future.exception() is not None:
        logger.error("a websocket push failed", exc_info=future.exception())


def broadcast(*, owner_id: int, kind: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "account.update", "kind": kind, "payload": payload}
    try:
        if isinstance(layer, InMemoryChannelLayer):
            # In-memory groups live in the serving loop, which async_to_sync reaches from a
            # request thread.
            async_to_sync(layer.group_send)(user_group(owner_id), message)
        else:
            _sender.submit(layer.group_send(user_group(owner_id), message)).add_done_callback(
                _log_failure
            )
    except Exception:  # a lost push is harmless (the row is committed); never fail the write
        logger.exception("push of %s to user %s failed", kind, owner_id)


def on_commit_broadcast(*, owner_id: int, kind: str, payload: dict[str, Any]) -> None:
    transaction.on_commit(lambda: broadcast(owner_id=owner_id, kind=kind, payload=payload))
