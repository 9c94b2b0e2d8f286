"""Execution algorithms run live: parent orders, their children on the paper venue, restarts."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.apps import apps
from django.utils import timezone

from execution.domain import algos
from execution.domain.errors import DomainError
from execution.domain.values import Side
from execution.models import Fill, Instrument, Order, ParentOrder
from execution.services.algos import (
    _save,
    market_view,
    parent_order_cancel,
    parent_order_place,
    parent_order_run,
    parent_orders_due,
)
from execution.services.marketdata import paper_book_update
from execution.services.venues import paper_reset
from tests.factories import make_account, make_instrument, make_user

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: tasks run on commit


@pytest.fixture(autouse=True)
def clean_market():
    paper_reset()
    yield
    paper_reset()


@pytest.fixture
def trader():
    make_instrument("BTC-USDT", mark="20000", tick="0.1", lot="0.001", min_notional="5")
    account = make_account(make_user("algo"), deposit=D(1_000_000))
    paper_book_update(
        symbol="BTC-USDT",
        bids=[(D("19999.9") - D(n) / 10, D("2")) for n in range(10)],
        asks=[(D("20000.1") + D(n) / 10, D("2")) for n in range(10)],
    )
    return account


def rows():
    return {m.__name__: m.objects.count() for m in apps.get_app_config("execution").get_models()}


def test_twap_sends_its_slices_on_schedule_and_fills(trader):
    start = timezone.now()
    parent = parent_order_place(
        account_id=trader.pk, symbol="BTC-USDT", side="buy", quantity="0.3",
        algorithm="twap", params={"duration": 60, "num_slices": 3}, now=start,
    )  # fmt: skip
    assert parent.status == "partially_filled" and parent.children.count() == 1  # slice 1 filled
    assert parent.next_due_at == start + timedelta(seconds=20)

    assert (
        parent_order_run(parent_id=parent.pk, now=start + timedelta(seconds=5)).children.count()
        == 1
    )
    parent_order_run(parent_id=parent.pk, now=start + timedelta(seconds=20))
    parent = parent_order_run(parent_id=parent.pk, now=start + timedelta(seconds=40))

    children = list(parent.children.order_by("created_at"))
    assert [c.client_order_id for c in children] == [f"{parent.pk}c{n}" for n in (1, 2, 3)]
    assert [c.quantity for c in children] == [D("0.1")] * 3
    assert all(c.status == "filled" for c in children)
    assert parent.status == "filled" and parent.filled_quantity == D("0.3")
    fills = Fill.objects.filter(order__parent=parent)
    vwap = sum(f.quantity * f.price for f in fills) / sum(f.quantity for f in fills)
    assert parent.average_fill_price == vwap


def test_limit_with_timeout_falls_back_to_market(trader):
    start = timezone.now()
    parent = parent_order_place(
        account_id=trader.pk, symbol="BTC-USDT", side="buy", quantity="0.5",
        algorithm="limit", params={"timeout": 30, "fallback_to_market": True}, now=start,
    )  # fmt: skip
    resting = parent.children.get()
    assert resting.order_type == "limit" and resting.status == "submitted"
    assert resting.price == D("19999.9")  # joins the bid

    parent = parent_order_run(parent_id=parent.pk, now=start + timedelta(seconds=31))
    resting.refresh_from_db()
    assert resting.status == "cancelled"
    market = parent.children.exclude(pk=resting.pk).get()
    assert market.order_type == "market" and market.status == "filled"
    assert parent.status == "filled"


def test_a_crash_between_deciding_and_acting_loses_nothing_and_repeats_nothing(trader):
    """The state and its outbox are saved together; the actions are carried out later (here:
    by the scheduler after a 'crash'), and carrying one out again creates no second order."""
    start = timezone.now()
    btc = Instrument.objects.get(symbol="BTC-USDT")
    step = algos.algorithm_from_config("market", {}).start(
        parent_id="crash1", spec=btc.spec(), side=Side.BUY, quantity=D("0.2"), now=start,
        market=market_view("BTC-USDT", start),
    )  # fmt: skip
    row = ParentOrder(id="crash1", account=trader, instrument=btc, side="buy",
                      quantity=D("0.2"), algorithm="market", params={})  # fmt: skip
    _save(row, step, actor="test", created=True)  # ... and the worker died here
    assert Order.objects.count() == 0 and len(ParentOrder.objects.get().outbox) == 1
    outbox = ParentOrder.objects.get().outbox

    parent_orders_due(now=start)  # the scheduler finds the pending outbox
    parent = ParentOrder.objects.get()
    assert parent.outbox == [] and parent.status == "filled"
    assert Order.objects.filter(parent=parent).count() == 1

    parent.outbox = outbox  # a worker that died before emptying the outbox: done again
    parent.save()
    parent_order_run(parent_id=parent.pk, now=start)
    assert Order.objects.filter(parent=parent).count() == 1  # still one child
    assert ParentOrder.objects.get().outbox == []


def test_a_refused_child_stops_the_parent(trader):
    poor = make_account(trader.owner, name="Small", deposit=D(100))
    parent = parent_order_place(
        account_id=poor.pk,
        symbol="BTC-USDT",
        side="buy",
        quantity="0.5",
        algorithm="market",
    )
    assert parent.status == "stopped" and "rejected" in parent.reason
    assert Order.objects.filter(parent=parent).count() == 0


def test_cancelling_a_parent_cancels_its_working_child(trader):
    parent = parent_order_place(
        account_id=trader.pk, symbol="BTC-USDT", side="sell", quantity="0.4",
        algorithm="iceberg", params={"visible_pct": "0.25"},
    )  # fmt: skip
    clip = parent.children.get()
    assert clip.quantity == D("0.1") and clip.status == "submitted"
    parent = parent_order_cancel(parent_id=parent.pk)
    clip.refresh_from_db()
    assert clip.status == "cancelled" and parent.status == "cancelled"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "sniper"}, "sniper"),
        ({"algorithm": "twap", "params": {"duration": 60, "num_slices": 0}}, "num_slices"),
        ({"quantity": "0.0001"}, "lot size"),
        ({"symbol": "NOPE-USDT"}, "unknown instrument"),
        ({"side": "long"}, "side 'long'"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(trader, kwargs, message):
    args = {"account_id": trader.pk, "symbol": "BTC-USDT", "side": "buy", "quantity": "0.3",
            "algorithm": "market", "params": {}}  # fmt: skip
    args.update(kwargs)
    before = rows()
    with pytest.raises(DomainError, match=message):
        parent_order_place(**args)
    assert rows() == before
