"""POV: a share of the market's traded volume."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from execution.domain.algos.core import (
    Algorithm,
    MarketView,
    ParentOrder,
    ParentStatus,
    Plan,
    improved_touch,
    register,
)
from execution.domain.algos.params import require
from execution.domain.values import ZERO, exact


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Pov(Algorithm):
    """Participates in the volume the market views report. On each view, with no child
    working, it sends what brings its children up to ``participation_rate`` x the volume
    seen since the start, but never more than ``max_participation_rate`` (default: the
    rate) x the volume since its previous child, rounded down onto the lot. A child below
    ``min_child_size`` or the instrument's minimum is not sent: the quantity accumulates
    until it is big enough (the last child may be smaller than ``min_child_size``).

    Volume is what the caller's views say traded (our own fills included, if the feed
    includes them). A limit child that is still working when more volume prints is cancelled,
    and what it left returns to the pool."""

    kind: ClassVar[str] = "pov"
    participation_rate: Decimal
    max_participation_rate: Decimal | None = None
    min_child_size: Decimal = ZERO
    use_limit_orders: bool = False

    def validate(self) -> None:
        Algorithm.validate(self)
        rate = self.participation_rate
        require(
            0 < rate <= 1,
            "participation_rate",
            f"participation_rate must be in (0, 1], got {rate}",
        )
        cap = self.max_participation_rate
        require(
            cap is None or rate <= cap <= 1,
            "max_participation_rate",
            f"max_participation_rate must be in [participation_rate {rate}, 1], got {cap}",
        )
        require(
            self.min_child_size >= 0,
            "min_child_size",
            f"min_child_size must not be negative, got {self.min_child_size}",
        )

    @property
    def cap(self) -> Decimal:
        cap = self.max_participation_rate
        return self.participation_rate if cap is None else cap

    def decide(self, parent: ParentOrder, now: datetime, market: MarketView) -> Plan:
        working = parent.working_children
        if working:
            if self.use_limit_orders and market.volume and market.timestamp > working[-1].sent_at:
                return parent.cancel_working(now)
            return parent, ()
        mid, touch = market.mid, market.touch(parent.side)
        if mid is None or touch is None:
            return parent, ()
        last_child_volume = parent.children[-1].market_volume if parent.children else ZERO
        with exact():
            committed = parent.committed_quantity
            behind = parent.market_volume * self.participation_rate - committed
            room = (parent.market_volume - last_child_volume) * self.cap
            remaining = parent.quantity - committed
        price = improved_touch(parent, touch, ZERO) if self.use_limit_orders else None
        reference = mid if price is None else price
        wanted = min(behind, room, remaining)
        smallest = parent.smallest_child(reference)
        with exact():
            if 0 < remaining - wanted < smallest:
                # Leave a last child the instrument accepts, rather than exceed the cap now.
                wanted = remaining - smallest
        size = parent.spec.round_quantity(wanted)
        if size <= 0 or (size < self.min_child_size and size < remaining):
            return parent, ()
        refusal = parent.too_small(size, reference)
        if refusal is not None:
            if size < remaining:
                return parent, ()  # accumulate
            reason = f"the remaining {refusal}: no child can carry it"
            return parent.end(ParentStatus.STOPPED, reason, now)
        parent, place = parent.place(now, market, size, price)
        return parent, (place,)

    def next_due(self, parent: ParentOrder, now: datetime) -> datetime | None:
        return None  # driven by market data

    def exhausted(self, parent: ParentOrder) -> str | None:
        return None  # it works until filled, cancelled or stopped
