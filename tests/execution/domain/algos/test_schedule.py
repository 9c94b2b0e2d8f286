"""TWAP and VWAP: slice sizes and timing, carry, limit slices, the schedule's end, and VWAP's
tracking error against its profile."""

from datetime import timedelta
from decimal import Decimal as D
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.domain.algos import ParentStatus, Twap, Vwap
from execution.domain.orders import OrderStatus, OrderType
from execution.domain.values import InstrumentSpec, Side
from tests.execution.domain.algos.helpers import (
    T0,
    at,
    cancels,
    confirm_cancels,
    fill_all,
    finishes,
    places,
    report,
    start,
    view,
)

HOUR = timedelta(hours=1)


def test_twap_slices_are_lot_rounded_with_the_remainder_carried_on_a_fixed_schedule():
    step = start(Twap(duration=HOUR, num_slices=3), quantity="1.0")
    sizes, times = [], []
    parent = step.parent
    while True:
        sizes += [p.request.quantity for p in places(step)]
        times += [c.sent_at for c in step.parent.children[len(times) :]]
        parent = fill_all(step)
        if parent.next_due_at is None:
            break
        step = parent.on_tick(parent.next_due_at, view(parent.next_due_at))
    assert sizes == [D("0.333"), D("0.333"), D("0.334")]
    assert times == [T0, at(minutes=20), at(minutes=40)]
    assert parent.status is ParentStatus.FILLED and parent.filled_quantity == D("1.0")


def test_twap_next_due_and_nothing_between_slices():
    parent = fill_all(start(Twap(duration=HOUR, num_slices=3)))
    assert parent.next_due_at == at(minutes=20)
    assert parent.on_tick(at(minutes=19, seconds=59), view(at(minutes=19))).actions == ()


def test_a_late_tick_takes_only_the_latest_slice_and_catches_up_in_one_child():
    parent = fill_all(start(Twap(duration=HOUR, num_slices=3)))
    late = parent.on_tick(at(minutes=45), view(at(minutes=45)))
    assert [p.request.quantity for p in places(late)] == [D("0.667")]
    assert late.parent.next_due_at == at(minutes=60)


def test_slices_below_the_minimum_are_carried_into_later_slices():
    spec = InstrumentSpec("BTCUSDT", "BTC", "USDT", D("0.1"), D("0.001"), D("0.01"))
    step = start(Twap(duration=HOUR, num_slices=10), quantity="0.05", spec=spec)
    sent = []
    parent = step.parent
    while parent.next_due_at is not None:
        sent += [p.request.quantity for p in places(step)]
        parent = fill_all(step)
        step = parent.on_tick(parent.next_due_at, view(parent.next_due_at))
    sent += [p.request.quantity for p in places(step)]
    parent = fill_all(step)
    assert sent == [D("0.01")] * 5 and parent.status is ParentStatus.FILLED


def test_limit_slices_are_priced_at_the_touch_improved_and_rounded_on_the_passive_side():
    twap = Twap(duration=HOUR, num_slices=3, use_limit_orders=True, price_offset_pct=D("0.0007"))
    buy = places(start(twap, market=view(bid="100.0", ask="100.5")))[0].request
    assert buy.order_type is OrderType.LIMIT
    assert buy.price == D("100.0")  # 100.07 rounds down onto the tick for a buy
    sell = places(start(twap, side=Side.SELL, market=view(bid="99.5", ask="100.0")))[0].request
    assert sell.price == D("100.0")  # 99.93 rounds up for a sell
    wide = places(start(twap, market=view(bid="1000.0", ask="1002.0")))[0].request
    assert wide.price == D("1000.7")


def test_an_unfilled_limit_slice_is_cancelled_when_the_next_is_due_and_its_remainder_carried():
    twap = Twap(duration=HOUR, num_slices=3, use_limit_orders=True)
    step = start(twap, quantity="1.0")
    parent = report(step.parent, "P1c1", OrderStatus.PARTIALLY_FILLED, "0.1", "100.0").parent
    second = parent.on_tick(at(minutes=20), view(at(minutes=20)))
    assert [c.client_order_id for c in cancels(second)] == ["P1c1"] and places(second) == []
    assert second.parent.on_tick(at(minutes=20), view(at(minutes=20))).actions == ()
    parent = confirm_cancels(second)
    resent = parent.on_tick(at(minutes=20, seconds=1), view(at(minutes=20, seconds=1)))
    # Target by 40 minutes is 0.666; 0.1 filled, so 0.566 (0.233 carried from slice one).
    assert [p.request.quantity for p in places(resent)] == [D("0.566")]
    assert resent.parent.next_due_at == at(minutes=40)


def test_the_schedule_ends_with_a_market_order_for_what_is_left():
    twap = Twap(duration=HOUR, num_slices=2, use_limit_orders=True)
    parent = start(twap).parent
    parent = report(parent, "P1c1", OrderStatus.FILLED, "0.5", "100.0").parent
    parent = parent.on_tick(at(minutes=30), view(at(minutes=30))).parent  # slice two rests
    end = parent.on_tick(at(minutes=60), view(at(minutes=60)))
    assert [c.client_order_id for c in cancels(end)] == ["P1c2"]
    parent = confirm_cancels(end)
    closing = parent.on_tick(at(minutes=60), view(at(minutes=60)))
    (place,) = places(closing)
    assert place.request.order_type is OrderType.MARKET and place.request.quantity == D("0.5")
    assert report(closing.parent, "P1c3", OrderStatus.FILLED, "0.5", "100.2").parent.status == (
        ParentStatus.FILLED
    )
    short = report(closing.parent, "P1c3", OrderStatus.EXPIRED, "0.2", "100.2")
    assert short.parent.status is ParentStatus.EXPIRED
    assert "closing market order ended with 0.3 unfilled" in finishes(short)[0].reason


