"""Market and limit-with-timeout: one child, then the timeout's market fallback or expiry."""

from datetime import timedelta
from decimal import Decimal as D

from execution.domain.algos import LimitWithTimeout, Market, ParentStatus
from execution.domain.orders import OrderStatus, OrderType
from execution.domain.values import InstrumentSpec, Side
from tests.execution.domain.algos.helpers import (
    T0,
    at,
    cancels,
    confirm_cancels,
    finishes,
    places,
    report,
    start,
    view,
)

LIMIT = LimitWithTimeout(timeout=timedelta(minutes=1))
FALLBACK = LimitWithTimeout(timeout=timedelta(minutes=1), fallback_to_market=True)


def test_market_sends_the_whole_parent_as_one_market_order():
    step = start(Market(), quantity="1.5")
    (place,) = places(step)
    assert place.client_order_id == "P1c1"
    assert place.request.order_type is OrderType.MARKET and place.request.quantity == D("1.5")
    assert step.parent.status is ParentStatus.WORKING and step.parent.next_due_at is None
    done = report(step.parent, "P1c1", OrderStatus.FILLED, "1.5", "100.2")
    assert done.parent.status is ParentStatus.FILLED
    assert [f.status for f in finishes(done)] == [ParentStatus.FILLED]


def test_market_remainder_the_book_could_not_fill_expires_the_parent():
    step = start(Market(), quantity="1.5")
    done = report(step.parent, "P1c1", OrderStatus.EXPIRED, "1.2", "100.2")
    assert done.parent.status is ParentStatus.EXPIRED
    assert done.parent.filled_quantity == D("1.2")
    assert "ended with 0.3 unfilled" in finishes(done)[0].reason


def test_market_waits_for_a_two_sided_book():
    step = start(Market(), market=view(ask=None))
    assert step.actions == () and step.parent.next_due_at == T0
    later = step.parent.on_tick(at(seconds=1), view(at(seconds=1)))
    assert [p.request.quantity for p in places(later)] == [D(1)]


def test_market_below_the_minimum_notional_stops_at_once():
    spec = InstrumentSpec("BTCUSDT", "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D("5"))
    step = start(Market(), quantity="0.01", spec=spec)
    assert places(step) == [] and step.parent.status is ParentStatus.STOPPED
    assert "below BTCUSDT's minimum notional 5 USDT" in finishes(step)[0].reason


def test_limit_joins_the_touch_on_its_side_or_uses_the_given_price():
    buy = places(start(LIMIT))[0].request
    assert buy.order_type is OrderType.LIMIT and buy.price == D("100.0")
    sell = places(start(LIMIT, side=Side.SELL))[0].request
    assert sell.price == D("100.2")
    given = LimitWithTimeout(timeout=timedelta(minutes=1), price=D("99.5"))
    assert places(start(given))[0].request.price == D("99.5")


def test_limit_timeout_without_fallback_expires_with_what_filled():
    step = start(LIMIT)
    assert step.parent.next_due_at == at(minutes=1)
    parent = report(step.parent, "P1c1", OrderStatus.PARTIALLY_FILLED, "0.4", "100.0").parent
    assert parent.on_tick(at(seconds=59), view(at(seconds=59))).actions == ()
    timed_out = parent.on_tick(at(minutes=1), view(at(minutes=1)))
    assert [c.client_order_id for c in cancels(timed_out)] == ["P1c1"]
    assert timed_out.parent.status is ParentStatus.EXPIRED
    assert "timed out with 0.6 unfilled" in finishes(timed_out)[0].reason
    parent = confirm_cancels(timed_out)
    assert parent.status is ParentStatus.EXPIRED and parent.filled_quantity == D("0.4")


def test_limit_timeout_with_fallback_sends_the_remainder_as_market_after_the_cancel():
    parent = report(start(FALLBACK).parent, "P1c1", OrderStatus.PARTIALLY_FILLED, "0.4", "100.0")
    timed_out = parent.parent.on_tick(at(minutes=1), view(at(minutes=1)))
    # The market order waits for the cancel: both could fill otherwise.
    assert [type(a).__name__ for a in timed_out.actions] == ["CancelChild"]
    assert timed_out.parent.on_tick(at(minutes=1), view(at(minutes=1))).actions == ()
    parent = confirm_cancels(timed_out)
    assert parent.next_due_at == at(minutes=1)  # overdue: the fallback is due now
    fallback = parent.on_tick(at(minutes=1, seconds=1), view(at(minutes=1, seconds=1)))
    (place,) = places(fallback)
    assert place.request.order_type is OrderType.MARKET and place.request.quantity == D("0.6")
    done = report(fallback.parent, place.client_order_id, OrderStatus.FILLED, "0.6", "100.2")
    assert done.parent.status is ParentStatus.FILLED
    assert done.parent.average_price == D("100.12")  # (0.4 x 100.0 + 0.6 x 100.2) / 1


def test_limit_filled_before_the_timeout_is_done():
    done = report(start(FALLBACK).parent, "P1c1", OrderStatus.FILLED, "1", "100.0")
    assert done.parent.status is ParentStatus.FILLED and done.parent.next_due_at is None
    assert done.parent.on_tick(at(minutes=5), view(at(minutes=5))).actions == ()
