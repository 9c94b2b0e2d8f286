"""Market: the whole parent as one market order."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import ClassVar

from execution.domain.algos.core import (
    Algorithm,
    MarketView,
    ParentOrder,
    ParentStatus,
    Plan,
    register,
)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Market(Algorithm):
    """One market order for the whole parent; what the book's depth cannot fill expires."""

    kind: ClassVar[str] = "market"

    def decide(self, parent: ParentOrder, now: datetime, market: MarketView) -> Plan:
        mid = market.mid
        if parent.decision or mid is None:
            return parent, ()
        size = parent.child_size(parent.quantity, mid)
        if size is None:
            reason = f"the order is too small: {parent.too_small(parent.quantity, mid)}"
            return parent.end(ParentStatus.STOPPED, reason, now)
        parent, place = parent.place(now, market, size)
        return replace(parent, decision=1), (place,)

    def next_due(self, parent: ParentOrder, now: datetime) -> datetime | None:
        return None if parent.decision else parent.started_at

    def exhausted(self, parent: ParentOrder) -> str | None:
        if not parent.decision:
            return None
        return f"the market order ended with {parent.remaining_quantity} unfilled"