def test_without_finish_with_market_the_schedule_end_expires_the_parent():
    twap = Twap(duration=HOUR, num_slices=2, use_limit_orders=True, finish_with_market=False)
    parent = report(start(twap).parent, "P1c1", OrderStatus.FILLED, "0.5", "100.0").parent
    parent = parent.on_tick(at(minutes=30), view(at(minutes=30))).parent
    end = parent.on_tick(at(minutes=60), view(at(minutes=60)))
    assert [type(a).__name__ for a in end.actions] == ["CancelChild", "Finish"]
    assert end.parent.status is ParentStatus.EXPIRED
    assert finishes(end)[0].reason == "the schedule ended with 0.5 unfilled"


def test_a_one_sided_book_makes_the_slice_wait_while_it_stays_due():
    step = start(Twap(duration=HOUR, num_slices=3), market=view(bid=None))
    assert step.actions == () and step.parent.next_due_at == T0
    later = step.parent.on_tick(at(minutes=5), view(at(minutes=5)))
    assert [p.request.quantity for p in places(later)] == [D("0.333")]


U_SHAPE = ("4", "2", "1", "1", "2", "4")


def test_vwap_slices_follow_the_profile():
    vwap = Vwap(duration=timedelta(hours=6), profile=U_SHAPE)
    step = start(vwap, quantity="1.4")
    sizes = []
    parent = step.parent
    while parent.next_due_at is not None:
        sizes += [p.request.quantity for p in places(step)]
        parent = fill_all(step)
        step = parent.on_tick(parent.next_due_at, view(parent.next_due_at))
    assert sizes == [D("0.4"), D("0.2"), D("0.1"), D("0.1"), D("0.2"), D("0.4")]
    assert parent.status is ParentStatus.FILLED


def test_vwap_schedule_fraction_is_the_cumulative_profile_linear_within_a_bucket():
    vwap = Vwap(duration=HOUR, profile=("1", "3"))
    assert vwap.schedule_fraction(Fraction(0)) == 0
    assert vwap.schedule_fraction(Fraction(1, 4)) == Fraction(1, 8)
    assert vwap.schedule_fraction(Fraction(1, 2)) == Fraction(1, 4)
    assert vwap.schedule_fraction(Fraction(3, 4)) == Fraction(5, 8)
    assert vwap.schedule_fraction(Fraction(1)) == 1


@settings(max_examples=60, deadline=None)
@given(
    profile=st.lists(st.integers(0, 20), min_size=1, max_size=12).filter(any),
    slices_per_bucket=st.integers(1, 3),
    lots=st.integers(1, 5_000),
    min_lots=st.integers(1, 5),
)
def test_vwap_tracking_error_at_each_bucket_end_is_within_a_lot_plus_the_minimum_carry(
    profile, slices_per_bucket, lots, min_lots
):
    spec = InstrumentSpec("BTCUSDT", "BTC", "USDT", D("0.1"), D("0.001"), min_lots * D("0.001"))
    quantity = max(lots, min_lots) * spec.lot_size
    vwap = Vwap(
        duration=timedelta(hours=len(profile)),
        profile=tuple(map(str, profile)),
        slices_per_bucket=slices_per_bucket,
    )
    parent = fill_all(start(vwap, quantity=str(quantity), spec=spec))
    bound = (spec.lot_size + spec.min_quantity) / quantity
    for bucket in range(1, len(profile) + 1):
        bucket_end = T0 + timedelta(hours=bucket)
        while parent.next_due_at is not None and parent.next_due_at < bucket_end:
            parent = fill_all(parent.on_tick(parent.next_due_at, view(parent.next_due_at)))
        # Fills are immediate; at a bucket's end, just before the next slice trades.
        assert abs(vwap.tracking_error(parent, bucket_end)) <= bound
        parent = fill_all(parent.on_tick(bucket_end, view(bucket_end)))
    assert parent.status is ParentStatus.FILLED


def test_tracking_error_is_positive_ahead_of_the_profile():
    vwap = Vwap(duration=HOUR, profile=("1", "1"))
    parent = fill_all(start(vwap, quantity="1"))
    assert vwap.tracking_error(parent, T0) == D("0.5")  # the first half is bought at once
    assert vwap.tracking_error(parent, at(minutes=30)) == 0
    assert vwap.tracking_error(parent, at(minutes=45)) == D("-0.25")


@pytest.mark.parametrize("num_slices", [1, 7, 60])
def test_slice_times_divide_the_duration_evenly(num_slices):
    twap = Twap(duration=HOUR, num_slices=num_slices)
    parent = start(twap).parent
    times = [twap.slice_due_at(parent, k) for k in range(num_slices + 1)]
    assert times[0] == T0 and times[-1] == T0 + HOUR
    assert times == sorted(times)
    assert twap.slice_due_at(parent, 1) == T0 + HOUR / num_slices
