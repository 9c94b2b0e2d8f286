import random
import threading
from decimal import Decimal as D

import pytest
from django.db import connection, connections

from execution.domain.errors import DomainError, RuleViolation
from execution.models import EventKind, ExecutionEvent, Fill, Order, Position
from execution.services.accounts import funds_deposit
from execution.services.fills import fill_record
from execution.services.orders import order_place
from tests.factories import make_account, make_instrument, make_user


def place(account, side="buy", quantity="1", **kw):
    kw.setdefault("order_type", "market")
    return order_place(
        account_id=account.pk, symbol="BTC-USDT", side=side, quantity=quantity, submit=False, **kw
    )


def rows():
    return (
        Fill.objects.count(),
        ExecutionEvent.objects.count(),
        Position.objects.count(),
        list(Order.objects.values_list("filled_quantity", "status")),
    )


def test_a_fill_updates_order_position_and_audit(account, btc):
    order = place(account, quantity="2")
    fill_record(
        order_id=order.pk,
        venue_trade_id="t1",
        quantity="0.5",
        price="20000.5",
        fee="5",
        liquidity="taker",
    )
    order.refresh_from_db()
    assert order.status == "partially_filled" and order.filled_quantity == D("0.5")
    assert order.average_fill_price == D("20000.5")
    position = Position.objects.get(account=account, instrument=btc)
    assert position.quantity == D("0.5") and position.average_entry_price == D("20000.5")
    assert position.realized_pnl == D(-5) and position.fees_paid == D(5)
    assert position.unrealized_pnl == D("-0.25")  # marked at 20000
    event = ExecutionEvent.objects.filter(kind=EventKind.FILL_RECORDED).get()
    assert event.order_id == order.pk and event.data["venue_trade_id"] == "t1"


def test_the_same_trade_id_again_is_a_no_op(account, btc):
    order = place(account)
    first = fill_record(order_id=order.pk, venue_trade_id="t1", quantity="0.4", price="20000")
    before = rows()
    again = fill_record(order_id=order.pk, venue_trade_id="t1", quantity="0.4", price="20000")
    assert again.pk == first.pk and rows() == before


def test_a_fee_in_the_base_currency_is_booked_in_the_quote(account, btc):
    order = place(account)
    fill_record(
        order_id=order.pk,
        venue_trade_id="t1",
        quantity="1",
        price="20000",
        fee="0.001",
        fee_currency="BTC",
    )
    position = Position.objects.get()
    assert position.fees_paid == D(20) and Fill.objects.get().fee_currency == "BTC"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantity": "0"}, "fill quantity must be greater than zero"),
        ({"quantity": "-1"}, "fill quantity must be greater than zero"),
        ({"price": "0"}, "fill price must be greater than zero"),
        ({"quantity": "0.00001"}, "not a multiple of the lot size"),
        ({"quantity": "1.5"}, "above its quantity 1"),
        ({"venue_trade_id": " "}, "needs the venue's trade id"),
        ({"liquidity": "both"}, "liquidity 'both' is not maker or taker"),
        ({"fee_currency": "EUR"}, "fee currency 'EUR' is neither the base"),
        ({"quantity": 0.5}, "pass a string or Decimal, not float"),
    ],
)
def test_bad_fills_are_refused_and_write_nothing(account, btc, kwargs, message):
    order = place(account)
    before = rows()
    args = {"order_id": order.pk, "venue_trade_id": "t1", "quantity": "1", "price": "20000"}
    args.update(kwargs)
    with pytest.raises((DomainError, RuleViolation), match=message):
        fill_record(**args)
    assert rows() == before


def test_unknown_order_is_refused(db):
    with pytest.raises(DomainError, match="does not exist"):
        fill_record(
            order_id="00000000-0000-0000-0000-000000000000",
            venue_trade_id="t",
            quantity="1",
            price="1",
        )


