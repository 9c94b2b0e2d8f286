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
