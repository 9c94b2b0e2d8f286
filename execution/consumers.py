"""Websocket consumers (thin): a signed-in user's own updates, nothing else."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from execution.services.notify import user_group


class AccountConsumer(AsyncJsonWebsocketConsumer):
    """Joins the group of the signed-in user only; anonymous connections are refused."""

    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def account_update(self, event: dict[str, Any]) -> None:
        await self.send_json({"kind": event["kind"], "payload": event["payload"]})

    async def account_batch(self, event: dict[str, Any]) -> None:
        """Updates gathered by the sender: the client still gets one message per update."""
        for update in event["updates"]:
            await self.send_json({"kind": update["kind"], "payload": update["payload"]})
