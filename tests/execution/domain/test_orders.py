from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.domain.errors import DomainError, InvalidTransition, RuleViolation
from execution.domain.orders import (
    TRANSITIONS,
    FillEvent,
    OrderFills,
    OrderRequest,
    OrderStatus,
    check_transition,
)
from execution.domain.values import InstrumentSpec, Side

BTC = InstrumentSpec("BTC-USDT", "BTC", "USDT", D("0.1"), D("0.0001"), D("0.0001"), D("5"))


def build(**kw):
    args = {"side": "buy", "order_type": "limit", "quantity": "0.01", "price": "30000"}
    args.update(kw)
    return OrderRequest.build(BTC, **args)


def test_valid_limit_order():
    request = build()
    assert request.price == D(30000) and request.quantity == D("0.01")


@pytest.mark.parametrize(
    ("kwargs", "rule", "text"),
    [
        ({"quantity": "0"}, "positive", "quantity must be greater than zero"),
        ({"quantity": "-1"}, "positive", "greater than zero"),
        ({"quantity": "0.00015"}, "lot_size", "not a multiple of BTC-USDT's lot size 0.0001"),
        ({"price": "30000.05"}, "tick_size", "not a multiple of BTC-USDT's tick size 0.1"),
        (
            {"quantity": "0.0001", "price": "100"},
            "min_notional",
            "below BTC-USDT's minimum notional",
        ),
        ({"price": None}, "price_required", "a limit order needs a price"),
        ({"order_type": "market"}, "price_not_allowed", "takes no limit price"),
        ({"order_type": "stop_limit"}, "stop_price_required", "needs a stop price"),
        (
            {"order_type": "market", "price": None, "time_in_force": "post_only"},
            "post_only_limit",
            "post-only applies to limit orders only",
        ),
    ],
)
def test_order_rules_are_named(kwargs, rule, text):
    with pytest.raises(RuleViolation, match=text) as caught:
        build(**kwargs)
    assert caught.value.rule == rule


def test_unknown_enums_and_floats_are_refused_clearly():
    with pytest.raises(DomainError, match="side 'hold' is not one of: buy, sell"):
        build(side="hold")
    with pytest.raises(DomainError, match="not float"):
        build(quantity=0.1)
    with pytest.raises(DomainError, match="'abc' is not a number"):
        build(price="abc")


def test_transition_table():
    check_transition(OrderStatus.NEW, OrderStatus.SUBMITTED)
    check_transition(OrderStatus.UNKNOWN, OrderStatus.FILLED)
    with pytest.raises(InvalidTransition, match="cannot go from filled to cancelled"):
        check_transition(OrderStatus.FILLED, OrderStatus.CANCELLED)
    assert {s for s in OrderStatus if s.is_terminal} == {OrderStatus.FILLED, OrderStatus.REJECTED}
    assert set(TRANSITIONS) == set(OrderStatus)


def test_fills_move_the_status_and_average():
    order = OrderFills(quantity=D(3))
    order.transition(OrderStatus.SUBMITTED)
    assert order.apply(FillEvent("a", Side.BUY, D(1), D(100)))
    assert order.status == OrderStatus.PARTIALLY_FILLED
    assert not order.apply(FillEvent("a", Side.BUY, D(1), D(100)))  # replay: no-op
    order.apply(FillEvent("b", Side.BUY, D(2), D(103)))
    assert order.status == OrderStatus.FILLED and order.average_fill_price == D(102)


def test_late_fill_on_a_cancelled_order_is_kept():
    order = OrderFills(quantity=D(3), status=OrderStatus.SUBMITTED)
    order.apply(FillEvent("a", Side.BUY, D(1), D(100)))
    order.transition(OrderStatus.CANCELLED)
    order.apply(FillEvent("b", Side.BUY, D(1), D(100)))
    assert order.status == OrderStatus.CANCELLED and order.filled_quantity == 2


@settings(max_examples=2000, deadline=None)
@given(
    quantity=st.integers(min_value=1, max_value=1000),
    fills=st.lists(
        st.tuples(st.integers(min_value=0, max_value=30), st.integers(min_value=1, max_value=400)),
        max_size=30,
    ),
)
def test_filled_quantity_never_exceeds_quantity(quantity, fills):
    order = OrderFills(quantity=D(quantity), status=OrderStatus.SUBMITTED)
    for fill_id, size in fills:
        before = (order.filled_quantity, order.status)
        try:
            order.apply(FillEvent(str(fill_id), Side.SELL, D(size), D(10)))
        except (RuleViolation, InvalidTransition):
            assert (order.filled_quantity, order.status) == before  # refused: nothing changed
        assert order.filled_quantity <= order.quantity
    assert (order.status == OrderStatus.FILLED) == (order.filled_quantity == order.quantity)
