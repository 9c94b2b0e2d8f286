"""What every strategy has beside its kind's parameters: how sure a signal must be, how large
a position may be, the liquidity it needs, stop-loss and take-profit distances, and how often
and how long its signals count. Presets are named sets of these values.

Values are fractions (of the account's equity for ``max_position_size``, of the entry price
for the stop-loss and take-profit distances) or counts. A preset supplies values; values given
explicitly win over it, and defaults fill the rest.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from execution.domain.urgency import about
from strategies.kinds import InvalidStrategyConfig


class Preset:
    CONSERVATIVE = "conservative"
    AGGRESSIVE = "aggressive"
    HIGH_FREQUENCY = "high_frequency"
    ALL = (CONSERVATIVE, AGGRESSIVE, HIGH_FREQUENCY)


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategySettings:
    confidence_threshold: Decimal = field(
        default=Decimal("0.7"),
        metadata=about("least confidence a signal needs to be acted on", minimum=0, maximum=1),
    )
    max_position_size: Decimal = field(
        default=Decimal("0.1"),
        metadata=about("largest position, as a fraction of equity", positive=True, maximum=1),
    )
    min_liquidity_score: Decimal = field(
        default=Decimal("0.5"),
        metadata=about("least liquidity score of the book to trade", minimum=0, maximum=1),
    )
    stop_loss_base: Decimal = field(
        default=Decimal("0.02"),
        metadata=about("stop-loss distance, as a fraction of the entry", positive=True, maximum=1),
    )
    take_profit_base: Decimal = field(
        default=Decimal("0.04"),
        metadata=about(
            "take-profit distance, as a fraction of the entry", positive=True, maximum=10
        ),
    )
    max_signals_per_minute: int = field(
        default=10,
        metadata=about("most signals a minute; more are skipped", minimum=1, maximum=600),
    )
    signal_decay_seconds: int = field(
        default=300,
        metadata=about(
            "seconds after which an unexecuted signal expires", minimum=1, maximum=86400
        ),
    )

    def __post_init__(self) -> None:
        errors: dict[str, list[str]] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            problem = _check(f.name, value, f.metadata, whole=f.type in (int, "int"))
            if problem:
                errors[f.name] = [problem]
            elif f.type not in (int, "int"):
                object.__setattr__(self, f.name, Decimal(str(value)))
        if errors:
            raise InvalidStrategyConfig(errors)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def schema(cls) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            whole = f.type in (int, "int")
            entry: dict[str, Any] = {"type": "integer" if whole else "number"}
            meta = f.metadata
            entry.update({b: meta[b] for b in ("minimum", "maximum") if meta[b] is not None})
            if meta["positive"]:
                entry["exclusiveMinimum"] = 0
            entry["description"] = meta["doc"]
            default: Any = f.default
            entry["default"] = default if whole else float(default)
            properties[f.name] = entry
        return {"type": "object", "additionalProperties": False, "properties": properties}


def _check(name: str, value: Any, meta: Mapping[str, Any], *, whole: bool) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return f"{name} must be a number, got {value!r}"
    if not Decimal(str(value)).is_finite():
        return f"{name} must be a finite number, got {value!r}"
    if whole and value != int(value):
        return f"{name} must be a whole number, got {value!r}"
    number = Decimal(str(value))
    if meta["positive"] and not number > 0:
        return f"{name} must be greater than zero, got {value}"
    if meta["minimum"] is not None and number < Decimal(str(meta["minimum"])):
        return f"{name} must be at least {meta['minimum']}, got {value}"
    if meta["maximum"] is not None and number > Decimal(str(meta["maximum"])):
        return f"{name} must be at most {meta['maximum']}, got {value}"
    return None


# The presets; a value left out keeps its default.
PRESETS: dict[str, dict[str, Any]] = {
    Preset.CONSERVATIVE: {
        "confidence_threshold": Decimal("0.8"),
        "max_position_size": Decimal("0.05"),
        "min_liquidity_score": Decimal("0.7"),
        "stop_loss_base": Decimal("0.015"),
        "take_profit_base": Decimal("0.03"),
    },
    Preset.AGGRESSIVE: {
        "confidence_threshold": Decimal("0.6"),
        "max_position_size": Decimal("0.15"),
        "min_liquidity_score": Decimal("0.4"),
        "stop_loss_base": Decimal("0.025"),
        "take_profit_base": Decimal("0.05"),
    },
    Preset.HIGH_FREQUENCY: {
        "confidence_threshold": Decimal("0.7"),
        "max_position_size": Decimal("0.08"),
        "min_liquidity_score": Decimal("0.6"),
    },
}


def _library_presets() -> dict[str, dict[str, Any]]:
    """The library's presets, when it has them (``strategies.library.PRESETS``), over ours."""
    presets = getattr(importlib.import_module("strategies.library"), "PRESETS", None)
    if not isinstance(presets, Mapping):
        return {}
    merged: dict[str, dict[str, Any]] = {}
    for name, values in presets.items():
        if name not in Preset.ALL:
            continue  # a preset is one of the three a strategy row may name
        entries = values if isinstance(values, Mapping) else getattr(values, "__dict__", {})
        merged[str(name)] = {**PRESETS.get(str(name), {}), **dict(entries)}
    return merged


ALL_PRESETS: dict[str, dict[str, Any]] = {**PRESETS, **_library_presets()}


def preset_values(preset: str | None) -> dict[str, Any]:
    """A preset's values (every key it sets, for the settings and for kind configs alike)."""
    if preset is None or preset == "":
        return {}
    if preset not in ALL_PRESETS:
        known = ", ".join(sorted(ALL_PRESETS))
        raise InvalidStrategyConfig({"preset": [f"unknown preset {preset!r}; known: {known}"]})
    return dict(ALL_PRESETS[preset])


def settings_resolve(preset: str | None, explicit: Mapping[str, Any]) -> StrategySettings:
    """Defaults, then the preset, then the explicit values; unknown keys are refused."""
    names = StrategySettings.names()
    unknown = sorted(set(explicit) - set(names))
    if unknown:
        raise InvalidStrategyConfig({key: ["unknown setting"] for key in unknown})
    chosen = {k: v for k, v in preset_values(preset).items() if k in names}
    return StrategySettings(**{**chosen, **explicit})
