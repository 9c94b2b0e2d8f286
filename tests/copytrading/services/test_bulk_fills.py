"""The bulk fill path (execution.services.bulk_fills) against fills_record one order at a
time: the same inputs in two identical worlds must leave the same fills, orders, positions
and audit events to the last Decimal, including shared positions, flips, fees in the base
currency, trade ids seen before, a refused order and an unknown one. Runs on the real
database (the set-based statements on PostgreSQL)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from execution.domain.errors import DomainError
from execution.models import EventKind, ExecutionEvent, Fill, Order, OutboxMessage, Position
from execution.services.bulk_fills import OrderFills, fills_record_bulk
from execution.services.fills import FillInput, fill_record, fills_record
from execution.services.orders import order_place
from execution.services.positions import position_exits_set
from tests.factories import make_account, make_instrument, make_user

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ACCOUNTS = 5
ORDERS = 24


@pytest.fixture
def market(db):
    return make_instrument("BTC-USDT", mark="20000")


def _world(prefix: str) -> tuple[list[int], list[Order]]:
    """Five accounts and the same orders on each, in the same sequence; the first account
    holds 0.2 BTC with a stop loss and take profit (a flip must clear them)."""
    accounts = [make_account(make_user(f"{prefix}{n}")).pk for n in range(ACCOUNTS)]
    opening = order_place(
        account_id=accounts[0], symbol="BTC-USDT", side="buy", order_type="limit",
        quantity="0.2", price="20000", submit=False,
    )  # fmt: skip
    fill_record(order_id=opening.pk, venue_trade_id="open", quantity="0.2", price="19950",
                filled_at=START)  # fmt: skip
    position = Position.objects.get(account_id=accounts[0])
    position_exits_set(position_id=position.pk, stop_loss_price="19000", take_profit_price="21000")
    rng = random.Random(7)
    orders = []
    for n in range(ORDERS):
        side, quantity = rng.choice(["buy", "sell"]), str(D(rng.randint(1, 40)) / 100)
        if n == 0:
            side, quantity = "sell", "0.4"  # filled whole: flips the first account short
        orders.append(
            order_place(
                account_id=accounts[n % ACCOUNTS], symbol="BTC-USDT", side=side,
                order_type="limit", quantity=quantity, price="20000", submit=False,
            )
        )  # fmt: skip
    return accounts, orders


def _inputs(orders: list[Order]) -> list[list[FillInput]]:
    """Each order's fills (partial, whole, maker and taker, fees in quote or base), the same
    for both worlds; order 3 carries a quantity off the lot size (refused whole)."""
    rng = random.Random(11)
    inputs = []
    for n, order in enumerate(orders):
        left, fills = order.quantity, []
        for k in range(rng.randint(1, 3)):
            quantity = left if n == 0 else min(left, D(rng.randint(1, 20)) / 100)
            if quantity <= 0:
                break
            left -= quantity
            price = D(19900) + D(rng.randint(0, 2000)) / 10
            base_fee = rng.random() < 0.3
            fills.append(
                FillInput.parse(
                    venue_trade_id=f"t{n}-{k}", quantity=quantity, price=price,
                    fee=(quantity * D("0.001")) if base_fee else (quantity * price * D("0.0004")),
                    fee_currency="BTC" if base_fee else None,
                    liquidity=rng.choice(["maker", "taker"]),
                    filled_at=START + timedelta(minutes=n, seconds=k),
                )
            )  # fmt: skip
        if n == 3:
            fills.append(FillInput.parse(venue_trade_id="t3-odd", quantity="0.00005",
                                         price="20000", filled_at=START))  # fmt: skip
        if n == 5:
            fills.append(fills[0])  # the same trade id twice in one report
        inputs.append(fills)
    return inputs


def _state(accounts: list[int], orders: list[Order]) -> dict[str, object]:
    """Everything the fills decided, keyed by position in the world (not by row id)."""
    order_rows = {
        o.pk: o
        for o in Order.objects.filter(pk__in=[o.pk for o in orders])
    }  # fmt: skip
    return {
        "orders": [
            (o.status, o.filled_quantity, o.filled_notional, o.average_fill_price)
            for o in (order_rows[o.pk] for o in orders)
        ],
        "positions": [
            list(
                Position.objects.filter(account_id=a).values_list(
                    "quantity",
                    "cost_basis",
                    "average_entry_price",
                    "realized_pnl",
                    "fees_paid",
                    "unrealized_pnl",
                    "mark_price",
                    "margin",
                    "opened_at",
                    "stop_loss_price",
                    "take_profit_price",
                )
            )
            for a in accounts
        ],
        "fills": [
            list(
                Fill.objects.filter(order_id=o.pk)
                .order_by("id")
                .values_list(
                    "venue_trade_id",
                    "quantity",
                    "price",
                    "fee",
                    "fee_currency",
                    "liquidity",
                    "filled_at",
                )
            )
            for o in orders
        ],
        "events": [
            list(
                ExecutionEvent.objects.filter(order_id=o.pk, kind=EventKind.FILL_RECORDED)
                .order_by("id")
                .values_list("actor", "message", "data")
            )
            for o in orders
        ],
    }


def test_bulk_leaves_what_one_by_one_leaves_to_the_last_decimal(market):
    one_accounts, one_orders = _world("one")
    bulk_accounts, bulk_orders = _world("bulk")
    inputs = _inputs(one_orders)
    # A trade id recorded before the batch, in both worlds: a no-op both ways.
    for order in (one_orders[1], bulk_orders[1]):
        fills_record(order_id=order.pk, fills=inputs[1][:1], actor="copytrading")

    refused_one = {}
    for n, order in enumerate(one_orders):
        try:
            fills_record(order_id=order.pk, fills=inputs[n], actor="copytrading")
        except DomainError as error:
            refused_one[n] = str(error)
    unknown = uuid.uuid4()
    result = fills_record_bulk(
        batch=[OrderFills(o.pk, inputs[n]) for n, o in enumerate(bulk_orders)]
        + [OrderFills(unknown, inputs[0])],
        actor="copytrading",
    )

    assert _state(bulk_accounts, bulk_orders) == _state(one_accounts, one_orders)
    assert set(refused_one) == {3} and "not a multiple of the lot size" in refused_one[3]
    index = {o.pk: n for n, o in enumerate(bulk_orders)}
    assert {index.get(k, k): v for k, v in result.refused.items()} == {
        3: refused_one[3], unknown: f"order {unknown} does not exist",
    }  # fmt: skip
    # New fills only: the trade id seen before and the repeated one are not among them.
    new_fills = sum(len(ids) for ids in result.recorded.values())
    assert new_fills == Fill.objects.filter(order__in=bulk_orders).count() - 1
    assert not Fill.objects.filter(order_id=bulk_orders[3].pk).exists()
    # Each new fill announced once through the outbox, in its transaction, as fills_record does.
    for orders in (one_orders, bulk_orders):
        fills = Fill.objects.filter(order__in=orders)
        messages = OutboxMessage.objects.filter(topic="fill_committed", object_id__in=fills)
        assert sorted(messages.values_list("object_id", flat=True)) == sorted(
            fills.values_list("pk", flat=True)
        )
    sample = OutboxMessage.objects.get(object_id__in=Fill.objects.filter(order=bulk_orders[0]))
    assert sample.payload == {
        "order_id": str(bulk_orders[0].pk), "account_id": bulk_accounts[0], "parent_id": None,
    }  # fmt: skip
    flipped = Position.objects.get(account_id=bulk_accounts[0])
    assert flipped.stop_loss_price is None and flipped.take_profit_price is None


def test_a_batch_again_changes_nothing(market):
    accounts, orders = _world("again")
    batch = [OrderFills(o.pk, fills) for o, fills in zip(orders, _inputs(orders), strict=True)]
    fills_record_bulk(batch=batch, actor="copytrading")
    before = _state(accounts, orders)
    events = ExecutionEvent.objects.count()

    result = fills_record_bulk(batch=batch, actor="copytrading")

    assert result.recorded == {}
    assert set(result.refused) == {orders[3].pk}  # refused again, as fills_record would be
    assert _state(accounts, orders) == before and ExecutionEvent.objects.count() == events
