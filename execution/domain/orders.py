"""Order types, time in force, and the order state machine as one transition table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from execution.domain.errors import DomainError, InvalidTransition, RuleViolation
from execution.domain.values import (
    ZERO,
    InstrumentSpec,
    Liquidity,
    Side,
    exact,
    quantize,
    to_decimal,
    to_positive,
)

E = TypeVar("E", bound=StrEnum)

# Client order ids follow OKX's rule, the strictest venue we target: ASCII letters and digits.
CLIENT_ORDER_ID_MAX = 32
CLIENT_ORDER_ID = re.compile(rf"[A-Za-z0-9]{{1,{CLIENT_ORDER_ID_MAX}}}")


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"
    STOP_LIMIT = "stop_limit"

    @property
    def has_limit_price(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.STOP_LIMIT)

    @property
    def has_stop_price(self) -> bool:
        return self in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    POST_ONLY = "post_only"


class OrderStatus(StrEnum):
    NEW = "new"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return not TRANSITIONS[self] - {self}

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES


S = OrderStatus
# The one place that says how an order's status may change. ``unknown`` is a timeout after
# sending: only a query by client order id or reconciliation moves it on (never a blind
# resend). Cancelled and expired orders accept late fills (a fill can cross the cancel on the
# wire; money that moved is never dropped), so they may move to themselves or to filled.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset(
        {S.SUBMITTED, S.REJECTED, S.CANCELLED, S.UNKNOWN, S.PARTIALLY_FILLED, S.FILLED, S.EXPIRED}
    ),
    S.SUBMITTED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED, S.UNKNOWN}
    ),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.UNKNOWN}
    ),
    S.UNKNOWN: frozenset(
        {S.SUBMITTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}
    ),
    S.CANCELLED: frozenset({S.CANCELLED, S.FILLED}),
    S.EXPIRED: frozenset({S.EXPIRED, S.FILLED}),
    S.FILLED: frozenset(),
    S.REJECTED: frozenset(),
}
del S

OPEN_STATUSES = frozenset(
    {OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN}
)


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(f"an order cannot go from {current} to {target}")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A validated order as a user or strategy asks for it, before any risk check."""

    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    time_in_force: TimeInForce = TimeInForce.GTC
    price: Decimal | None = None
    stop_price: Decimal | None = None
    reduce_only: bool = False

    @classmethod
    def build(
        cls,
        spec: InstrumentSpec,
        *,
        side: str | Side,
        order_type: str | OrderType,
        quantity: object,
        time_in_force: str | TimeInForce = TimeInForce.GTC,
        price: object = None,
        stop_price: object = None,
        reduce_only: bool = False,
        reference_price: Decimal | None = None,
    ) -> OrderRequest:
        """Parse and check every instrument rule; the first broken rule raises.

        ``reference_price`` (the mid) lets a market order be checked against min notional.
        """
        side_value = _enum(Side, side, "side")
        type_value = _enum(OrderType, order_type, "order type")
        tif_value = _enum(TimeInForce, time_in_force, "time in force")
        qty = spec.check_quantity(to_decimal(quantity, field="quantity"))

        limit_price = None if price is None or price == "" else to_decimal(price, field="price")
        stop = (
            None
            if stop_price is None or stop_price == ""
            else to_decimal(stop_price, field="stop price")
        )
        if type_value.has_limit_price:
            if limit_price is None:
                raise RuleViolation("price_required", f"a {type_value} order needs a price")
            limit_price = spec.check_price(limit_price)
        elif limit_price is not None:
            raise RuleViolation("price_not_allowed", f"a {type_value} order takes no limit price")
        if type_value.has_stop_price:
            if stop is None:
                raise RuleViolation(
                    "stop_price_required", f"a {type_value} order needs a stop price"
                )
            stop = spec.check_price(stop, field="stop price")
        elif stop is not None:
            raise RuleViolation(
                "stop_price_not_allowed", f"a {type_value} order takes no stop price"
            )
        if tif_value is TimeInForce.POST_ONLY and type_value is not OrderType.LIMIT:
            raise RuleViolation("post_only_limit", "post-only applies to limit orders only")

        notional_price = limit_price or stop or reference_price
        if notional_price is not None:
            spec.check_notional(qty, notional_price)
        return cls(
            symbol=spec.symbol,
            side=side_value,
            order_type=type_value,
            quantity=qty,
            time_in_force=tif_value,
            price=limit_price,
            stop_price=stop,
            reduce_only=reduce_only,
        )


def _enum(kind: type[E], value: object, name: str) -> E:
    try:
        return kind(str(value))
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise DomainError(f"{name} {value!r} is not one of: {allowed}") from None


@dataclass(frozen=True, slots=True)
class FillEvent:
    """One execution reported by a venue. ``fee`` is in the quote currency (a cost, >= 0
    normally; negative for a maker rebate)."""

    fill_id: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal = ZERO
    liquidity: Liquidity = Liquidity.TAKER

    def __post_init__(self) -> None:
        if not self.fill_id:
            raise DomainError("a fill needs a venue trade id")
        to_positive(self.quantity, field="fill quantity")
        to_positive(self.price, field="fill price")
        to_decimal(self.fee, field="fee")


@dataclass(slots=True)
class OrderFills:
    """Fill accounting of one order: what is filled, at what average, idempotent per fill."""

    quantity: Decimal
    status: OrderStatus = OrderStatus.NEW
    filled_quantity: Decimal = ZERO
    filled_notional: Decimal = ZERO
    seen_fill_ids: set[str] = field(default_factory=set)

    @property
    def remaining_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def average_fill_price(self) -> Decimal | None:
        if not self.filled_quantity:
            return None
        with exact():
            return quantize(self.filled_notional / self.filled_quantity)

    def transition(self, target: OrderStatus) -> None:
        check_transition(self.status, target)
        self.status = target

    def apply(self, fill: FillEvent) -> bool:
        """Apply a fill once; returns False (and changes nothing) for a fill already seen."""
        if fill.fill_id in self.seen_fill_ids:
            return False
        self.status = status_after_fill(
            status=self.status,
            quantity=self.quantity,
            filled_quantity=self.filled_quantity,
            fill_quantity=fill.quantity,
        )
        with exact():
            self.filled_quantity += fill.quantity
            self.filled_notional += fill.quantity * fill.price
        self.seen_fill_ids.add(fill.fill_id)
        return True


def status_after_fill(
    *, status: OrderStatus, quantity: Decimal, filled_quantity: Decimal, fill_quantity: Decimal
) -> OrderStatus:
    """The status an order moves to on a fill, refusing a fill that would overfill it."""
    if filled_quantity + fill_quantity > quantity:
        raise RuleViolation(
            "overfill",
            f"a fill of {fill_quantity} would take the order to "
            f"{filled_quantity + fill_quantity}, above its quantity {quantity}",
        )
    if filled_quantity + fill_quantity == quantity:
        target = OrderStatus.FILLED
    elif status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
        target = status  # a late partial fill on a closed order: record it, keep the status
    else:
        target = OrderStatus.PARTIALLY_FILLED
    check_transition(status, target)
    return target