def test_replaying_every_fill_two_to_five_times_shuffled_changes_nothing(account, btc):
    rng = random.Random(7)
    funds_deposit(account_id=account.pk, amount="1000000")  # room for four open orders
    orders = [place(account, side=side, quantity="1.5") for side in ("buy", "sell", "sell", "buy")]
    fills = []
    for n, order in enumerate(orders):
        for k in range(3):
            price = D(19_000 + rng.randrange(0, 20_000)) / 10
            fills.append(
                {
                    "order_id": order.pk,
                    "venue_trade_id": f"{n}-{k}",
                    "quantity": "0.5",
                    "price": price,
                    "fee": D(rng.randrange(0, 500)) / 100,
                }
            )
    for f in fills:
        fill_record(**f)

    def snapshot():
        return (
            list(
                Position.objects.values_list(
                    "quantity", "cost_basis", "realized_pnl", "fees_paid", "unrealized_pnl"
                )
            ),
            list(
                Order.objects.order_by("pk").values_list(
                    "filled_quantity", "filled_notional", "average_fill_price", "status"
                )
            ),
            Fill.objects.count(),
        )

    recorded = snapshot()
    replay = [f for f in fills for _ in range(rng.randint(2, 5))]
    rng.shuffle(replay)
    for f in replay:
        fill_record(**f)
    assert snapshot() == recorded


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_threads_on_one_position_end_exact_without_deadlock():
    owner = make_user("racer")
    make_instrument("BTC-USDT", mark="20000", lot="0.0001")
    account = make_account(owner, deposit=D(10_000_000))
    threads_count, per_thread = 50, 100
    is_buy = [n % 5 < 3 for n in range(threads_count)]  # 30 buyers, 20 sellers
    orders = [place(account, side="buy" if buy else "sell", quantity="1") for buy in is_buy]
    errors: list[BaseException] = []

    def record(order):
        try:
            for k in range(per_thread):
                fill_record(
                    order_id=order.pk,
                    venue_trade_id=f"t{k}",
                    quantity="0.0003",
                    price=D("20000.1") + k,
                    fee="0.01",
                )
                # Each fill is its own unit of work, as in a task or a request: its
                # connection goes back to the pool (fewer connections than threads).
                connections.close_all()
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=record, args=(o,)) for o in orders]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers), "a writer is stuck (deadlock?)"
    assert not errors, errors[:3]
    position = Position.objects.get(account=account)
    buys = sum(is_buy)
    expected = D("0.0003") * per_thread * (buys - (threads_count - buys))
    assert expected == D("0.3")
    assert position.quantity == expected
    assert position.fees_paid == D("0.01") * threads_count * per_thread
    assert Fill.objects.count() == threads_count * per_thread
    assert connection.vendor == "postgresql"


def test_a_venue_report_of_several_fills_is_recorded_in_one_go(
    account, btc, django_capture_on_commit_callbacks
):
    from execution.services.fills import FillInput, fills_record
    from execution.signals import fill_committed

    order = place(account, quantity="1")
    committed: list[int] = []

    def receiver(sender, fill_id, **kwargs):
        committed.append(fill_id)

    fill_committed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            fills = fills_record(order_id=order.pk, fills=[
                FillInput.parse(venue_trade_id="a", quantity="0.3", price="20000.1", fee="1"),
                FillInput.parse(venue_trade_id="b", quantity="0.5", price="20000.3", fee="1"),
                FillInput.parse(venue_trade_id="a", quantity="0.3", price="20000.1", fee="1"),
            ])  # fmt: skip
    finally:
        fill_committed.disconnect(receiver)
    assert [f.venue_trade_id for f in fills] == ["a", "b", "a"] and fills[0].pk == fills[2].pk
    order.refresh_from_db()
    assert order.status == "partially_filled" and order.filled_quantity == D("0.8")
    assert order.filled_notional == D("16000.18")  # 0.3 x 20000.1 + 0.5 x 20000.3
    assert Position.objects.get().fees_paid == D(2)
    assert ExecutionEvent.objects.filter(kind=EventKind.FILL_RECORDED).count() == 2
    assert sorted(committed) == sorted({f.pk for f in fills})  # one notification per new fill


def test_one_refused_fill_refuses_the_whole_report(account, btc):
    from execution.services.fills import FillInput, fills_record

    order = place(account, quantity="1")
    before = rows()
    with pytest.raises(RuleViolation, match="above its quantity 1"):
        fills_record(order_id=order.pk, fills=[
            FillInput.parse(venue_trade_id="a", quantity="0.6", price="20000"),
            FillInput.parse(venue_trade_id="b", quantity="0.6", price="20000"),
        ])  # fmt: skip
    assert rows() == before


def test_market_data_fills_that_cannot_be_recorded_are_reported_and_the_rest_kept(account, btc):
    from datetime import UTC, datetime

    from execution.domain.values import Liquidity, Side
    from execution.services.venues import venue_fills_record
    from execution.venues.base import VenueFill

    order = place(account, quantity="1")
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def fill(trade_id, quantity, client_order_id=order.client_order_id):
        return VenueFill(trade_id, client_order_id, "BTC-USDT", Side.BUY, D(quantity),
                         D("20000"), D(0), "USDT", Liquidity.MAKER, at)  # fmt: skip

    venue_fills_record(
        [
            fill("a", "0.6"),
            fill("b", "0.6"),
            fill("c", "0.4"),
            fill("d", "0.1", client_order_id="nosuchorder"),
        ],
        actor="venue:test",
    )
    order.refresh_from_db()
    assert order.filled_quantity == 1 and order.status == "filled"  # a and c
    problems = ExecutionEvent.objects.filter(kind=EventKind.VENUE_ERROR).order_by("id")
    assert [e.data["venue_trade_id"] for e in problems] == ["b", "d"]
    assert "above its quantity 1" in problems[0].message
    assert "no order has client order id nosuchorder" in problems[1].message
