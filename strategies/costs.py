"""A backtest's costs, account, protective exits and risk checks, as validated data with
defaults and a schema. Costs are always on: fees and slippage must be above zero (the engine
allows zero only for its agreement test); latency may be zero. Stops, take profits and risk
checks are off unless set (strategies/backtest/engine.py says how each is modelled)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from execution.domain.risk import RiskLimits
from execution.domain.urgency import about
from strategies.kinds import InvalidStrategyConfig

NULLABLE = frozenset({"order_size", "stop_loss", "take_profit", "max_position_value",
                      "daily_loss_limit"})  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestCosts:
    fee_rate: Decimal = field(
        default=Decimal("0.0005"),
        metadata=about("fee per fill, a fraction of its value (taker)", positive=True, maximum=0.1),
    )
    slippage_bps: Decimal = field(
        default=Decimal(1),
        metadata=about("market fills move this many basis points against us", positive=True),
    )
    latency_seconds: Decimal = field(
        default=Decimal(0),
        metadata=about(
            "from a decision (a bar's close) to the order being active; a fill waits for the "
            "first bar opening after that",
            minimum=0,
            maximum=86400,
        ),
    )
    latency_bars: int = field(
        default=0,
        metadata=about("further whole bars before the fill", minimum=0, maximum=100),
    )
    initial_cash: Decimal = field(
        default=Decimal(100_000), metadata=about("starting cash", positive=True)
    )
    order_size: Decimal | None = field(
        default=None,
        metadata=about(
            "quantity held at a full target; blank: the initial cash at the first close, "
            "rounded down onto the lot grid",
            positive=True,
        ),
    )
    stop_loss: Decimal | None = field(
        default=None,
        metadata=about(
            "close a position when price moves this fraction of its entry against it; blank: "
            "no stop",
            positive=True,
            maximum=0.99,
        ),
    )
    take_profit: Decimal | None = field(
        default=None,
        metadata=about(
            "close a position when price moves this fraction of its entry for it; blank: none",
            positive=True,
            maximum=10,
        ),
    )
    max_position_value: Decimal | None = field(
        default=None,
        metadata=about(
            "pre-trade check: refuse orders that take the position's value beyond this "
            "fraction of equity (margin 1, so cash is checked too); blank: no risk checks "
            "unless daily_loss_limit is set",
            positive=True,
            maximum=100,
        ),
    )
    daily_loss_limit: Decimal | None = field(
        default=None,
        metadata=about(
            "pre-trade check: once the day's loss reaches this fraction of the day's starting "
            "equity, refuse new risk until the next UTC day; blank: none",
            positive=True,
            maximum=1,
        ),
    )

    def __post_init__(self) -> None:
        errors: dict[str, list[str]] = {}
        for f in dataclasses.fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if value is None and f.name in NULLABLE:
                continue
            number = Decimal(str(value))
            if not number.is_finite():
                errors[f.name] = [f"{f.name} must be a finite number, got {value}"]
            elif meta["positive"] and number <= 0:
                errors[f.name] = [f"{f.name} must be greater than zero (costs are always on)"]
            elif meta["minimum"] is not None and number < Decimal(str(meta["minimum"])):
                errors[f.name] = [f"{f.name} must be at least {meta['minimum']}, got {value}"]
            elif meta["maximum"] is not None and number > Decimal(str(meta["maximum"])):
                errors[f.name] = [f"{f.name} must be at most {meta['maximum']}, got {value}"]
        if errors:
            raise InvalidStrategyConfig(errors)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BacktestCosts:
        """Build from plain values (missing keys take their defaults); every refused key is
        named in the error."""
        if not isinstance(data, Mapping):
            raise InvalidStrategyConfig({"non_field_errors": ["costs must be a JSON object"]})
        names = [f.name for f in dataclasses.fields(cls)]
        errors: dict[str, list[str]] = {}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                errors[str(key)] = [f"unknown setting; the settings are: {', '.join(names)}"]
            elif value is None and key in NULLABLE:
                values[key] = None
            elif _number(value) is None:
                errors[key] = [f"{key} must be a number, got {value!r}"]
            elif key == "latency_bars":
                if _number(value) != int(_number(value) or 0):
                    errors[key] = [f"{key} must be a whole number, got {value!r}"]
                else:
                    values[key] = int(_number(value) or 0)
            else:
                values[key] = _number(value)
        if errors:
            raise InvalidStrategyConfig(errors)
        return cls(**values)

    def risk_limits(self) -> RiskLimits | None:
        """The pre-trade checks the run applies; None when neither limit is set."""
        if self.max_position_value is None and self.daily_loss_limit is None:
            return None
        return RiskLimits(
            max_position_value=self.max_position_value or Decimal(100),
            daily_loss_limit=self.daily_loss_limit or Decimal(1),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON values: amounts as strings, as ``from_dict`` reads them back (via Decimal)."""
        plain: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            plain[f.name] = value if value is None or isinstance(value, int) else str(value)
        return plain

    @classmethod
    def schema(cls) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            meta = f.metadata
            entry: dict[str, Any] = {"type": "integer" if f.name == "latency_bars" else "number"}
            entry.update({b: meta[b] for b in ("minimum", "maximum") if meta[b] is not None})
            if meta["positive"]:
                entry["exclusiveMinimum"] = 0
            if f.name in NULLABLE:
                entry["nullable"] = True
            entry["description"] = meta["doc"]
            entry["default"] = None if f.default is None else float(f.default)  # type: ignore[arg-type]
            properties[f.name] = entry
        return {"type": "object", "additionalProperties": False, "properties": properties}


def _number(value: object) -> Decimal | None:
    """A JSON number (or its text, as stored) as a finite Decimal; None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() else None
