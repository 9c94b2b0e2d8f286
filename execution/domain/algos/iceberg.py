"""Iceberg: one visible clip at a time until the parent is done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
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
    round_up_to_lot,
)
from execution.domain.algos.params import require
from execution.domain.values import ZERO, exact


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Iceberg(Algorithm):
    """Only one clip works at a time: ``visible_pct`` of the parent, at least
    ``min_visible_size`` and the instrument's minimum, on the lot, never more than what is
    left. Limit clips join the touch on the parent's side. When a clip ends (filled, or
    cancelled by the venue) the next one is due at once; a limit clip still working after
    ``max_refresh_time`` is cancelled and, once the cancel is confirmed, replaced at the
    touch of that moment."""

    kind: ClassVar[str] = "iceberg"
    visible_pct: Decimal = Decimal("0.1")
    max_refresh_time: timedelta = timedelta(minutes=1)
    use_limit_orders: bool = True
    min_visible_size: Decimal = ZERO

    def validate(self) -> None:
        Algorithm.validate(self)
        pct = self.visible_pct
        require(0 < pct <= 1, "visible_pct", f"visible_pct must be in (0, 1], got {pct}")
        require(
            self.max_refresh_time > timedelta(0),
            "max_refresh_time",
            f"max_refresh_time must be positive, got {self.max_refresh_time}",
        )
        require(
            self.min_visible_size >= 0,
            "min_visible_size",
            f"min_visible_size must not be negative, got {self.min_visible_size}",
        )

    def clip_size(self, parent: ParentOrder, price: Decimal) -> Decimal | None:
        """The next clip's quantity at ``price``; None when what is left is too small."""
        spec = parent.spec
        with exact():
            visible = spec.round_quantity(parent.quantity * self.visible_pct)
        size = max(
            visible, round_up_to_lot(spec, self.min_visible_size), parent.smallest_child(price)
        )
        return parent.child_size(min(size, parent.remaining_quantity), price)

    def decide(self, parent: ParentOrder, now: datetime, market: MarketView) -> Plan:
        working = parent.working_children
        if working:
            refresh_at = self._refresh_at(parent)
            if refresh_at is not None and now >= refresh_at:
                return parent.cancel_working(now)
            return parent, ()
        mid, touch = market.mid, market.touch(parent.side)
        if mid is None or touch is None:
            return parent, ()
        price = improved_touch(parent, touch, ZERO) if self.use_limit_orders else None
        reference = mid if price is None else price
        size = self.clip_size(parent, reference)
        if size is None:
            remaining = parent.remaining_quantity
            reason = f"the remaining {parent.too_small(remaining, reference)}: no clip can carry it"
            return parent.end(ParentStatus.STOPPED, reason, now)
        parent, place = parent.place(now, market, size, price)
        return parent, (place,)

    def next_due(self, parent: ParentOrder, now: datetime) -> datetime | None:
        if not parent.working_children:
            return now
        return self._refresh_at(parent)

    def exhausted(self, parent: ParentOrder) -> str | None:
        return None  # it works until filled, cancelled or stopped

    def _refresh_at(self, parent: ParentOrder) -> datetime | None:
        """When the working clip is due for a refresh; None while it is being cancelled, or
        for a market clip, which does not rest."""
        clip = parent.working_children[-1]
        if not self.use_limit_orders or clip.cancel_requested_at is not None:
            return None
        return clip.sent_at + self.max_refresh_time
