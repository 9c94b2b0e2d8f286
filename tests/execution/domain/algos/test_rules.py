"""Rules every algorithm keeps: the slippage breaker, idempotent ticks and reports, the JSON
round trip, derived status and prices, and a property over random parents, instruments,
schedules and fills."""

import random
from datetime import timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.domain.algos import (
    CancelChild,
    ChildOrder,
    ChildReport,
    Iceberg,
    LimitWithTimeout,
    Market,
    ParentOrder,
    ParentStatus,
    PlaceChild,
    Pov,
    Step,
    Twap,
    Vwap,
)
from execution.domain.errors import DomainError
from execution.domain.orders import OrderStatus
from execution.domain.values import InstrumentSpec, Side
from tests.execution.domain.algos.helpers import (
    T0,
    at,
    cancels,
    finishes,
    places,
    report,
    round_trips,
    start,
    view,
)

ALGORITHMS = [
    Market(),
    LimitWithTimeout(timeout=timedelta(minutes=5), fallback_to_market=True),
    Twap(duration=timedelta(minutes=30), num_slices=3, use_limit_orders=True),
    Iceberg(visible_pct=D("0.3")),
    Vwap(duration=timedelta(minutes=30), profile=(D(2), D(1), D(2))),
    Pov(participation_rate=D("0.5")),
]
IDS = [algo.kind for algo in ALGORITHMS]


def test_a_child_filled_beyond_max_child_slippage_bps_stops_the_parent():
    twap = Twap(duration=timedelta(minutes=30), num_slices=3, max_child_slippage_bps=D(20))
    step = start(twap, quantity="3", market=view(bid="100.0", ask="100.2"))  # mid 100.1
    # 100.3 is 19.98 bps above the arrival mid: within the limit.
    parent = report(step.parent, "P1c1", OrderStatus.PARTIALLY_FILLED, "0.5", "100.3").parent
    assert parent.status is ParentStatus.PARTIALLY_FILLED
    tripped = report(parent, "P1c1", OrderStatus.FILLED, "1", "100.4")  # 29.97 bps
    assert tripped.parent.status is ParentStatus.STOPPED
    (finish,) = finishes(tripped)
    assert finish.reason.startswith("slippage breaker: child P1c1 filled at an average 100.4, ")
    assert "29.97 bps worse than its arrival mid 100.1" in finish.reason
    assert "max_child_slippage_bps 20" in finish.reason
    assert tripped.parent.next_due_at is None
    assert tripped.parent.on_tick(at(minutes=10), view(at(minutes=10))).actions == ()


def test_the_breaker_cancels_working_children_and_judges_a_sell_the_other_way():
    iceberg = Iceberg(visible_pct=D("0.5"), use_limit_orders=False, max_child_slippage_bps=D(10))
    step = start(iceberg, side=Side.SELL, market=view(bid="100.0", ask="100.2"))
    better = report(step.parent, "P1c1", OrderStatus.FILLED, "0.5", "100.3")
    assert better.parent.status is ParentStatus.PARTIALLY_FILLED  # a sell above the mid: fine
    step = better.parent.on_tick(at(seconds=1), view(at(seconds=1)))
    worse = report(step.parent, "P1c2", OrderStatus.PARTIALLY_FILLED, "0.1", "99.9")
    assert worse.parent.status is ParentStatus.STOPPED
    assert [c.client_order_id for c in cancels(worse)] == ["P1c2"]


def test_a_rejected_child_stops_the_parent():
    step = start(Twap(duration=timedelta(minutes=30), num_slices=3))
    rejected = report(step.parent, "P1c1", OrderStatus.REJECTED)
    assert rejected.parent.status is ParentStatus.STOPPED
    assert finishes(rejected)[0].reason == "child P1c1 was rejected by the venue"


def test_reports_are_idempotent_and_older_news_changes_nothing():
    parent = start(LimitWithTimeout(timeout=timedelta(minutes=1))).parent
    parent = report(parent, "P1c1", OrderStatus.SUBMITTED).parent
    later = report(parent, "P1c1", OrderStatus.PARTIALLY_FILLED, "0.4", "100.0").parent
    assert report(later, "P1c1", OrderStatus.PARTIALLY_FILLED, "0.4", "100.0").parent == later
    assert report(later, "P1c1", OrderStatus.SUBMITTED).parent == later
    assert later.filled_quantity == D("0.4") and later.average_price == D("100.0")
    with pytest.raises(DomainError, match="P1c9 is not a child of parent order P1"):
        report(later, "P1c9", OrderStatus.FILLED, "1", "100")
    with pytest.raises(DomainError, match="reported filled 2, above its quantity 1"):
        report(later, "P1c1", OrderStatus.FILLED, "2", "100")


