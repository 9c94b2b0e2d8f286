from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.domain.errors import DomainError
from execution.domain.orders import FillEvent
from execution.domain.positions import (
    ExitReason,
    PositionLedger,
    PositionState,
    apply_fill,
    check_exit_levels,
    exit_trigger,
)
from execution.domain.values import Side


def fill(n, side, qty, price, fee="0"):
    return FillEvent(str(n), Side(side), D(qty), D(price), D(fee))


def test_add_then_partial_close_long():
    state = apply_fill(PositionState(), fill(1, "buy", "10", "100", "1")).after
    state = apply_fill(state, fill(2, "buy", "10", "110", "1")).after
    assert state.quantity == 20 and state.average_entry_price == D(105)
    effect = apply_fill(state, fill(3, "sell", "5", "120", "0.5"))
    # 5 closed at 120 against an average of 105: +75, minus this fill's 0.5 fee.
    assert effect.realized_pnl == D("74.5")
    assert effect.after.quantity == 15 and effect.after.average_entry_price == D(105)
    assert effect.after.realized_pnl == D("72.5")  # earlier fees 2 count too
    assert effect.after.fees_paid == D("2.5")
    assert effect.after.unrealized_pnl(D(100)) == D(-75)


def test_short_and_flip_through_zero():
    state = apply_fill(PositionState(), fill(1, "sell", "4", "50")).after
    assert state.quantity == -4 and state.average_entry_price == D(50)
    assert state.unrealized_pnl(D(45)) == D(20)  # a short gains when the price falls
    effect = apply_fill(state, fill(2, "buy", "6", "45"))
    assert effect.closed_quantity == 4 and effect.realized_pnl == D(20)
    assert effect.opened  # flipped long
    assert effect.after.quantity == 2 and effect.after.average_entry_price == D(45)


def test_full_close_leaves_no_cost_even_after_rounding():
    state = PositionState()
    for n, (side, qty, price) in enumerate(
        [("buy", "3", "10"), ("buy", "3", "11"), ("sell", "1", "12"), ("sell", "5", "9")]
    ):
        state = apply_fill(state, fill(n, side, qty, price)).after
    assert state.quantity == 0 and state.cost_basis == 0
    # Flat: realized P&L is exactly the cash flow: -30 - 33 + 12 + 45.
    assert state.realized_pnl == D(-6)


def test_ledger_ignores_a_fill_seen_before():
    ledger = PositionLedger()
    first = ledger.apply("BTC", fill(1, "buy", "1", "100", "0.1"))
    assert first is not None
    assert ledger.apply("BTC", fill(1, "buy", "1", "100", "0.1")) is None
    assert ledger.get("BTC").quantity == 1 and ledger.get("BTC").fees_paid == D("0.1")


@pytest.mark.parametrize(
    ("quantity", "low", "high", "expected"),
    [
        (D(1), D(94), None, ExitReason.STOP_LOSS),
        (D(1), D(111), None, ExitReason.TAKE_PROFIT),
        (D(1), D(100), None, None),
        (D(1), D(94), D(111), ExitReason.STOP_LOSS),  # both in one bar: assume the worse
        (D(-1), D(106), None, ExitReason.STOP_LOSS),
        (D(-1), D(89), None, ExitReason.TAKE_PROFIT),
        (D(0), D(1), None, None),
    ],
)
def test_exit_trigger(quantity, low, high, expected):
    long = quantity > 0
    assert (
        exit_trigger(
            quantity=quantity,
            stop_loss_price=D(95) if long else D(105),
            take_profit_price=D(110) if long else D(90),
            low=low,
            high=high,
        )
        == expected
    )


def test_exit_levels_must_sit_on_the_right_side():
    check_exit_levels(
        side=Side.BUY, entry_price=D(100), stop_loss_price=D(95), take_profit_price=D(110)
    )
    with pytest.raises(DomainError, match="stop loss 101 must be below"):
        check_exit_levels(
            side=Side.BUY, entry_price=D(100), stop_loss_price=D(101), take_profit_price=None
        )
    with pytest.raises(DomainError, match="take profit 110 must be below"):
        check_exit_levels(
            side=Side.SELL, entry_price=D(100), stop_loss_price=None, take_profit_price=D(110)
        )


# --- properties --------------------------------------------------------------------------------

lots = st.integers(min_value=1, max_value=50_000).map(lambda n: D(n) * D("0.001"))
ticks = st.integers(min_value=1, max_value=10_000_000).map(lambda n: D(n) * D("0.01"))
fees = st.integers(min_value=-1_000, max_value=100_000).map(lambda n: D(n) * D("0.00000001"))
fill_lists = st.lists(
    st.tuples(st.sampled_from([Side.BUY, Side.SELL]), lots, ticks, fees), min_size=1, max_size=40
)


@settings(max_examples=3000, deadline=None)
@given(fills=fill_lists, mark=ticks)
def test_pnl_equals_mark_to_market_change_minus_fees(fills, mark):
    state = PositionState()
    cash_flow = D(0)
    total_fees = D(0)
    for n, (side, qty, price, fee) in enumerate(fills):
        state = apply_fill(state, FillEvent(str(n), side, qty, price, fee)).after
        cash_flow -= side.sign * qty * price
        total_fees += fee
    mark_to_market_change = cash_flow + state.quantity * mark
    assert state.realized_pnl + state.unrealized_pnl(mark) == mark_to_market_change - total_fees
    assert state.fees_paid == total_fees
    assert state.quantity == sum(side.sign * qty for side, qty, _, _ in fills)


@settings(max_examples=2000, deadline=None)
@given(fills=fill_lists, data=st.data())
def test_applying_a_fill_twice_changes_nothing(fills, data):
    events = [
        FillEvent(str(n), side, qty, price, fee) for n, (side, qty, price, fee) in enumerate(fills)
    ]
    once = PositionLedger().apply_all("X", events)
    replayed = PositionLedger()
    for event in events:
        repeats = data.draw(st.integers(min_value=1, max_value=4))
        for _ in range(repeats):
            replayed.apply("X", event)
    assert replayed.get("X") == once
