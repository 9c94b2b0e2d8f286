"""The transactional outbox: notifications that survive a broker outage or a crash.

A service that commits a row other apps must hear of (a fill that copy trading mirrors and
whose parent order decides what comes next) writes an OutboxMessage in the same transaction.
After commit the process publishes it (sends the topic's signal, whose receivers enqueue
their tasks) and marks it sent. If publishing fails (the broker is down) or the process dies
between commit and publish, the message stays unsent and the relay (a beat task) publishes it
again later. Delivery is at least once: every receiver and task it reaches is idempotent, so
a message published twice does no harm (DESIGN.md, principles 3 and 4).

Topics are named here, not imported from the apps above execution: a topic maps to one of
execution's own signals, which those apps connect to.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from execution.models import Fill, OutboxMessage
from execution.signals import fill_committed

logger = logging.getLogger(__name__)

FILL_COMMITTED = "fill_committed"
# The committing process publishes first; the relay waits this long before it steps in.
GRACE = timedelta(seconds=10)
MAX_BACKOFF = timedelta(minutes=5)
RELAY_BATCH = 500
KEEP_SENT = timedelta(days=1)
MARK_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    topic: str
    object_id: int
    payload: Mapping[str, Any]


def _publish_fill_committed(message: Message) -> list[BaseException]:
    payload = message.payload
    results = fill_committed.send_robust(
        sender=Fill,
        fill_id=message.object_id,
        order_id=UUID(str(payload["order_id"])),
        account_id=payload["account_id"],
        parent_id=payload["parent_id"],
    )
    return [error for _, error in results if isinstance(error, BaseException)]


# topic -> publisher: runs every receiver, returns the errors of those that failed.
PUBLISHERS: dict[str, Callable[[Message], list[BaseException]]] = {
    FILL_COMMITTED: _publish_fill_committed,
}


def backoff(attempts: int) -> timedelta:
    """The wait after ``attempts`` failed publishes: 2 s, 4 s, 8 s, ... at most 5 minutes."""
    return min(timedelta(seconds=2 ** min(attempts, 16)), MAX_BACKOFF)


# --- writing, inside the business transaction ----------------------------------------------

_INSERT_FILL_MESSAGES = """
INSERT INTO execution_outboxmessage
    (topic, object_id, payload, created_at, next_attempt_at, attempts, last_error)
SELECT %s, id, {payload}, %s, %s, 0, ''
FROM execution_fill WHERE order_id = %s AND venue_trade_id IN ({trade_ids})
RETURNING id, object_id
"""


def fill_messages_statement(
    *, order_pk: Any, trade_ids: Sequence[str], payload: Mapping[str, Any], now: datetime
) -> tuple[str, list[Any]]:
    """One INSERT of a FILL_COMMITTED message for each fill of ``order_pk`` with these trade
    ids, for fills_record to run right after inserting them (in the same round trip on
    PostgreSQL). It returns (message id, fill id) rows for ``messages_publish_on_commit``."""
    cast = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    sql = _INSERT_FILL_MESSAGES.format(payload=cast, trade_ids=", ".join(["%s"] * len(trade_ids)))
    at = connection.ops.adapt_datetimefield_value
    params: list[Any] = [
        FILL_COMMITTED,
        json.dumps(payload, cls=DjangoJSONEncoder),
        at(now),
        at(now + GRACE),
        order_pk,
        *trade_ids,
    ]
    return sql, params


def messages_publish_on_commit(messages: Sequence[Message]) -> None:
    """Publish ``messages`` once the current transaction commits (in the order given)."""
    if messages:
        transaction.on_commit(lambda: messages_publish(messages))


# --- publishing ----------------------------------------------------------------------------


def messages_publish(messages: Sequence[Message], *, relayed: bool = False) -> int:
    """Publish each message and mark those published sent (one UPDATE); one that fails is
    left for the relay with its error (due at once, unless the relay is the one publishing:
    its claim set the backoff). Never raises: the rows are committed either way, and the
    caller's work is done. Returns how many were published."""
    sent: list[int] = []
    for message in messages:
        try:
            errors = PUBLISHERS[message.topic](message)
        except Exception as error:  # an unknown topic, a payload the publisher cannot read
            errors = [error]
        if errors:
            _failed(message, errors, relayed=relayed)
        else:
            sent.append(message.id)
    if sent:
        _mark_sent(sent)
    return len(sent)


