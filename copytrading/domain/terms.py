"""A subscription's terms as validated data: every field checked, every error named.

Pure: no Django. The services and the API refuse a request with ``InvalidCopyTerms.errors``
(messages by field) before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from execution.domain.errors import DomainError
from execution.domain.values import to_decimal

HUNDRED = Decimal(100)
MAX_SLIPPAGE_BPS = 1000  # 10%: beyond it an "IOC at the leader's price" is a market order
DEFAULT_ALLOCATION_PERCENT = Decimal(35)
DEFAULT_COPY_STOP_LOSS_PERCENT = Decimal(40)
DEFAULT_SLIPPAGE_BPS = 50


class CopyMode(StrEnum):
    PERCENT = "percent"  # scale the leader's trade by follower capital / leader capital
    FIXED_RATIO = "fixed_ratio"  # the leader's quantity times copy_ratio
    FIXED_AMOUNT = "fixed_amount"  # fixed_amount of quote currency per opening trade


class InvalidCopyTerms(DomainError):
    """Refused input; ``errors`` holds the messages by field."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = {key: list(messages) for key, messages in errors.items()}
        super().__init__("; ".join(f"{k}: {m}" for k, ms in self.errors.items() for m in ms))


@dataclass(frozen=True, slots=True)
class CopyTerms:
    """How a follower copies one strategy. Percentages are 0..100; None means no limit."""

    mode: CopyMode = CopyMode.PERCENT
    allocation_percent: Decimal = DEFAULT_ALLOCATION_PERCENT
    capital_cap: Decimal | None = None
    copy_ratio: Decimal = Decimal(1)
    fixed_amount: Decimal | None = None
    max_trade_value: Decimal | None = None
    max_position_value: Decimal | None = None
    stop_loss_percent: Decimal | None = None
    take_profit_percent: Decimal | None = None
    copy_stop_loss_percent: Decimal = DEFAULT_COPY_STOP_LOSS_PERCENT
    close_on_copy_stop_loss: bool = False
    daily_loss_limit_percent: Decimal | None = None
    slippage_bps: int = DEFAULT_SLIPPAGE_BPS
    copy_open_positions: bool = False

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> CopyTerms:
        """Terms from untrusted input (missing keys take the defaults); refuses unknown keys."""
        errors: dict[str, list[str]] = {}
        values: dict[str, Any] = {}
        known = set(cls.__dataclass_fields__)
        for key in raw:
            if key not in known:
                errors.setdefault(key, []).append("is not a copy setting")

        def number(
            key: str,
            *,
            optional: bool,
            low: Decimal = Decimal(0),
            high: Decimal | None = None,
            low_inclusive: bool = False,
        ) -> None:
            value = raw.get(key)
            if value is None or value == "":
                if not optional and key in raw:
                    errors.setdefault(key, []).append("is required")
                return
            try:
                number_ = to_decimal(value, field=key)
            except DomainError as error:
                errors.setdefault(key, []).append(str(error).removeprefix(f"{key}: "))
                return
            below = number_ < low if low_inclusive else number_ <= low
            if below:
                sign = "at least" if low_inclusive else "greater than"
                errors.setdefault(key, []).append(f"must be {sign} {low}, got {number_}")
            elif high is not None and number_ > high:
                errors.setdefault(key, []).append(f"must be at most {high}, got {number_}")
            else:
                values[key] = number_

        mode = raw.get("mode", CopyMode.PERCENT)
        try:
            values["mode"] = CopyMode(mode)
        except ValueError:
            choices = ", ".join(m.value for m in CopyMode)
            errors.setdefault("mode", []).append(f"{mode!r} is not one of {choices}")
        number("allocation_percent", optional=False, high=HUNDRED)
        number("capital_cap", optional=True)
        number("copy_ratio", optional=False, high=Decimal(1000))
        number("fixed_amount", optional=True)
        number("max_trade_value", optional=True)
        number("max_position_value", optional=True)
        number("stop_loss_percent", optional=True, high=HUNDRED)
        number("take_profit_percent", optional=True, high=Decimal(10_000))
        number("copy_stop_loss_percent", optional=False, high=HUNDRED)
        number("daily_loss_limit_percent", optional=True, high=HUNDRED)
        slippage = raw.get("slippage_bps", DEFAULT_SLIPPAGE_BPS)
        if isinstance(slippage, bool) or not isinstance(slippage, int | str):
            errors.setdefault("slippage_bps", []).append("must be a whole number of bps")
        else:
            try:
                bps = int(slippage)
            except ValueError:
                errors.setdefault("slippage_bps", []).append("must be a whole number of bps")
            else:
                if not 0 <= bps <= MAX_SLIPPAGE_BPS:
                    errors.setdefault("slippage_bps", []).append(
                        f"must be 0 to {MAX_SLIPPAGE_BPS} bps, got {bps}"
                    )
                values["slippage_bps"] = bps
        for key in ("close_on_copy_stop_loss", "copy_open_positions"):
            if key in raw:
                if not isinstance(raw[key], bool):
                    errors.setdefault(key, []).append("must be true or false")
                else:
                    values[key] = raw[key]
        if values.get("mode") == CopyMode.FIXED_AMOUNT and "fixed_amount" not in values:
            errors.setdefault("fixed_amount", []).append(
                "is required in fixed_amount mode (quote currency per trade)"
            )
        if errors:
            raise InvalidCopyTerms(errors)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mode"] = self.mode.value
        return data
