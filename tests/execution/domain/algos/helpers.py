"""Shared inputs for the algorithm tests: an instrument, market views, reports, and a driver
that carries out an algorithm's steps on the real paper venue."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from execution.domain.algos import (
    Algorithm,
    CancelChild,
    ChildReport,
    Finish,
    MarketView,
    ParentOrder,
    PlaceChild,
    Step,
)
from execution.domain.orders import OrderStatus
from execution.domain.values import InstrumentSpec, Side, quantize
from execution.venues.base import VenueFill, VenueOrderReport
from execution.venues.paper import PaperVenue

T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
SYMBOL = "BTCUSDT"
SPEC = InstrumentSpec(
    symbol=SYMBOL,
    base="BTC",
    quote="USDT",
    tick_size=D("0.1"),
    lot_size=D("0.001"),
    min_quantity=D("0.001"),
)


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def view(when=T0, bid="100.0", ask="100.2", volume="0", last=None) -> MarketView:
    return MarketView(
        timestamp=when,
        best_bid=None if bid is None else D(bid),
        best_ask=None if ask is None else D(ask),
        last_price=None if last is None else D(last),
        volume=D(volume),
    )


def start(algo: Algorithm, quantity="1", side=Side.BUY, market=None, spec=SPEC, now=T0) -> Step:
    return algo.start(
        parent_id="P1",
        spec=spec,
        side=side,
        quantity=D(quantity),
        now=now,
        market=market or view(now),
    )


def places(step: Step) -> list[PlaceChild]:
    return [a for a in step.actions if isinstance(a, PlaceChild)]


def cancels(step: Step) -> list[CancelChild]:
    return [a for a in step.actions if isinstance(a, CancelChild)]


def finishes(step: Step) -> list[Finish]:
    return [a for a in step.actions if isinstance(a, Finish)]


def report(
    parent: ParentOrder, client_order_id: str, status: OrderStatus, filled="0", price=None
) -> Step:
    return parent.on_child_report(
        ChildReport(client_order_id, status, D(filled), None if price is None else D(price)),
        T0,
    )


def fill_all(step: Step, price="100.2") -> ParentOrder:
    """Every child the step places fills at once, completely, at ``price``."""
    parent = step.parent
    for place in places(step):
        filled = str(place.request.quantity)
        parent = report(parent, place.client_order_id, OrderStatus.FILLED, filled, price).parent
    return parent


def confirm_cancels(step: Step) -> ParentOrder:
    """The venue confirms every cancel the step asks for, with nothing more filled."""
    parent = step.parent
    for cancel in cancels(step):
        child = next(c for c in parent.children if c.client_order_id == cancel.client_order_id)
        price = None if child.average_price is None else str(child.average_price)
        filled = str(child.filled_quantity)
        status = OrderStatus.CANCELLED
        parent = report(parent, child.client_order_id, status, filled, price).parent
    return parent


def round_trips(parent: ParentOrder) -> bool:
    return ParentOrder.from_dict(json.loads(json.dumps(parent.to_dict()))) == parent


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


Levels = list[tuple[D, D]]


def ladder(best: str, size: str, step: str, depth: int = 5) -> Levels:
    """``depth`` levels of ``size`` from ``best``, ``step`` apart (negative for bids)."""
    return [(D(best) + i * D(step), D(size)) for i in range(depth)]


class PaperRun:
    """Carries out an algorithm's steps on a ``PaperVenue`` with a simulated clock, as the
    live system's scheduler and fill recorder would: every state is saved (JSON round trip)
    before its actions are carried out, and every venue report is fed back."""

    def __init__(self, spec: InstrumentSpec = SPEC) -> None:
        self.clock = Clock()
        self.spec = spec
        self.venue = PaperVenue(instruments=[spec], clock=self.clock)
        self.parent: ParentOrder | None = None
        self.bids: Levels = []
        self.asks: Levels = []
        self.finished: list[Finish] = []
        self.sent: list[PlaceChild] = []

    @property
    def state(self) -> ParentOrder:
        assert self.parent is not None
        return self.parent

    def book(self, when: datetime, bids: Levels, asks: Levels) -> None:
        self.clock.now = when
        self.bids, self.asks = bids, asks
        self._feed_fills(self.venue.update_book(self.spec.symbol, bids, asks, when))

    def trade(self, when: datetime, price: str, quantity: str, aggressor: Side) -> None:
        """A public trade print, which fills our resting orders it reaches."""
        self.clock.now = when
        fills = self.venue.on_trade(self.spec.symbol, D(price), D(quantity), aggressor, when)
        self._feed_fills(fills)

    def view(self, volume: str = "0") -> MarketView:
        return MarketView(
            timestamp=self.clock.now,
            best_bid=self.bids[0][0] if self.bids else None,
            best_ask=self.asks[0][0] if self.asks else None,
            volume=D(volume),
        )

    def start(self, algo: Algorithm, quantity: str, side: Side = Side.BUY) -> None:
        step = algo.start(
            parent_id="P1",
            spec=self.spec,
            side=side,
            quantity=D(quantity),
            now=self.clock.now,
            market=self.view(),
        )
        self._carry_out(step)
        self._act_on_due()

    def tick(self, volume: str = "0") -> None:
        self._carry_out(self.state.on_tick(self.clock.now, self.view(volume)))
        self._act_on_due()

    def run(self, when: Iterable[datetime], bids: Levels, asks: Levels) -> None:
        for moment in when:
            self.book(moment, bids, asks)
            self.tick()

    def venue_average(self) -> D:
        """The volume-weighted average of every venue fill of the parent's children."""
        fills = [
            fill
            for child in self.state.children
            for fill in self._order(child.client_order_id).fills
        ]
        quantity = sum((fill.quantity for fill in fills), D(0))
        notional = sum((fill.quantity * fill.price for fill in fills), D(0))
        return quantize(notional / quantity)

    def venue_filled(self) -> D:
        return sum(
            (self._order(c.client_order_id).filled_quantity for c in self.state.children), D(0)
        )

    # -- internals ---------------------------------------------------------------------------

    def _order(self, client_order_id: str) -> VenueOrderReport:
        order = self.venue.fetch_order(client_order_id)
        assert order is not None
        return order

    def _feed_fills(self, fills: list[VenueFill]) -> None:
        for client_order_id in dict.fromkeys(fill.client_order_id for fill in fills):
            self._feed(self._order(client_order_id))

    def _carry_out(self, step: Step) -> None:
        # Save before send: the live system persists the state, then acts.
        assert round_trips(step.parent)
        self.parent = step.parent
        for action in step.actions:
            if isinstance(action, PlaceChild):
                self.sent.append(action)
                self._feed(
                    self.venue.submit(action.request, client_order_id=action.client_order_id)
                )
            elif isinstance(action, CancelChild):
                order = self._order(action.client_order_id)
                if order.status.is_open:
                    order = self.venue.cancel(action.client_order_id)
                self._feed(order)
            else:
                self.finished.append(action)

    def _feed(self, order: VenueOrderReport) -> None:
        child_report = ChildReport(
            order.client_order_id, order.status, order.filled_quantity, order.average_price
        )
        self._carry_out(self.state.on_child_report(child_report, self.clock.now))

    def _act_on_due(self) -> None:
        """A report can make the next action due at once (the next clip, a replacement):
        the scheduler calls again, with the same view (no new volume)."""
        for _ in range(20):
            due = self.state.next_due_at
            if due is None or due > self.clock.now:
                return
            step = self.state.on_tick(self.clock.now, self.view())
            if not step.actions:
                self._carry_out(step)
                return
            self._carry_out(step)
        raise AssertionError("the algorithm kept acting at one moment")