class _SentMarker:
    """Published messages are marked sent by a timer thread, together, once per MARK_SECONDS:
    one UPDATE after every fill's commit was a quarter of fill_record's time. A mark lost with
    the process only means a second publish, which is harmless."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._ids: list[int] = []
        self._timer: threading.Timer | None = None

    def add(self, ids: Sequence[int]) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked worker does not inherit the timer thread
                self._pid, self._ids, self._timer = os.getpid(), [], None
            self._ids.extend(ids)
            if self._timer is None:
                self._timer = threading.Timer(MARK_SECONDS, self._flush)
                self._timer.daemon = True
                self._timer.start()

    def _flush(self) -> None:
        with self._lock:
            ids, self._ids, self._timer = self._ids, [], None
        try:
            _mark(ids, sent_at=timezone.now())
        finally:
            connection.close()  # this thread's own connection (returned to the pool)


_sent_marker = _SentMarker()


def _mark_sent(ids: Sequence[int]) -> None:
    _sent_marker.add(ids)


def _mark(ids: Sequence[int], **changes: Any) -> None:
    """Write down what became of messages; a database that fails here only means they are
    published again by the relay (harmless), so it is logged, not raised."""
    try:
        OutboxMessage.objects.filter(pk__in=ids, sent_at__isnull=True).update(**changes)
    except DatabaseError:
        logger.warning("outbox: could not mark messages %s", list(ids), exc_info=True)


def _failed(message: Message, errors: Sequence[BaseException], *, relayed: bool) -> None:
    logger.warning(
        "outbox: %s %s not published, the relay will retry: %s",
        message.topic,
        message.object_id,
        "; ".join(repr(e) for e in errors),
        exc_info=errors[0],
    )
    detail = "; ".join(f"{type(e).__name__}: {e}" for e in errors)[:1000]
    changes: dict[str, Any] = {"last_error": detail}
    if not relayed:
        changes["next_attempt_at"] = timezone.now()
    _mark([message.id], **changes)


def outbox_relay(*, now: datetime | None = None, limit: int = RELAY_BATCH) -> int:
    """Publish the messages still unsent when due (the beat task calls this); returns how
    many were published.

    The due rows are claimed first, in a short transaction that skips rows another relay has
    locked and pushes each one's next attempt back by its backoff: two relays never publish
    the same claim, and a relay that dies mid-way leaves its claims due again later.
    """
    now = now or timezone.now()
    with transaction.atomic():
        claimed = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", "topic", "object_id", "payload", "attempts")[:limit]
        )
        by_attempts: dict[int, list[int]] = {}
        for message_id, _, _, _, attempts in claimed:
            by_attempts.setdefault(attempts, []).append(message_id)
        for attempts, ids in by_attempts.items():
            OutboxMessage.objects.filter(pk__in=ids).update(
                attempts=attempts + 1, next_attempt_at=now + backoff(attempts + 1)
            )
    if claimed:
        logger.info("outbox relay: publishing %d unsent messages", len(claimed))
    messages = [
        Message(message_id, topic, object_id, payload)
        for message_id, topic, object_id, payload, _ in claimed
    ]
    return messages_publish(messages, relayed=True)


def outbox_prune(*, now: datetime | None = None) -> int:
    """Delete messages sent more than KEEP_SENT ago; returns how many."""
    cutoff = (now or timezone.now()) - KEEP_SENT
    deleted, _ = OutboxMessage.objects.filter(sent_at__lt=cutoff).delete()
    return deleted
