"""The venue protocol: what the execution services need from an exchange, paper or live.

Calls are synchronous. Reports carry Decimals only. A ``VenueTimeout`` means the venue may or
may not have acted: the caller marks the order unknown and settles it with ``fetch_order``
(by client order id) or reconciliation; it never resends blindly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from execution.domain.errors import DomainError
from execution.domain.orders import OrderRequest, OrderStatus
from execution.domain.positions import PositionState
from execution.domain.values import Liquidity, Side


class VenueError(DomainError):
    """The venue refused a request or its input; nothing changed there."""


class VenueTimeout(VenueError):
    """No answer in time: the request may or may not have reached the venue."""


@dataclass(frozen=True, slots=True)
class VenueFill:
    """One execution as the venue reports it; ``fee`` is in ``fee_currency`` (negative: a
    rebate)."""

    venue_trade_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    liquidity: Liquidity
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class VenueOrderReport:
    """An order's state at the venue. ``fills`` are those that happened during the call that
    returned the report; ``fetch_order`` returns every fill of the order, since recording a
    fill again is a no-op and a caller settling an unknown order needs them all."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    status: OrderStatus
    quantity: Decimal
    filled_quantity: Decimal
    average_price: Decimal | None
    fills: tuple[VenueFill, ...]
    reason: str | None
    timestamp: datetime


class Venue(Protocol):
    """An exchange account: orders by client order id, balances and positions."""

    def submit(self, request: OrderRequest, *, client_order_id: str) -> VenueOrderReport: ...

    def cancel(self, client_order_id: str) -> VenueOrderReport: ...

    def amend(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
    ) -> VenueOrderReport: ...

    def fetch_order(self, client_order_id: str) -> VenueOrderReport | None:
        """The order's report, or None when the venue never saw that client order id."""
        ...

    def open_orders(self, symbol: str | None = None) -> list[VenueOrderReport]: ...

    def balances(self) -> dict[str, Decimal]: ...

    def positions(self) -> dict[str, PositionState]: ...
