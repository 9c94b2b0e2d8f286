"""Iceberg clips (size, next clip on fill, refresh after max_refresh_time) and POV
participation (rate, cap, accumulation below the minimum child)."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.domain.algos import Iceberg, ParentStatus, Pov
from execution.domain.orders import OrderStatus, OrderType
from execution.domain.values import InstrumentSpec
from tests.execution.domain.algos.helpers import (
    SPEC,
    T0,
    at,
    cancels,
    confirm_cancels,
    fill_all,
    places,
    report,
    start,
    view,
)

ICEBERG = Iceberg(visible_pct=D("0.25"), max_refresh_time=timedelta(seconds=30))


def test_iceberg_shows_one_clip_of_the_visible_size_at_the_touch():
    step = start(ICEBERG, quantity="1")
    (place,) = places(step)
    assert place.request.order_type is OrderType.LIMIT
    assert place.request.quantity == D("0.25") and place.request.price == D("100.0")
    assert step.parent.next_due_at == at(seconds=30)
    assert step.parent.on_tick(at(seconds=10), view(at(seconds=10))).actions == ()


@pytest.mark.parametrize(
    ("iceberg", "min_notional", "clip"),
    [
        (Iceberg(visible_pct=D("0.1234")), "0", "0.123"),  # rounded down onto the lot
        (Iceberg(visible_pct=D("0.01"), min_visible_size=D("0.0505")), "0", "0.051"),
        (Iceberg(visible_pct=D("0.01")), "10", "0.1"),  # 0.01 is worth 1 USDT: below 10
    ],
)
def test_iceberg_first_clip_size(iceberg, min_notional, clip):
    spec = InstrumentSpec("BTCUSDT", "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), min_notional)
    assert places(start(iceberg, quantity="1", spec=spec))[0].request.quantity == D(clip)


def clip_sizes(iceberg, spec):
    parent = start(iceberg, quantity="1", spec=spec).parent
    while parent.status is not ParentStatus.FILLED:
        clip = parent.children[-1]
        parent = report(parent, clip.client_order_id, OrderStatus.FILLED, str(clip.quantity), "100")
        parent = parent.parent.on_tick(T0, view()).parent
    return [child.quantity for child in parent.children]


def test_clips_are_never_more_than_what_is_left_nor_leave_a_rest_too_small_to_send():
    iceberg = Iceberg(visible_pct=D("0.3"))
    assert clip_sizes(iceberg, SPEC) == [D("0.3"), D("0.3"), D("0.3"), D("0.1")]
    spec = InstrumentSpec("BTCUSDT", "BTC", "USDT", D("0.1"), D("0.001"), D("0.05"))
    # 0.32 would leave 0.04, below the minimum of 0.05: the last clip takes it along.
    iceberg = Iceberg(visible_pct=D("0.32"))
    assert clip_sizes(iceberg, spec) == [D("0.32"), D("0.32"), D("0.36")]


def test_a_filled_clip_makes_the_next_clip_due_at_once_at_the_new_touch():
    parent = start(ICEBERG, quantity="1").parent
    filled = report(parent, "P1c1", OrderStatus.FILLED, "0.25", "100.0")
    assert filled.actions == () and filled.parent.next_due_at == T0
    nxt = filled.parent.on_tick(at(seconds=1), view(at(seconds=1), bid="99.8", ask="100.0"))
    (place,) = places(nxt)
    assert place.client_order_id == "P1c2" and place.request.price == D("99.8")
    assert place.request.quantity == D("0.25")


def test_a_clip_working_past_max_refresh_time_is_cancelled_then_replaced_at_the_touch():
    parent = start(ICEBERG, quantity="1").parent
    parent = report(parent, "P1c1", OrderStatus.PARTIALLY_FILLED, "0.1", "100.0").parent
    refresh = parent.on_tick(at(seconds=30), view(at(seconds=30), bid="100.5", ask="100.7"))
    assert [c.client_order_id for c in cancels(refresh)] == ["P1c1"] and places(refresh) == []
    assert refresh.parent.next_due_at is None  # waiting for the cancel's report
    assert refresh.parent.on_tick(at(seconds=31), view(at(seconds=31))).actions == ()
    parent = confirm_cancels(refresh)
    assert parent.next_due_at == T0
    replaced = parent.on_tick(at(seconds=31), view(at(seconds=31), bid="100.5", ask="100.7"))
    (place,) = places(replaced)
    assert place.request.price == D("100.5") and place.request.quantity == D("0.25")
    assert replaced.parent.next_due_at == at(seconds=61)


def test_market_clips_follow_each_other_without_refresh():
    iceberg = Iceberg(visible_pct=D("0.5"), use_limit_orders=False)
    step = start(iceberg, quantity="1")
    assert places(step)[0].request.order_type is OrderType.MARKET
    assert step.parent.next_due_at is None
    parent = fill_all(step)
    parent = fill_all(parent.on_tick(at(seconds=1), view(at(seconds=1))))
    assert parent.status is ParentStatus.FILLED and len(parent.children) == 2


POV = Pov(participation_rate=D("0.1"), max_participation_rate=D("0.2"))


def tick(parent, seconds, volume, **book):
    return parent.on_tick(at(seconds=seconds), view(at(seconds=seconds), volume=volume, **book))


def test_pov_sends_the_rate_times_the_volume_seen_since_the_start():
    step = start(POV, quantity="1", market=view(volume="50"))  # earlier volume is not ours
    assert step.actions == () and step.parent.next_due_at is None
    step = tick(step.parent, 1, "2")
    assert [p.request.quantity for p in places(step)] == [D("0.2")]
    assert places(step)[0].request.order_type is OrderType.MARKET
    parent = fill_all(step)
    assert [p.request.quantity for p in places(tick(parent, 2, "3.05"))] == [D("0.305")]


def test_pov_volume_of_a_repeated_view_is_counted_once():
    parent = fill_all(tick(start(POV, quantity="1").parent, 1, "2"))
    again = parent.on_tick(at(seconds=1), view(at(seconds=1), volume="2"))
    assert again.actions == () and again.parent.market_volume == D(2)


def test_pov_below_the_minimum_child_accumulates_until_big_enough():
    pov = Pov(participation_rate=D("0.1"), min_child_size=D("0.05"))
    parent = start(pov, quantity="1").parent
    for second in range(1, 5):
        step = tick(parent, second, "0.1")
        assert step.actions == ()
        parent = step.parent
    step = tick(parent, 5, "0.1")
    assert [p.request.quantity for p in places(step)] == [D("0.05")]


def test_pov_catching_up_is_capped_at_the_max_rate_of_the_volume_since_the_last_child():
    parent = start(Pov(participation_rate=D("0.5"), max_participation_rate=D("0.6"))).parent
    step = tick(parent, 1, "1")
    parent = report(step.parent, "P1c1", OrderStatus.EXPIRED, "0.1", "100.2").parent
    # 0.5 x 2 = 1.0 is due and only 0.1 done, but 0.6 x 1 caps this child at 0.6.
    assert [p.request.quantity for p in places(tick(parent, 2, "1"))] == [D("0.6")]


def test_pov_limit_child_is_cancelled_when_more_volume_prints_and_its_remainder_returns():
    pov = Pov(participation_rate=D("0.1"), use_limit_orders=True)
    step = tick(start(pov, quantity="1").parent, 1, "2")
    assert places(step)[0].request.price == D("100.0")
    stale = tick(step.parent, 2, "2")
    assert [c.client_order_id for c in cancels(stale)] == ["P1c1"]
    parent = confirm_cancels(stale)
    assert [p.request.quantity for p in places(tick(parent, 3, "0"))] == [D("0.2")]


@settings(max_examples=60, deadline=None)
@given(
    rate_pct=st.integers(1, 50),
    extra_pct=st.integers(0, 50),
    volumes=st.lists(st.integers(0, 5_000), min_size=1, max_size=40),
    min_child_lots=st.integers(0, 50),
    parent_lots=st.integers(1, 20_000),
)
def test_pov_participation_stays_within_the_cap(
    rate_pct, extra_pct, volumes, min_child_lots, parent_lots
):
    rate = D(rate_pct) / 100
    cap = min(D(1), rate + D(extra_pct) / 100)
    pov = Pov(
        participation_rate=rate,
        max_participation_rate=cap,
        min_child_size=min_child_lots * D("0.001"),
    )
    parent = start(pov, quantity=str(parent_lots * D("0.001"))).parent
    last_child_volume = D(0)
    for second, lots in enumerate(volumes, start=1):
        step = tick(parent, second, str(lots * D("0.001")))
        for place in places(step):
            seen = step.parent.market_volume
            assert place.request.quantity <= cap * (seen - last_child_volume)
            last_child_volume = seen
        parent = fill_all(step)
        assert parent.filled_quantity <= cap * parent.market_volume
        assert parent.filled_quantity <= parent.quantity
