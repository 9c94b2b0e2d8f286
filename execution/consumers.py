"""Websocket consumers (thin): a signed-in user's own updates, nothing else."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from execution.services.notify import user_group

# P&L ticks (marks move every position's unrealized P&L) are coalesced per connection: at most
# one flush per THROTTLE_SECONDS, each carrying the latest value per key, so a fast feed costs a
# browser a few messages a second instead of one per book update. Other kinds go out at once.
THROTTLE_SECONDS = 0.25
THROTTLED_KEYS = {"mark": "symbol", "pnl": "account_id", "chart_point": "account_id"}
PUSH_TYPES = {"account.update", "account.batch"}


class AccountConsumer(AsyncJsonWebsocketConsumer):
    """Joins the group of the signed-in user only; anonymous connections are refused.

    The origin check (AllowedHostsOriginValidator) and the session (AuthMiddlewareStack) are
    applied around it in tradingsite/asgi.py."""

    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self._held: dict[tuple[str, str], dict[str, Any]] = {}
        self._flush: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            if self._flush is not None:
                self._flush.cancel()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every handler, through a hop to
        # the one sync thread: per push and per socket, it was a third of the server's time
        # fanning a fill out to 1,000 sockets. Pushes never touch the database: skip it.
        if message["type"] in PUSH_TYPES:
            await getattr(self, get_handler_name(message))(message)
        else:
            await super().dispatch(message)

    async def account_update(self, event: dict[str, Any]) -> None:
        await self._deliver(event["kind"], event["payload"])
        await self._flush_held()

    async def account_batch(self, event: dict[str, Any]) -> None:
        """Updates gathered by the sender: the client still gets one message per update."""
        for update in event["updates"]:
            await self._deliver(update["kind"], update["payload"])
        await self._flush_held()

    async def _deliver(self, kind: str, payload: dict[str, Any]) -> None:
        key = THROTTLED_KEYS.get(kind)
        if key is None:
            await self.send_json({"kind": kind, "payload": payload})
            return
        self._held[(kind, str(payload.get(key)))] = payload  # the latest value wins

    async def _flush_held(self) -> None:
        if not self._held or self._flush is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_flush + THROTTLE_SECONDS - loop.time()
        if wait <= 0:
            # Nothing went out for a window: send now. A timer and a task per socket and push
            # were a tenth of the server's time fanning P&L out to 1,000 sockets.
            await self._send_held()
        else:
            self._flush = loop.call_later(wait, lambda: loop.create_task(self._send_held()))

    async def _send_held(self) -> None:
        held, self._held = self._held, {}
        self._flush = None
        self._last_flush = asyncio.get_running_loop().time()
        for (kind, _), payload in held.items():
            await self.send_json({"kind": kind, "payload": payload})
