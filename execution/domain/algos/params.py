"""Algorithm parameters: plain JSON-friendly values in, typed values out, and back again.

Durations are seconds (an int, or a decimal string such as "0.5") or a ``timedelta``; amounts
and fractions are Decimal strings or ints (floats are refused, as everywhere in the domain);
flags are booleans; a volume profile is a list of weights.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from execution.domain.errors import DomainError
from execution.domain.values import exact, to_decimal

_MICROSECOND = timedelta(microseconds=1)
_PER_SECOND = Decimal(1_000_000)


class InvalidAlgoConfig(DomainError):
    """An algorithm parameter is missing, unknown or out of range; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise InvalidAlgoConfig(field, message)


def parse_decimal(value: object, field: str) -> Decimal:
    try:
        return to_decimal(value, field=field)
    except DomainError as error:
        raise InvalidAlgoConfig(field, str(error)) from None


def parse_optional_decimal(value: object, field: str) -> Decimal | None:
    return None if value is None else parse_decimal(value, field)


def parse_int(value: object, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().removeprefix("-").isdigit():
        return int(value)
    raise InvalidAlgoConfig(field, f"{field} must be a whole number, got {value!r}")


def parse_bool(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    raise InvalidAlgoConfig(field, f"{field} must be true or false, got {value!r}")


def parse_seconds(value: object, field: str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    seconds = parse_decimal(value, field)
    try:
        with exact():
            microseconds = seconds * _PER_SECOND
        if microseconds != microseconds.to_integral_value():
            raise InvalidAlgoConfig(
                field, f"{field} must be a whole number of microseconds, got {seconds} seconds"
            )
        return timedelta(microseconds=int(microseconds))
    except (OverflowError, decimal.Overflow):
        raise InvalidAlgoConfig(field, f"{field} of {seconds} seconds is too long") from None


def parse_weights(value: object, field: str) -> tuple[Decimal, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidAlgoConfig(field, f"{field} must be a list of weights, got {value!r}")
    return tuple(parse_decimal(weight, f"{field}[{index}]") for index, weight in enumerate(value))


Parser = Callable[[object, str], object]

# Parsers by a parameter's annotated type.
PARSERS: dict[object, Parser] = {
    Decimal: parse_decimal,
    Decimal | None: parse_optional_decimal,
    int: parse_int,
    bool: parse_bool,
    timedelta: parse_seconds,
    tuple[Decimal, ...]: parse_weights,
}


def seconds_text(duration: timedelta) -> str:
    """A duration as exact seconds, the form ``parse_seconds`` reads back."""
    microseconds = duration // _MICROSECOND
    if microseconds % 1_000_000 == 0:
        return str(microseconds // 1_000_000)
    return str(Decimal(microseconds).scaleb(-6))


def plain(value: object) -> Any:
    """A parameter value in its JSON-friendly form."""
    if isinstance(value, timedelta):
        return seconds_text(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return [plain(item) for item in value]
    return value
