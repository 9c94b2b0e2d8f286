"""A parent order records the book it met and when its signal came, and its execution quality
is measured against one market order walking that book."""

from datetime import datetime, timedelta
from decimal import Decimal as D

import pytest
from django.apps import apps
from django.conf import settings
from django.utils import timezone

from execution import selectors
from execution.domain.errors import DomainError
from execution.models import Fill, ParentOrder
from execution.services.algos import ARRIVAL_BOOK_LEVELS, parent_order_place, parent_order_run
from execution.services.marketdata import paper_book_update
from execution.services.signal_execution import signal_execute
from execution.services.venues import paper_reset
from tests.factories import make_account, make_instrument, make_user

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: children go out on commit

TAKER = D(settings.PAPER_TAKER_FEE_RATE)


@pytest.fixture(autouse=True)
def clean_market():
    paper_reset()
    yield
    paper_reset()


@pytest.fixture
def trader():
    make_instrument("BTC-USDT", mark="20000", tick="0.1", lot="0.001", min_notional="5")
    return make_account(make_user("quality"), deposit=D(10_000_000))


def deep_book(at=None, *, levels=60, size="0.1", mid=D(20000)):
    """``levels`` levels a side, ``size`` each, one tick apart from mid -/+ 0.1."""
    paper_book_update(
        symbol="BTC-USDT",
        bids=[(mid - D("0.1") - D(n) / 10, D(size)) for n in range(levels)],
        asks=[(mid + D("0.1") + D(n) / 10, D(size)) for n in range(levels)],
        at=at,
    )


def rows():
    return {m.__name__: m.objects.count() for m in apps.get_app_config("execution").get_models()}


def test_a_parent_stores_the_best_levels_of_the_book_it_met(trader):
    booked_at = timezone.now() - timedelta(seconds=3)
    deep_book(booked_at)

    parent = parent_order_place(
        account_id=trader.pk, symbol="BTC-USDT", side="buy", quantity="0.5",
        algorithm="limit", params={"timeout": 60, "price": "19990"},
    )  # fmt: skip

    book = ParentOrder.objects.get(pk=parent.pk).arrival_book
    assert book["at"] == booked_at.isoformat()
    assert len(book["bids"]) == len(book["asks"]) == ARRIVAL_BOOK_LEVELS  # of 60
    assert book["bids"][:2] == [["19999.9", "0.1"], ["19999.8", "0.1"]]
    assert book["asks"][:2] == [["20000.1", "0.1"], ["20000.2", "0.1"]]
    assert book["asks"][-1] == ["20005.0", "0.1"]  # the 50th of 60
    assert parent.signal_at is None  # placed directly


def test_a_market_parent_costs_exactly_what_its_baseline_says(trader):
    """The baseline models the paper exchange: a market order on the book it walks costs
    what walking that book costs, so the improvement of a market parent is zero."""
    deep_book()

    parent = parent_order_place(
        account_id=trader.pk, symbol="BTC-USDT", side="sell", quantity="0.35", algorithm="market"
    )

    assert parent.status == "filled"
    quality = selectors.parent_order_quality(parent)
    assert quality is not None and quality.baseline is not None
    # 0.1 at each of 19999.9, .8 and .7, then 0.05 at .6: 6999.92 for 0.35, 0.08 below the mid
    assert quality.average_price == quality.baseline.average_price == D("19999.771428571428571429")
    assert quality.baseline.cost == D("0.08") + D("6999.92") * TAKER
    assert quality.shortfall_bps == quality.baseline.cost_bps
    assert quality.improvement_bps == 0


def test_a_twap_through_a_thin_book_beats_the_market_order_and_says_by_how_much(trader):
    start = timezone.now()
    deep_book(start)
    parent = parent_order_place(
        account_id=trader.pk, symbol="BTC-USDT", side="buy", quantity="0.4",
        algorithm="twap", params={"duration": 40, "num_slices": 4}, now=start,
    )  # fmt: skip
    for n in (1, 2, 3):
        deep_book(start + timedelta(seconds=10 * n))  # the book refills between slices
        parent = parent_order_run(parent_id=parent.pk, now=start + timedelta(seconds=10 * n))

    assert parent.status == "filled"
    quality = selectors.parent_order_quality(parent)
    assert quality is not None and quality.baseline is not None
    # Each slice of 0.1 takes the best ask; all 0.4 at once would have walked four levels.
    assert quality.average_price == D("20000.1")
    assert quality.baseline.average_price == D("20000.25")
    assert quality.slippage_bps == D("0.05") and quality.baseline.slippage_bps == D("0.125")
    # Shortfall: 0.04 of price and 4.00002 of fees on 8000. Baseline: 0.1 of price and
    # 4.00005 of fees. 5.1251 - 5.0500 bps, each rounded to 4 places.
    assert quality.shortfall_bps == D("5.0500") and quality.baseline.cost_bps == D("5.1251")
    assert quality.improvement_bps == D("0.0751")


def test_a_signal_is_timed_from_its_arrival_to_the_fills(trader):
    start = timezone.now() - timedelta(seconds=30)
    for n in range(5):  # a stable book: the signal works a passive limit order at the bid
        deep_book(start + timedelta(seconds=n), levels=10, size="2")
    signal_at = start + timedelta(seconds=4)
    outcome = signal_execute(account_id=trader.pk, symbol="BTC-USDT", side="buy", strength=0.9,
                             base_quantity="0.2", now=signal_at)  # fmt: skip
    parent = outcome.parent_order
    assert parent is not None and parent.algorithm == "limit"
    assert ParentOrder.objects.get(pk=parent.pk).signal_at == signal_at

    # The market comes down through the bid: the resting child fills.
    deep_book(levels=10, size="2", mid=D("19999.5"))

    [fill] = Fill.objects.filter(order__parent=parent)
    quality = selectors.parent_order_quality(ParentOrder.objects.get(pk=parent.pk))
    assert quality is not None
    assert quality.signal_to_first_fill == quality.signal_to_complete == fill.filled_at - signal_at
    # Bought at the bid below the arrival mid: a gain, far better than crossing the spread.
    assert quality.slippage_bps == D("-0.05") and quality.improvement_bps > 0


def test_a_parent_placed_directly_is_timed_from_its_placement(trader):
    deep_book()
    parent = parent_order_place(
        account_id=trader.pk, symbol="BTC-USDT", side="buy", quantity="0.1", algorithm="market"
    )
    fill = Fill.objects.get(order__parent=parent)
    quality = selectors.parent_order_quality(parent)
    assert quality is not None
    assert quality.signal_to_first_fill == fill.filled_at - parent.created_at


def test_without_a_book_nothing_is_stored_and_nothing_measured_before_a_child(trader):
    parent = parent_order_place(
        account_id=trader.pk, symbol="BTC-USDT", side="buy", quantity="0.1", algorithm="market"
    )
    assert parent.arrival_book is None and parent.children.count() == 0  # waits for a book
    assert selectors.parent_order_quality(parent) is None


@pytest.mark.parametrize(
    ("signal_at", "message"),
    [
        (datetime(2024, 1, 1, 12), "has no time zone"),
        (timezone.now() + timedelta(hours=1), "is after the placement"),
    ],
)
def test_an_impossible_signal_time_is_refused_and_writes_nothing(trader, signal_at, message):
    deep_book()
    before = rows()
    with pytest.raises(DomainError, match=message):
        parent_order_place(
            account_id=trader.pk, symbol="BTC-USDT", side="buy", quantity="0.1",
            algorithm="market", signal_at=signal_at,
        )  # fmt: skip
    assert rows() == before
