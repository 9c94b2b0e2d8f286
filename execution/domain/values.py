"""Decimal value types and instrument rules.

Money, prices and quantities are ``Decimal`` everywhere (DESIGN.md, principle 2). Floats are
refused at the edge: ``Decimal(0.1)`` is not 0.1, and a trading system must not guess.
"""

from __future__ import annotations

import decimal
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from enum import StrEnum
from typing import NewType

from execution.domain.errors import DomainError, RuleViolation

# Project-wide precision of every stored amount (prices, quantities, money): numeric(38, 18).
# 18 places hold the exact product of a quantity and a price whose places add up to 18 or
# fewer, which InstrumentSpec enforces, so notional and P&L never round on the way in.
MAX_DIGITS = 38
DECIMAL_PLACES = 18
QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)
_MAX_ADJUSTED = MAX_DIGITS - DECIMAL_PLACES - 1  # a number with 20 digits before the point

# Arithmetic context for the domain: the default 28 significant digits can silently round a
# 38-digit product, so domain arithmetic runs with room to spare and traps what is never valid.
DOMAIN_CONTEXT = decimal.Context(
    prec=60,
    rounding=ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


def exact() -> AbstractContextManager[decimal.Context]:
    """Run a block of domain arithmetic with enough precision to be exact."""
    return decimal.localcontext(DOMAIN_CONTEXT)


Price = NewType("Price", Decimal)
Quantity = NewType("Quantity", Decimal)

ZERO = Decimal(0)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


def to_decimal(value: object, *, field: str) -> Decimal:
    """Parse a str, int or Decimal into a finite Decimal; refuse floats and junk by name."""
    if type(value) is Decimal and value.is_finite() and value.adjusted() <= _MAX_ADJUSTED:
        return value  # the common case, on hot paths
    if isinstance(value, bool | float):
        raise DomainError(
            f"{field}: pass a string or Decimal, not {type(value).__name__} {value!r} "
            "(binary floats cannot hold most decimal prices exactly)"
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value.strip() if isinstance(value, str) else value)
        except decimal.InvalidOperation:
            raise DomainError(f"{field}: {value!r} is not a number") from None
    else:
        raise DomainError(f"{field}: expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise DomainError(f"{field}: {value!r} is not a finite number")
    if result and result.adjusted() > _MAX_ADJUSTED:
        raise DomainError(
            f"{field}: {value} is too large (at most {_MAX_ADJUSTED + 1} digits before the "
            "decimal point are stored)"
        )
    return result


def to_positive(value: object, *, field: str) -> Decimal:
    result = to_decimal(value, field=field)
    if result <= 0:
        raise RuleViolation("positive", f"{field} must be greater than zero, got {result}")
    return result


def plain(value: Decimal) -> Decimal:
    """The same number without trailing zeros or exponent notation: a database column gives
    0.100000000000000000, and messages should say 0.1."""
    normalized = value.normalize(DOMAIN_CONTEXT)
    exponent = normalized.as_tuple().exponent
    assert isinstance(exponent, int)
    return normalized if exponent <= 0 else normalized.quantize(Decimal(1), context=DOMAIN_CONTEXT)


def quantize(value: Decimal) -> Decimal:
    """Round to the stored precision (banker's rounding: no drift up or down on average)."""
    return value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN, context=DOMAIN_CONTEXT)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency; arithmetic across currencies is refused."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        to_decimal(self.amount, field="amount")
        if not self.currency or not self.currency.isalnum():
            raise DomainError(f"currency {self.currency!r} is not a currency code")

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise DomainError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        with exact():
            return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        with exact():
            return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """Trading rules of one instrument, as an exchange publishes them."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    min_notional: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_size"):
            value = to_positive(getattr(self, name), field=f"{self.symbol} {name}")
            object.__setattr__(self, name, value)
        for name in ("min_quantity", "min_notional"):
            value = to_decimal(getattr(self, name), field=f"{self.symbol} {name}")
            if value < 0:
                raise RuleViolation("non_negative", f"{self.symbol} {name} must not be negative")
            object.__setattr__(self, name, value)
        if _places(self.tick_size) + _places(self.lot_size) > DECIMAL_PLACES:
            raise RuleViolation(
                "precision",
                f"{self.symbol}: tick size {self.tick_size} and lot size {self.lot_size} "
                f"together need more than {DECIMAL_PLACES} decimal places, so notional "
                "could not be stored exactly",
            )

    # -- checks: each raises a RuleViolation naming the rule --------------------------------

    def check_price(self, price: Decimal, *, field: str = "price") -> Price:
        price = to_positive(price, field=field)
        if DOMAIN_CONTEXT.remainder(price, self.tick_size) != 0:
            raise RuleViolation(
                "tick_size",
                f"{field} {price} is not a multiple of {self.symbol}'s tick size {self.tick_size}",
            )
        return Price(price)

    def check_quantity(self, quantity: Decimal) -> Quantity:
        quantity = to_positive(quantity, field="quantity")
        if DOMAIN_CONTEXT.remainder(quantity, self.lot_size) != 0:
            raise RuleViolation(
                "lot_size",
                f"quantity {quantity} is not a multiple of {self.symbol}'s lot size "
                f"{self.lot_size}",
            )
        if quantity < self.min_quantity:
            raise RuleViolation(
                "min_quantity",
                f"quantity {quantity} is below {self.symbol}'s minimum quantity "
                f"{self.min_quantity}",
            )
        return Quantity(quantity)

    def check_notional(self, quantity: Decimal, price: Decimal) -> None:
        with exact():
            notional = quantity * price
        if notional < self.min_notional:
            raise RuleViolation(
                "min_notional",
                f"order value {notional} {self.quote} is below {self.symbol}'s minimum "
                f"notional {self.min_notional} {self.quote}",
            )

    # -- rounding onto the grid ---------------------------------------------------------------

    def round_price(self, price: Decimal, side: Side) -> Price:
        """Round onto the tick grid on the passive side: a buy down, a sell up."""
        rounding = ROUND_DOWN if side is Side.BUY else ROUND_UP
        with exact():
            return Price((price / self.tick_size).to_integral_value(rounding) * self.tick_size)

    def round_quantity(self, quantity: Decimal) -> Quantity:
        """Round down onto the lot grid: never trade more than asked."""
        with exact():
            return Quantity(
                (quantity / self.lot_size).to_integral_value(ROUND_DOWN) * self.lot_size
            )
