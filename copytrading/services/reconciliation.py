"""Orphans: follower positions with no leader counterpart.

A live subscription's copied holding in an instrument (what it copied, never more than the
account holds) is an orphan when the leader holds none of it (or holds the other side), or
the part above what the copy ratio implies: the leader's position times the scale of the
subscription's last copy in that instrument (its intended quantity over the leader fill's),
with one lot of tolerance for rounding. Found by ``copy_orphans`` (a read), reported by
``copy_orphans_report`` (the scheduled task) as audit events on the follower's account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from copytrading.models import LIVE_STATUSES, CopySubscription, CopyTrade, CopyTradeKind
from copytrading.selectors import copy_books
from execution.domain.values import ZERO, exact, plain, quantize
from execution.models import EventKind, ExecutionEvent, Instrument, Position

ACTOR = "copytrading:reconciliation"


@dataclass(frozen=True, slots=True)
class Orphan:
    subscription_id: int
    account_id: int
    strategy_id: int
    symbol: str
    instrument_id: int
    held: Decimal  # the copied holding, signed (long positive)
    leader_position: Decimal
    expected: Decimal  # what the copy ratio implies, signed
    quantity: Decimal  # the orphaned part, signed
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {
            "subscription": self.subscription_id, "account": self.account_id,
            "strategy": self.strategy_id, "symbol": self.symbol,
            "held": str(plain(self.held)), "leader_position": str(plain(self.leader_position)),
            "expected": str(plain(self.expected)), "quantity": str(plain(self.quantity)),
            "reason": self.reason,
        }  # fmt: skip


def copy_orphans(
    *, follower_id: int | None = None, subscription_ids: Sequence[int] | None = None
) -> list[Orphan]:
    """The orphans of live subscriptions (of one follower, or these subscriptions)."""
    rows = CopySubscription.objects.filter(status__in=LIVE_STATUSES).select_related("strategy")
    if follower_id is not None:
        rows = rows.filter(follower_id=follower_id)
    if subscription_ids is not None:
        rows = rows.filter(pk__in=subscription_ids)
    subscriptions = list(rows.order_by("pk"))
    if not subscriptions:
        return []
    books = copy_books([s.pk for s in subscriptions])
    instrument_ids = {i for b in books.values() for i in b.quantities}
    instruments = Instrument.objects.in_bulk(list(instrument_ids))
    account_ids = {s.account_id for s in subscriptions} | {
        s.strategy.account_id for s in subscriptions
    }
    positions = {
        (a, i): q
        for a, i, q in Position.objects.filter(
            account_id__in=account_ids, instrument_id__in=instrument_ids
        ).values_list("account_id", "instrument_id", "quantity")
    }
    scales = _last_scales([s.pk for s in subscriptions])
    orphans = []
    for subscription in subscriptions:
        book = books.get(subscription.pk)
        if book is None:
            continue
        for instrument_id, copied in sorted(book.quantities.items()):
            position = positions.get((subscription.account_id, instrument_id), ZERO)
            if not copied or not position or (copied > 0) != (position > 0):
                continue
            held = copied if abs(copied) <= abs(position) else position
            leader = positions.get((subscription.strategy.account_id, instrument_id), ZERO)
            instrument = instruments[instrument_id]
            with exact():
                expected = quantize(leader * scales.get((subscription.pk, instrument_id), ZERO))
                if not leader or (leader > 0) != (held > 0):
                    side = "none" if not leader else "the other side"
                    quantity, reason = held, f"the leader holds {side} of {instrument.symbol}"
                elif abs(held) - abs(expected) > instrument.lot_size:
                    quantity = held - expected
                    reason = (
                        f"more than the copy ratio implies: {plain(abs(expected))} expected "
                        f"of the leader's {plain(abs(leader))}"
                    )
                else:
                    continue
            orphans.append(
                Orphan(
                    subscription_id=subscription.pk, account_id=subscription.account_id,
                    strategy_id=subscription.strategy_id, symbol=instrument.symbol,
                    instrument_id=instrument_id, held=held, leader_position=leader,
                    expected=expected, quantity=quantity, reason=reason,
                )
            )  # fmt: skip
    return orphans


def _last_scales(subscription_ids: Sequence[int]) -> dict[tuple[int, int], Decimal]:
    """(subscription, instrument) -> intended quantity over the leader's fill quantity of the
    last mirror copy (the scale the follower's terms gave the leader's trades last)."""
    rows = (
        CopyTrade.objects.filter(
            subscription_id__in=subscription_ids, kind=CopyTradeKind.MIRROR,
            intended_quantity__gt=0,
        )
        .order_by("subscription_id", "instrument_id", "-created_at", "-pk")
        .values_list("subscription_id", "instrument_id", "intended_quantity",
                     "leader_fill__quantity")
    )  # fmt: skip
    scales: dict[tuple[int, int], Decimal] = {}
    for subscription_id, instrument_id, intended, leader_quantity in rows:
        key = (subscription_id, instrument_id)
        if key not in scales and leader_quantity:
            with exact():
                scales[key] = intended / leader_quantity
    return scales


@transaction.atomic
def copy_orphans_report(*, now: datetime | None = None) -> list[Orphan]:
    """Find every orphan and write a reconciliation audit event on the follower's account for
    each, unless the same orphan (subscription, instrument, quantity) was reported in the
    last day: a standing orphan is reported daily, not on every run."""
    now = now or timezone.now()
    orphans = copy_orphans()
    recent = {
        (d.get("subscription"), d.get("symbol"), d.get("quantity"))
        for d in ExecutionEvent.objects.filter(
            kind=EventKind.RECONCILIATION, actor=ACTOR, created_at__gte=now - timedelta(days=1)
        ).values_list("data", flat=True)
        if isinstance(d, dict)
    }
    events = []
    for orphan in orphans:
        data = orphan.as_dict()
        if (data["subscription"], data["symbol"], data["quantity"]) in recent:
            continue
        events.append(
            ExecutionEvent(
                kind=EventKind.RECONCILIATION, actor=ACTOR, account_id=orphan.account_id,
                instrument_id=orphan.instrument_id,
                message=f"copy orphan: {data['quantity']} {orphan.symbol} of subscription "
                f"{orphan.subscription_id}: {orphan.reason}",
                data={"copy_orphan": True, **data},
            )
        )  # fmt: skip
    ExecutionEvent.objects.bulk_create(events)
    return orphans
