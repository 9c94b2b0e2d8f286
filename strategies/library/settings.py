"""Validated strategy configuration: the helpers every library config uses.

A config is a frozen dataclass whose fields carry ``about`` metadata (meaning and bounds, from
``execution.domain.urgency``); ``parse_strategy_settings`` checks every field's type and bounds
and raises ``InvalidConfig`` naming the field. Booleans are settings too here (the execution
helpers have none), so a strategy's ``long_only`` is validated like its windows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

from execution.domain.urgency import InvalidConfig, about, config_from_dict

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "InvalidConfig",
    "about",
    "parse_strategy_settings",
    "settings_from_dict",
    "settings_schema",
    "settings_to_dict",
]

C = TypeVar("C", bound="DataclassInstance")
_SCHEMA_TYPES = {int: "integer", float: "number", bool: "boolean"}


@cache
def _types(kind: type[DataclassInstance]) -> dict[str, Any]:
    return get_type_hints(kind)


def _parse(value: object, key: str, kind: object) -> int | float | bool:
    if kind is bool:
        if type(value) is not bool:
            raise InvalidConfig(key, f"{key} must be true or false, got {value!r}")
        return value
    if kind is int:
        if type(value) is not int:
            raise InvalidConfig(key, f"{key} must be a whole number, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidConfig(key, f"{key} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidConfig(key, f"{key} must be a finite number, got {value!r}")
    return number


def parse_strategy_settings(config: DataclassInstance) -> None:
    """Check (and normalise: ints to floats) every field of a frozen config in place."""
    types = _types(type(config))
    for f in dataclasses.fields(config):
        value = _parse(getattr(config, f.name), f.name, types[f.name])
        object.__setattr__(config, f.name, value)
        meta = f.metadata
        if isinstance(value, bool) or not meta:
            continue
        if meta["positive"] and not value > 0:
            raise InvalidConfig(f.name, f"{f.name} must be greater than zero, got {value}")
        if meta["minimum"] is not None and value < meta["minimum"]:
            raise InvalidConfig(f.name, f"{f.name} must be at least {meta['minimum']}, got {value}")
        if meta["maximum"] is not None and value > meta["maximum"]:
            raise InvalidConfig(f.name, f"{f.name} must be at most {meta['maximum']}, got {value}")


def settings_to_dict(config: DataclassInstance) -> dict[str, Any]:
    """The plain (JSON) form ``config_from_dict`` reads back."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def settings_schema(kind: type[DataclassInstance]) -> dict[str, Any]:
    """A JSON schema of a config: every key's type, meaning (when documented), default and
    bounds."""
    types = _types(kind)
    properties: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        entry: dict[str, Any] = {"type": _SCHEMA_TYPES[types[f.name]], "default": f.default}
        meta: Mapping[str, Any] = f.metadata
        if meta:
            entry["description"] = meta["doc"]
            for bound in ("minimum", "maximum"):
                if meta[bound] is not None:
                    entry[bound] = meta[bound]
            if meta["positive"]:
                entry["exclusiveMinimum"] = 0
        properties[f.name] = entry
    return {"type": "object", "additionalProperties": False, "properties": properties}


def settings_from_dict(kind: type[C], data: Mapping[str, object]) -> C:
    """Build a config from plain values; unknown keys are refused by name, missing ones take
    their defaults."""
    return config_from_dict(kind, data)