def test_cancelling_the_parent_cancels_its_children_and_a_late_fill_still_counts():
    parent = start(LimitWithTimeout(timeout=timedelta(minutes=1))).parent
    cancelled = parent.cancel(at(seconds=5))
    assert [type(a).__name__ for a in cancelled.actions] == ["CancelChild", "Finish"]
    assert cancelled.parent.status is ParentStatus.CANCELLED
    assert cancelled.parent.cancel(at(seconds=6)).actions == ()
    late = report(cancelled.parent, "P1c1", OrderStatus.FILLED, "1", "100.0")
    assert late.actions == () and late.parent.status is ParentStatus.FILLED


def test_derived_average_price_is_the_volume_weighted_average_of_the_children():
    step = start(Iceberg(visible_pct=D("0.5"), use_limit_orders=False), quantity="0.6")
    parent = report(step.parent, "P1c1", OrderStatus.FILLED, "0.3", "100.1").parent
    parent = parent.on_tick(at(seconds=1), view(at(seconds=1))).parent
    # A venue's average over several fills can be rounded to 18 places.
    parent = report(parent, "P1c2", OrderStatus.FILLED, "0.3", "100.166666666666666667").parent
    assert parent.filled_quantity == D("0.6")
    assert parent.average_price == D("100.133333333333333333")  # (30.03 + 30.05) / 0.6


@pytest.mark.parametrize("algo", ALGORITHMS, ids=IDS)
def test_calling_on_tick_twice_at_the_same_time_sends_nothing_the_second_time(algo):
    parent = start(algo, market=view(volume="0")).parent
    for seconds in (0, 1, 600, 1800, 1801):
        now = at(seconds=seconds)
        market = view(now, volume="1")
        first = parent.on_tick(now, market)
        second = first.parent.on_tick(now, market)
        assert second.actions == () and second.parent == first.parent
        parent = first.parent


@pytest.mark.parametrize("algo", ALGORITHMS, ids=IDS)
def test_nothing_is_sent_into_a_one_sided_book(algo):
    step = start(algo, market=view(bid=None))
    for seconds in (1, 600, 1800):
        step = step.parent.on_tick(
            at(seconds=seconds), view(at(seconds=seconds), ask=None, volume="1")
        )
        assert places(step) == []
    assert step.parent.children == () and step.parent.filled_quantity == 0


def test_views_are_validated():
    with pytest.raises(DomainError, match="crossed book: best bid 100.2 is at or above"):
        view(bid="100.2", ask="100.2")
    with pytest.raises(DomainError, match="volume must not be negative"):
        view(volume="-1")
    with pytest.raises(DomainError, match="best bid must be greater than zero"):
        view(bid="0")
    assert view(bid=None).mid is None and view().mid == D("100.1")


# -- a property over random parents, instruments, schedules and fills ------------------------

algorithms = st.one_of(
    st.just(Market()),
    st.builds(
        LimitWithTimeout,
        timeout=st.integers(1, 600).map(lambda s: timedelta(seconds=s)),
        fallback_to_market=st.booleans(),
    ),
    st.builds(
        Twap,
        duration=st.integers(1, 3_600).map(lambda s: timedelta(seconds=s)),
        num_slices=st.integers(1, 12),
        use_limit_orders=st.booleans(),
        finish_with_market=st.booleans(),
    ),
    st.builds(
        Iceberg,
        visible_pct=st.integers(1, 100).map(lambda p: D(p) / 100),
        max_refresh_time=st.integers(1, 600).map(lambda s: timedelta(seconds=s)),
        use_limit_orders=st.booleans(),
        min_visible_size=st.integers(0, 50).map(lambda n: n * D("0.001")),
    ),
    st.builds(
        Vwap,
        duration=st.integers(1, 3_600).map(lambda s: timedelta(seconds=s)),
        profile=st.lists(st.integers(0, 9).map(D), min_size=1, max_size=8).filter(any).map(tuple),
        slices_per_bucket=st.integers(1, 3),
        use_limit_orders=st.booleans(),
    ),
    st.builds(
        Pov,
        participation_rate=st.integers(1, 100).map(lambda p: D(p) / 100),
        min_child_size=st.integers(0, 20).map(lambda n: n * D("0.001")),
        use_limit_orders=st.booleans(),
    ),
)


