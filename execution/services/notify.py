"""Pushes to a user's websocket group, sent on commit. A push may be lost: clients re-read."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.db import connection, transaction
from django.db.models import Sum

from execution.domain.values import exact
from execution.models import Account, AccountDay, Balance, Position
from execution.selectors import OVERVIEW_DAYS, utc_today

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


# --- P&L and chart pushes -------------------------------------------------------------------

# An account's P&L push is computed after its fills commit, never inside their transaction,
# and at most once per PNL_SECONDS per process, however many fills (a copy fan-out records
# thousands): the accounts touched in a window are valued together in three queries.
PNL_SECONDS = 0.25


class _PnlPusher:
    """Accounts whose P&L changed, valued and pushed by a timer thread once per window."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._dirty: set[int] = set()
        self._timer: threading.Timer | None = None
        # The last chart point pushed per account: a fill that leaves today's P&L where it
        # was (no fee, at the mark) does not move the chart.
        self._points: dict[int, tuple[str, str]] = {}

    def touch(self, account_id: int) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked worker does not inherit the timer thread
                self._pid, self._dirty, self._timer = os.getpid(), set(), None
            self._dirty.add(account_id)
            if self._timer is None:
                self._timer = threading.Timer(PNL_SECONDS, self._push)
                self._timer.daemon = True
                self._timer.start()

    def _push(self) -> None:
        with self._lock:
            account_ids, self._dirty, self._timer = self._dirty, set(), None
        try:
            for update in account_pnl_updates(account_ids):
                point = (update.day, update.today_pnl or "")
                pushes = [("pnl", update.pnl_payload())]
                if update.today_pnl is not None and self._points.get(update.account_id) != point:
                    self._points[update.account_id] = point
                    pushes.append(("chart_point", update.chart_payload()))
                for kind, payload in pushes:
                    broadcast(owner_id=update.owner_id, kind=kind, payload=payload)
        except Exception:  # a lost push is harmless: the page re-reads its state
            logger.exception("P&L push for accounts %s failed", sorted(account_ids))
        finally:
            connection.close()  # this thread's own connection (returned to the pool)


@dataclass(frozen=True, slots=True)
class AccountPnlUpdate:
    account_id: int
    owner_id: int
    day: str  # today, UTC, ISO
    equity: str
    unrealized_pnl: str
    realized_pnl: str
    today_pnl: str | None  # None until the day opens
    pnl_30d: str

    def pnl_payload(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id, "equity": self.equity,
            "unrealized_pnl": self.unrealized_pnl, "realized_pnl": self.realized_pnl,
            "today_pnl": self.today_pnl, "pnl_30d": self.pnl_30d,
        }  # fmt: skip

    def chart_payload(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id, "day": self.day, "pnl": self.today_pnl,
            "pnl_30d": self.pnl_30d,
        }  # fmt: skip


def account_pnl_updates(account_ids: Collection[int]) -> list[AccountPnlUpdate]:
    """Equity, today's and the last 30 days' P&L of many accounts in three queries, as the
    overview's state computes them one account at a time (execution.selectors)."""
    today = utc_today()
    accounts = {
        pk: (owner_id, currency)
        for pk, owner_id, currency in Account.objects.filter(pk__in=account_ids).values_list(
            "pk", "owner_id", "base_currency"
        )
    }
    deposited: dict[int, Decimal] = defaultdict(Decimal)
    balances = Balance.objects.filter(account_id__in=accounts)
    for account_id, currency, amount in balances.values_list("account_id", "currency", "deposited"):
        if accounts[account_id][1] == currency:
            deposited[account_id] = amount
    totals = {
        row["account_id"]: row
        for row in Position.objects.filter(account_id__in=accounts)
        .values("account_id")
        .annotate(realized=Sum("realized_pnl"), unrealized=Sum("unrealized_pnl"))
    }
    days: dict[int, list[AccountDay]] = defaultdict(list)
    for row in AccountDay.objects.filter(
        account_id__in=accounts, day__gte=today - timedelta(days=OVERVIEW_DAYS - 1)
    ).order_by("day"):
        days[row.account_id].append(row)
    updates = []
    for account_id, (owner_id, _) in sorted(accounts.items()):
        total = totals.get(account_id, {})
        realized = total.get("realized") or Decimal(0)
        unrealized = total.get("unrealized") or Decimal(0)
        rows = days[account_id]
        with exact():
            equity = deposited[account_id] + realized + unrealized
            # A day's closing equity is the next opening's (before its deposits), or now.
            closings = [later.start_equity for later in rows[1:]] + [equity] * bool(rows)
            daily = [c - r.start_equity - r.deposits for r, c in zip(rows, closings, strict=True)]
            pnl_30d = sum(daily, Decimal(0))
            opened = bool(rows) and rows[-1].day == today
            today_pnl = equity - rows[-1].loss_baseline if opened else None
        updates.append(
            AccountPnlUpdate(
                account_id=account_id,
                owner_id=owner_id,
                day=today.isoformat(),
                equity=_text(equity),
                unrealized_pnl=_text(unrealized),
                realized_pnl=_text(realized),
                today_pnl=None if today_pnl is None else _text(today_pnl),
                pnl_30d=_text(pnl_30d),
            )
        )
    return updates


def _text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


_pnl = _PnlPusher()


def on_commit_pnl_push(*, account_id: int) -> None:
    """After the commit, value the account (with others touched meanwhile) and push its P&L
    and, if today's point moved, its chart point, within PNL_SECONDS."""
    transaction.on_commit(lambda: _pnl.touch(account_id))
