"""What every benchmark returns, so `make bench` can print one table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Result:
    name: str  # what was measured, e.g. "fill_record, 1 writer (PostgreSQL)"
    value: float  # the figure, in `unit`
    unit: str  # e.g. "fills/s", "orders/s", "ms"
    target: str = ""  # the target, e.g. ">= 1,000"
    note: str = ""  # context: sizes, baseline ratio, environment
