"""One order's new fills, step by step: the accounting fills_record and fills_record_bulk share.

Both services lock the order and its position, call fills_apply with what they read, and
write their own rows from its steps, so a fill recorded alone or in a batch moves the order
and the position by the same Decimals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from execution.domain.errors import DomainError
from execution.domain.orders import FillEvent, OrderStatus, status_after_fill
from execution.domain.positions import FillEffect, PositionState, apply_fill, fee_in_quote
from execution.domain.values import Liquidity, Side, exact


class ReportedFill(Protocol):
    """One execution as a venue reported it (the services' FillInput)."""

    @property
    def venue_trade_id(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def fee(self) -> Decimal: ...
    @property
    def fee_currency(self) -> str | None: ...  # None: the quote currency
    @property
    def liquidity(self) -> Liquidity: ...
    @property
    def filled_at(self) -> datetime | None: ...  # None: now


@dataclass(frozen=True, slots=True)
class FillStep:
    """What one fill did: its fee, the order's status move, the position's move."""

    fill: ReportedFill
    fee_currency: str
    fee_quote: Decimal  # the fee in the quote currency, as the position books it
    status_from: OrderStatus
    status_to: OrderStatus
    effect: FillEffect
    filled_at: datetime


@dataclass(frozen=True, slots=True)
class FillsApplied:
    """An order and its position after all its new fills, with each fill's step."""

    steps: tuple[FillStep, ...]
    status: OrderStatus
    filled_quantity: Decimal
    filled_notional: Decimal
    position: PositionState
    opened_at: datetime | None
    exits_cleared: bool  # the position's stop loss and take profit are to be removed


def fills_apply(
    *,
    fills: Sequence[ReportedFill],
    side: Side,
    quantity: Decimal,
    base_currency: str,
    quote_currency: str,
    lot_size: Decimal,
    status: OrderStatus,
    filled_quantity: Decimal,
    filled_notional: Decimal,
    position: PositionState,
    opened_at: datetime | None,
    exits_cleared: bool,
    now: datetime,
) -> FillsApplied:
    """Apply an order's new fills in the order given; raises DomainError on the first one
    refused (a fee in a third currency, an odd lot, an overfill), so none of them counts."""
    steps: list[FillStep] = []
    for fill in fills:
        fee_currency = fill.fee_currency or quote_currency
        fee_quote = fee_in_quote(
            fee=fill.fee, fee_currency=fee_currency, base=base_currency,
            quote=quote_currency, price=fill.price,
        )  # fmt: skip
        if fill.quantity % lot_size:
            raise DomainError(
                f"fill quantity {fill.quantity} is not a multiple of the lot size "
                f"{lot_size.normalize()}"
            )
        previous = status
        status = status_after_fill(
            status=status, quantity=quantity, filled_quantity=filled_quantity,
            fill_quantity=fill.quantity,
        )  # fmt: skip
        effect = apply_fill(
            position,
            FillEvent(fill_id=fill.venue_trade_id, side=side, quantity=fill.quantity,
                      price=fill.price, fee=fee_quote, liquidity=fill.liquidity),
        )  # fmt: skip
        position = effect.after
        filled_at = fill.filled_at or now
        # Exits belong to the position they protect: a close or a flip clears them.
        if effect.opened or position.quantity == 0:
            exits_cleared = True
        opened_at = filled_at if effect.opened else (opened_at if position.quantity else None)
        with exact():
            filled_quantity += fill.quantity
            filled_notional += fill.quantity * fill.price
        steps.append(FillStep(fill, fee_currency, fee_quote, previous, status, effect, filled_at))
    return FillsApplied(
        steps=tuple(steps), status=status, filled_quantity=filled_quantity,
        filled_notional=filled_notional, position=position, opened_at=opened_at,
        exits_cleared=exits_cleared,
    )  # fmt: skip
