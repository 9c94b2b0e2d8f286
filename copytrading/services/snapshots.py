"""Daily equity snapshots of subscriptions and follower accounts (the P&L series and the
statistics read them). Idempotent per day: the unique (subscription, day) and (account, day)
keep the first snapshot of a day, so a task delivered twice writes nothing the second time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from django.db.models import Model, Q

from copytrading.models import (
    LIVE_STATUSES,
    CopySubscription,
    FollowerAccountSnapshot,
    SubscriptionEquitySnapshot,
)
from copytrading.selectors import CopyBook, account_valuations, copy_books, instrument_marks
from execution.models import Account
from execution.selectors import utc_today

CHUNK_SIZE = 1000
_T = TypeVar("_T")
_M = TypeVar("_M", bound=Model)


def _chunks(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True, slots=True)
class SnapshotCount:
    subscriptions: int
    accounts: int


def equity_snapshots_take(*, day: date | None = None) -> SnapshotCount:
    """Snapshot every live subscription (and one stopped since the day before), and their
    accounts, at the current marks, as the equity at the start of ``day`` (today, UTC).
    Returns how many rows were new."""
    day = day or utc_today()
    since = datetime.combine(day - timedelta(days=1), time.min, tzinfo=UTC)
    rows = CopySubscription.objects.filter(
        Q(status__in=LIVE_STATUSES) | Q(stopped_at__gte=since)
    ).order_by("pk")
    new_subscriptions = 0
    account_ids: set[int] = set()
    for chunk in _chunks(rows.iterator(chunk_size=CHUNK_SIZE), CHUNK_SIZE):
        books = copy_books([s.pk for s in chunk])
        marks = instrument_marks(i for b in books.values() for i in b.quantities)
        snapshots = [
            SubscriptionEquitySnapshot(
                subscription=s,
                day=day,
                equity=books.get(s.pk, CopyBook()).equity(s.start_capital, marks),
            )
            for s in chunk
        ]
        account_ids.update(s.account_id for s in chunk)
        new_subscriptions += _created(SubscriptionEquitySnapshot, snapshots, day, "subscription")
    new_accounts = 0
    for ids in _chunks(sorted(account_ids), CHUNK_SIZE):
        accounts = list(Account.objects.filter(pk__in=ids))
        valuations = account_valuations(accounts)
        snapshots_ = [
            FollowerAccountSnapshot(
                account=a,
                day=day,
                equity=valuations[a.pk].equity,
                deposited=valuations[a.pk].deposited,
            )
            for a in accounts
        ]
        new_accounts += _created(FollowerAccountSnapshot, snapshots_, day, "account")
    return SnapshotCount(subscriptions=new_subscriptions, accounts=new_accounts)


def _created(model: type[_M], rows: Sequence[_M], day: date, owner: str) -> int:
    """Insert, skipping the (owner, day) pairs already there; the count of new rows."""
    scope: dict[str, Any] = {
        "day": day,
        f"{owner}_id__in": [getattr(r, f"{owner}_id") for r in rows],
    }
    before = model._default_manager.filter(**scope).count()
    model._default_manager.bulk_create(rows, ignore_conflicts=True)
    return model._default_manager.filter(**scope).count() - before