def check_invariants(parent: ParentOrder) -> None:
    spec = parent.spec
    # What the children have filled plus what the working ones may still fill.
    assert parent.committed_quantity <= parent.quantity
    fills = sum((child.filled_quantity for child in parent.children), D(0))
    assert parent.filled_quantity == fills <= parent.quantity
    assert (parent.status is ParentStatus.FILLED) == (fills == parent.quantity)
    for child in parent.children:
        assert child.quantity % spec.lot_size == 0 and child.quantity >= spec.min_quantity
        assert child.quantity * (child.price or child.arrival_mid) >= spec.min_notional
    assert round_trips(parent)


class RandomVenue:
    """Fills children partly or fully at the touch, at random; confirms cancels; and now and
    then delivers an old report again, which must change nothing."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.delivered: list[ChildReport] = []

    def answer(self, parent: ParentOrder, child: ChildOrder, closing: bool) -> ParentOrder:
        lots = int((child.quantity - child.filled_quantity) / parent.spec.lot_size)
        filled = child.filled_quantity + self.rng.randint(0, lots) * parent.spec.lot_size
        if filled == child.quantity:
            status = OrderStatus.FILLED
        elif child.price is None:
            status = OrderStatus.EXPIRED  # a market order's remainder does not rest
        elif closing:
            status = OrderStatus.CANCELLED
        else:
            status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.SUBMITTED
        price = (D("100.2") if parent.side is Side.BUY else D("100.0")) if filled else None
        answer = ChildReport(child.client_order_id, status, filled, price)
        self.delivered.append(answer)
        parent = parent.on_child_report(answer, T0).parent
        check_invariants(parent)
        if self.rng.random() < 0.2:
            old = self.rng.choice(self.delivered)
            assert parent.on_child_report(old, T0) == Step(parent)
        return parent

    def carry_out(self, step: Step) -> ParentOrder:
        parent = step.parent
        for action in step.actions:
            if isinstance(action, PlaceChild | CancelChild):
                child = next(
                    c for c in parent.children if c.client_order_id == action.client_order_id
                )
                if child.is_working:
                    parent = self.answer(parent, child, isinstance(action, CancelChild))
        return parent

    def trade(self, parent: ParentOrder) -> ParentOrder:
        """Between ticks, the market trades with some of the resting children."""
        for child in parent.working_children:
            if self.rng.random() < 0.5:
                parent = self.answer(parent, child, closing=False)
        return parent


@settings(max_examples=150, deadline=None)
@given(
    algo=algorithms,
    side=st.sampled_from(Side),
    lot_exponent=st.integers(0, 4),
    min_lots=st.integers(1, 10),
    min_notional=st.sampled_from([D(0), D(5), D(50)]),
    parent_lots=st.integers(1, 3_000),
    seed=st.integers(0, 2**32),
)
def test_children_never_exceed_the_parent_and_its_fills_are_theirs(
    algo, side, lot_exponent, min_lots, min_notional, parent_lots, seed
):
    lot = D(1).scaleb(-lot_exponent)
    spec = InstrumentSpec("BTCUSDT", "BTC", "USDT", D("0.1"), lot, min_lots * lot, min_notional)
    quantity = max(parent_lots, min_lots) * lot
    venue = RandomVenue(seed)
    now = T0
    step = start(algo, quantity=str(quantity), side=side, spec=spec)
    for _ in range(80):
        check_invariants(step.parent)
        parent = venue.carry_out(step)
        if parent.ending is not None and not parent.working_children:
            break
        now += timedelta(seconds=venue.rng.randint(1, 300))
        parent = venue.trade(parent)
        step = parent.on_tick(now, view(now, volume=str(venue.rng.randint(0, 3_000) * lot)))
    check_invariants(parent)
