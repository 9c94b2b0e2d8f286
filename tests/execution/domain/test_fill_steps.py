from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from execution.domain.errors import DomainError, RuleViolation
from execution.domain.fill_steps import fills_apply
from execution.domain.orders import OrderStatus
from execution.domain.positions import PositionState
from execution.domain.values import Liquidity, Side

OPENED = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
FIRST = datetime(2024, 1, 2, 10, 0, tzinfo=UTC)
NOW = datetime(2024, 1, 2, 11, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Reported:
    venue_trade_id: str
    quantity: D
    price: D
    fee: D = D(0)
    fee_currency: str | None = None
    liquidity: Liquidity = Liquidity.TAKER
    filled_at: datetime | None = None


def sell_eight(fills, *, lot_size=D(1), exits_cleared=False):
    """A sell of 8 BTC against a long of 3 bought at 100 (cost 300)."""
    return fills_apply(
        fills=fills, side=Side.SELL, quantity=D(8), base_currency="BTC", quote_currency="USD",
        lot_size=lot_size, status=OrderStatus.NEW, filled_quantity=D(0),
        filled_notional=D(0), position=PositionState(quantity=D(3), cost_basis=D(300)),
        opened_at=OPENED, exits_cleared=exits_cleared, now=NOW,
    )  # fmt: skip


def test_partial_close_then_flip():
    applied = sell_eight([
        Reported("t1", D(2), D(100), fee=D("0.01"), fee_currency="BTC", filled_at=FIRST),
        Reported("t2", D(6), D(110)),
    ])  # fmt: skip
    first, second = applied.steps

    # A fee in the base converts at the fill's price; 2 of 3 closed at cost: only the fee lost.
    assert (first.fee_currency, first.fee_quote) == ("BTC", D(1))
    assert (first.status_from, first.status_to) == (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
    assert first.effect.realized_pnl == D(-1)
    assert first.effect.after == PositionState(
        quantity=D(1), cost_basis=D(100), realized_pnl=D(-1), fees_paid=D(1)
    )
    assert first.filled_at == FIRST

    # The last long closed at 110 (+10), then 5 short opened at 110; no filled_at: now.
    assert (second.fee_currency, second.fee_quote) == ("USD", D(0))
    assert second.status_to == OrderStatus.FILLED
    assert second.effect.realized_pnl == D(10)
    assert second.effect.opened
    assert second.filled_at == NOW

    assert applied.status == OrderStatus.FILLED
    assert applied.filled_quantity == D(8)
    assert applied.filled_notional == D(860)
    assert applied.position == PositionState(
        quantity=D(-5), cost_basis=D(-550), realized_pnl=D(9), fees_paid=D(1)
    )
    assert applied.opened_at == NOW  # the flip opened a new position
    assert applied.exits_cleared  # the old position's exits do not protect the new one


def test_a_partial_close_keeps_exits_and_opened_at():
    applied = sell_eight([Reported("t1", D(2), D(100))])
    assert applied.status == OrderStatus.PARTIALLY_FILLED
    assert applied.position.quantity == D(1)
    assert applied.opened_at == OPENED
    assert not applied.exits_cleared


def test_a_close_to_flat_clears_exits_and_opened_at():
    applied = sell_eight([Reported("t1", D(3), D(100))])
    assert applied.position.quantity == 0
    assert applied.opened_at is None
    assert applied.exits_cleared


@pytest.mark.parametrize(
    ("fills", "lot_size", "error"),
    [
        ([Reported("t1", D("0.5"), D(100))], D(1), "not a multiple of the lot size 1"),
        ([Reported("t1", D(1), D(100), D(1), fee_currency="EUR")], D(1), "neither the base"),
        ([Reported("t1", D(5), D(100)), Reported("t2", D(4), D(100))], D(1), "above its"),
    ],
)
def test_a_refused_fill_raises(fills, lot_size, error):
    with pytest.raises(DomainError, match=error):
        sell_eight(fills, lot_size=lot_size)


def test_an_overfill_is_a_rule_violation():
    with pytest.raises(RuleViolation):
        sell_eight([Reported("t1", D(9), D(100))])
