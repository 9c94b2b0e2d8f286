"""Algorithms on a fixed schedule of slices (TWAP, VWAP).

Slice k of n is due at start + k x duration / n and trades up to the schedule's cumulative
target for the end of its interval: the parent quantity times the share the schedule has
traded by then, rounded down onto the lot. Targets are cumulative, so what rounding or an
instrument minimum holds back, or an unfilled slice leaves, is carried into later slices and
the total comes out exact. A slice first cancels any child of an earlier slice still working
and waits for that cancel's report before sending its own. A call after several slices fell
due takes only the latest, which catches up with the target in one child.

At start + duration the schedule ends: any working child is cancelled and what is left goes
as one market order when ``finish_with_market`` (the default), so the parent completes on
time; otherwise the parent expires with what filled.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from execution.domain.algos.core import (
    Algorithm,
    MarketView,
    ParentOrder,
    ParentStatus,
    Plan,
    improved_touch,
)
from execution.domain.algos.params import require
from execution.domain.values import ZERO, exact, quantize

_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class SlicedSchedule(Algorithm):
    """Slices on a fixed clock; limit slices at the touch improved by ``price_offset_pct``
    (a fraction: 0.0001 is one basis point toward the other side), else market slices."""

    duration: timedelta
    use_limit_orders: bool = False
    price_offset_pct: Decimal = ZERO
    finish_with_market: bool = True

    def validate(self) -> None:
        Algorithm.validate(self)
        require(
            self.duration > timedelta(0),
            "duration",
            f"duration must be positive, got {self.duration}",
        )
        offset = self.price_offset_pct
        require(
            0 <= offset < 1, "price_offset_pct", f"price_offset_pct must be in [0, 1), got {offset}"
        )

    @abstractmethod
    def slice_count(self) -> int: ...

    @abstractmethod
    def schedule_fraction(self, elapsed: Fraction) -> Fraction:
        """The share of the parent the schedule has traded once ``elapsed`` (0 to 1) of the
        duration is over."""

    def slice_due_at(self, parent: ParentOrder, index: int) -> datetime:
        """When slice ``index`` is due; ``index == slice_count()`` is the schedule's end."""
        total = self.duration // _MICROSECOND
        return parent.started_at + timedelta(microseconds=total * index // self.slice_count())

    def tracking_error(self, parent: ParentOrder, now: datetime) -> Decimal:
        """Executed minus the schedule's target at ``now``, as a fraction of the parent
        (positive: ahead of schedule). Each slice trades up to the target for the end of its
        interval, so the error is within a lot (and any minimum-size carry) at each slice's
        end, and ahead by up to a slice in between."""
        elapsed = min(max(now - parent.started_at, timedelta(0)), self.duration)
        target = self.schedule_fraction(
            Fraction(elapsed // _MICROSECOND, self.duration // _MICROSECOND)
        )
        error = Fraction(parent.filled_quantity) / Fraction(parent.quantity) - target
        with exact():
            return quantize(Decimal(error.numerator) / error.denominator)

    def decide(self, parent: ParentOrder, now: datetime, market: MarketView) -> Plan:
        due = self._due_slice(parent, now)
        if due is None:
            return parent, ()
        end = self.slice_count()
        if due == end and not self.finish_with_market:
            reason = f"the schedule ended with {parent.remaining_quantity} unfilled"
            return parent.end(ParentStatus.EXPIRED, reason, now)
        # A slice still working gives way to the one now due; what it leaves is carried.
        parent, cancels = parent.cancel_working(now)
        mid, touch = market.mid, market.touch(parent.side)
        if parent.working_children or mid is None or touch is None:
            return parent, cancels
        if due == end:
            parent, actions = parent.close_with_market(now, market)
            return replace(parent, decision=end + 1), cancels + actions
        parent = replace(parent, decision=due + 1)
        price = None
        if self.use_limit_orders:
            price = improved_touch(parent, touch, self.price_offset_pct)
        target = parent.lots_of(self.schedule_fraction(Fraction(due + 1, end)))
        with exact():
            wanted = target - parent.committed_quantity
        size = parent.child_size(wanted, mid if price is None else price)
        if size is None:
            return parent, cancels
        parent, place = parent.place(now, market, size, price)
        return parent, (*cancels, place)

    def next_due(self, parent: ParentOrder, now: datetime) -> datetime | None:
        if parent.decision > self.slice_count():
            return None
        return self.slice_due_at(parent, parent.decision)

    def exhausted(self, parent: ParentOrder) -> str | None:
        if parent.decision <= self.slice_count():
            return None
        return f"the closing market order ended with {parent.remaining_quantity} unfilled"

    def _due_slice(self, parent: ParentOrder, now: datetime) -> int | None:
        """The latest slice due at ``now`` and not yet taken (the end counts as a slice)."""
        end = self.slice_count()
        if parent.decision > end or now < parent.started_at:
            return None
        elapsed = (now - parent.started_at) // _MICROSECOND
        total = self.duration // _MICROSECOND
        # Slice k is due once total * k // end <= elapsed.
        due = min(end, (elapsed * end + end - 1) // total)
        return due if due >= parent.decision else None
