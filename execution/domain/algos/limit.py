"""Limit with a timeout: one limit child, then at the timeout a market order for what is
left (``fallback_to_market``) or the end of the parent."""

from __future__ import annotations

from dataclasses import dataclass, replace
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
)
from execution.domain.algos.params import require
from execution.domain.orders import TimeInForce
from execution.domain.values import ZERO

# ParentOrder.decision counts these steps.
_PLACED = 1
_TIMED_OUT = 2


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class LimitWithTimeout(Algorithm):
    """A limit child at ``price``, or at the touch on the parent's side when no price is
    given. At start + ``timeout`` the child is cancelled; once the cancel is confirmed, what
    is left goes as one market order if ``fallback_to_market``, else the parent expires with
    what filled."""

    kind: ClassVar[str] = "limit"
    timeout: timedelta
    fallback_to_market: bool = False
    price: Decimal | None = None
    # Post-only: the venue rejects the child rather than let it take liquidity (and a
    # rejected child stops the parent).
    post_only: bool = False

    def validate(self) -> None:
        Algorithm.validate(self)
        require(
            self.timeout > timedelta(0), "timeout", f"timeout must be positive, got {self.timeout}"
        )
        require(
            self.price is None or self.price > 0,
            "price",
            f"price must be greater than zero, got {self.price}",
        )

    def fixed_prices(self) -> tuple[Decimal, ...]:
        return () if self.price is None else (self.price,)

    def decide(self, parent: ParentOrder, now: datetime, market: MarketView) -> Plan:
        mid, touch = market.mid, market.touch(parent.side)
        if parent.decision < _TIMED_OUT and now >= parent.started_at + self.timeout:
            if not self.fallback_to_market:
                reason = f"the limit order timed out with {parent.remaining_quantity} unfilled"
                return parent.end(ParentStatus.EXPIRED, reason, now)
            parent, cancels = parent.cancel_working(now)
            if parent.working_children or mid is None:
                return parent, cancels
            parent, actions = parent.close_with_market(now, market)
            return replace(parent, decision=_TIMED_OUT), cancels + actions
        if parent.decision or mid is None or touch is None:
            return parent, ()
        price = improved_touch(parent, touch, ZERO) if self.price is None else self.price
        size = parent.child_size(parent.quantity, price)
        if size is None:
            reason = f"the order is too small: {parent.too_small(parent.quantity, price)}"
            return parent.end(ParentStatus.STOPPED, reason, now)
        tif = TimeInForce.POST_ONLY if self.post_only else TimeInForce.GTC
        parent, place = parent.place(now, market, size, price, time_in_force=tif)
        return replace(parent, decision=_PLACED), (place,)

    def next_due(self, parent: ParentOrder, now: datetime) -> datetime | None:
        if not parent.decision:
            return parent.started_at
        return parent.started_at + self.timeout if parent.decision == _PLACED else None

    def exhausted(self, parent: ParentOrder) -> str | None:
        if parent.decision < _TIMED_OUT:
            return None
        return f"the fallback market order ended with {parent.remaining_quantity} unfilled"
