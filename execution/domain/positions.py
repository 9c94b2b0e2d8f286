"""Position accounting for long and short: adds, partial closes, flips through zero, fees.

The state keeps the exact signed cost basis rather than a rounded average price. A partial
close removes a (rounded) share of the cost; whatever that rounding moves out of realized P&L
stays in the cost basis and so in unrealized P&L, which keeps the identity exact:

    realized + unrealized == mark-to-market change - fees
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from execution.domain.errors import DomainError
from execution.domain.orders import FillEvent
from execution.domain.values import ZERO, Side, exact, quantize


@dataclass(frozen=True, slots=True)
class PositionState:
    """One account's position in one instrument. ``quantity`` is signed: > 0 long, < 0 short;
    ``cost_basis`` is the signed cost of the open quantity (quantity x average entry)."""

    quantity: Decimal = ZERO
    cost_basis: Decimal = ZERO
    realized_pnl: Decimal = ZERO  # net of fees
    fees_paid: Decimal = ZERO

    @property
    def side(self) -> Side | None:
        if self.quantity > 0:
            return Side.BUY
        if self.quantity < 0:
            return Side.SELL
        return None

    @property
    def average_entry_price(self) -> Decimal | None:
        if not self.quantity:
            return None
        with exact():
            return quantize(self.cost_basis / self.quantity)

    def unrealized_pnl(self, mark_price: Decimal) -> Decimal:
        with exact():
            return self.quantity * mark_price - self.cost_basis

    def notional(self, mark_price: Decimal) -> Decimal:
        with exact():
            return abs(self.quantity) * mark_price


@dataclass(frozen=True, slots=True)
class FillEffect:
    """What one fill did to a position."""

    before: PositionState
    after: PositionState
    closed_quantity: Decimal  # how much of the old position this fill closed
    realized_pnl: Decimal  # this fill's realized P&L, net of its fee

    @property
    def opened(self) -> bool:
        """True when the fill opened a position from flat or flipped it through zero."""
        return self.after.quantity != 0 and (
            self.before.quantity == 0 or (self.before.quantity > 0) != (self.after.quantity > 0)
        )


def fee_in_quote(
    *, fee: Decimal, fee_currency: str, base: str, quote: str, price: Decimal
) -> Decimal:
    """P&L is kept in the quote currency; a fee charged in the base converts at the fill price."""
    if fee_currency == quote:
        return fee
    if fee_currency == base:
        with exact():
            return quantize(fee * price)
    raise DomainError(
        f"fee currency {fee_currency!r} is neither the base {base!r} nor the quote {quote!r}"
    )


def apply_fill(state: PositionState, fill: FillEvent) -> FillEffect:
    """Apply one fill to a position (average-cost method)."""
    with exact():
        signed = fill.quantity * fill.side.sign
        quantity, cost = state.quantity, state.cost_basis
        closed = ZERO
        gross = ZERO
        if quantity == 0 or (quantity > 0) == (signed > 0):
            quantity += signed
            cost += signed * fill.price
        else:
            closed = min(abs(signed), abs(quantity))
            # The closed share of the cost; a full close removes all of it exactly.
            removed = cost if closed == abs(quantity) else quantize(cost * closed / abs(quantity))
            direction = 1 if quantity > 0 else -1
            gross = direction * closed * fill.price - removed
            cost -= removed
            quantity += signed
            opened = abs(signed) - closed
            if opened:
                cost = (1 if signed > 0 else -1) * opened * fill.price
        realized = gross - fill.fee
        after = PositionState(
            quantity=quantity,
            cost_basis=cost,
            realized_pnl=state.realized_pnl + realized,
            fees_paid=state.fees_paid + fill.fee,
        )
    return FillEffect(before=state, after=after, closed_quantity=closed, realized_pnl=realized)


class ExitReason(StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


def exit_trigger(
    *,
    quantity: Decimal,
    stop_loss_price: Decimal | None,
    take_profit_price: Decimal | None,
    low: Decimal,
    high: Decimal | None = None,
) -> ExitReason | None:
    """Which protective exit a mark (or a bar's low-high range) triggers, if any.

    Pass one mark as ``low`` alone. When a bar spans both levels the stop wins: without ticks
    inside the bar we cannot know which came first, and assuming the worse keeps backtests honest.
    """
    high = low if high is None else high
    if quantity > 0:
        if stop_loss_price is not None and low <= stop_loss_price:
            return ExitReason.STOP_LOSS
        if take_profit_price is not None and high >= take_profit_price:
            return ExitReason.TAKE_PROFIT
    elif quantity < 0:
        if stop_loss_price is not None and high >= stop_loss_price:
            return ExitReason.STOP_LOSS
        if take_profit_price is not None and low <= take_profit_price:
            return ExitReason.TAKE_PROFIT
    return None


def check_exit_levels(
    *,
    side: Side,
    entry_price: Decimal,
    stop_loss_price: Decimal | None,
    take_profit_price: Decimal | None,
) -> None:
    """Refuse protective levels on the wrong side of the entry."""
    long = side is Side.BUY
    if stop_loss_price is not None and (
        stop_loss_price >= entry_price if long else stop_loss_price <= entry_price
    ):
        raise DomainError(
            f"stop loss {stop_loss_price} must be {'below' if long else 'above'} the "
            f"entry price {entry_price} of a {'long' if long else 'short'} position"
        )
    if take_profit_price is not None and (
        take_profit_price <= entry_price if long else take_profit_price >= entry_price
    ):
        raise DomainError(
            f"take profit {take_profit_price} must be {'above' if long else 'below'} the "
            f"entry price {entry_price} of a {'long' if long else 'short'} position"
        )


@dataclass(slots=True)
class PositionLedger:
    """Positions per instrument with idempotent fills: a fill id seen before is a no-op.

    The backtester and the paper exchange keep positions here; the database path gets the
    same idempotency from the unique (order, venue trade id) constraint instead.
    """

    positions: dict[str, PositionState] = field(default_factory=dict)
    seen_fill_ids: set[str] = field(default_factory=set)

    def get(self, symbol: str) -> PositionState:
        return self.positions.get(symbol, PositionState())

    def apply(self, symbol: str, fill: FillEvent) -> FillEffect | None:
        key = f"{symbol}:{fill.fill_id}"
        if key in self.seen_fill_ids:
            return None
        effect = apply_fill(self.get(symbol), fill)
        self.positions[symbol] = effect.after
        self.seen_fill_ids.add(key)
        return effect

    def apply_all(self, symbol: str, fills: Iterable[FillEvent]) -> PositionState:
        for fill in fills:
            self.apply(symbol, fill)
        return self.get(symbol)

    def realized_pnl(self) -> Decimal:
        with exact():
            return sum((p.realized_pnl for p in self.positions.values()), ZERO)
