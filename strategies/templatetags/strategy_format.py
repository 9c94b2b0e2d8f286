"""Number formats of the strategies and models pages: fractions as percentages, with the
sign a reader of P&L expects."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from django import template

register = template.Library()


@register.filter
def percent(value: object, places: int = 2) -> str:
    """0.1234 -> "+12.34%"; "n/a" for a missing or undefined value."""
    if value is None or value == "":
        return "n/a"
    try:
        number = float(str(value))
    except ValueError:
        return "n/a"
    if not math.isfinite(number):
        return "n/a"
    return f"{number * 100:+.{int(places)}f}%"


@register.filter
def number(value: object, places: int = 2) -> str:
    """A float with ``places`` decimals; "n/a" for a missing or undefined metric."""
    if value is None or value == "":
        return "n/a"
    try:
        found = float(str(value))
    except ValueError:
        return "n/a"
    return f"{found:.{int(places)}f}" if math.isfinite(found) else "n/a"


@register.filter
def ns_date(value: object) -> str:
    """Nanoseconds since the epoch (a training window's bounds) as a UTC date and time."""
    if not isinstance(value, int):
        return ""
    return datetime.fromtimestamp(value / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")


@register.filter
def drawdown(value: object) -> str:
    """A drawdown depth (a positive fraction of the peak) as a fall: 0.12 -> "-12.00%"."""
    shown = percent(value)
    if shown == "n/a":
        return shown
    return "-" + shown[1:]
