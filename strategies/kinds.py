"""The strategy kinds the platform can run: a name, the strategy class and its config class.

Until ``strategies.library.STRATEGY_KINDS`` exists this module is the registry; when it does,
its kinds are merged in (the library's entry wins for a name both have). A kind "needs a model"
when its strategy or config class says so (``needs_model = True``) or its config has a
``model_name`` field: such a strategy must name a model version.

Configs are validated here, field by field, whatever their class offers: unknown keys, wrong
types and out-of-range values are each reported under the key they concern
(``InvalidStrategyConfig.errors``). A config class with ``from_dict``/``to_dict``/``schema``
is used through them; a plain frozen dataclass works too (its fields give the schema).
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from execution.domain.errors import DomainError
from strategies.library.sma_crossover import SmaCrossover, SmaCrossoverConfig

MODEL_KINDS = frozenset({"xgboost"})  # need a model by their nature (simple_ml fits its own)


class InvalidStrategyConfig(DomainError):
    """A refused config; ``errors`` holds the messages by config key (``non_field_errors``
    for the config as a whole)."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = {key: list(messages) for key, messages in errors.items()}
        super().__init__("; ".join(f"{k}: {m}" for k, ms in self.errors.items() for m in ms))


@dataclass(frozen=True, slots=True)
class StrategyKind:
    name: str
    strategy: type[Any]
    config: type[Any]

    @property
    def needs_model(self) -> bool:
        return bool(
            self.name in MODEL_KINDS
            or getattr(self.strategy, "needs_model", False)
            or getattr(self.config, "needs_model", False)
            or "model_name" in self.field_names()
        )

    def field_names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.config)]

    def config_from_dict(self, data: Mapping[str, Any]) -> Any:
        """The validated config; refused keys are each named in the error."""
        return config_from_dict(self.config, data)

    def config_to_dict(self, config: Any) -> dict[str, Any]:
        if hasattr(config, "to_dict"):
            return dict(config.to_dict())
        return {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}

    def defaults(self) -> dict[str, Any]:
        return self.config_to_dict(self.config())

    def schema(self) -> dict[str, Any]:
        library = importlib.import_module("strategies.library")
        if self.name in getattr(library, "STRATEGY_KINDS", {}) and hasattr(
            library, "config_schema"
        ):
            return dict(library.config_schema(self.name))
        if hasattr(self.config, "schema"):
            return dict(self.config.schema())
        hints = typing.get_type_hints(self.config)
        properties: dict[str, Any] = {}
        for f in dataclasses.fields(self.config):
            entry: dict[str, Any] = {"default": _plain(f.default)}
            kind = _SCHEMA_TYPES.get(hints[f.name])
            if kind:
                entry["type"] = kind
            properties[f.name] = entry
        return {"type": "object", "additionalProperties": False, "properties": properties}

    def build(self, config: Any) -> Any:
        """A strategy instance with this config."""
        return self.strategy(config)


_SCHEMA_TYPES: dict[Any, str] = {int: "integer", float: "number", bool: "boolean", str: "string"}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return getattr(value, "value", value)  # enums as their values


def _type_error(hint: Any, value: Any) -> str | None:
    """Why ``value`` cannot be a ``hint``, for the simple types configs use; None if it can."""
    if hint is bool:
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
            return f"must be a whole number, got {value!r}"
        return None if value == int(value) else f"must be a whole number, got {value!r}"
    if hint is float or hint is Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return f"must be a number, got {value!r}"
        return None
    if hint is str:
        return None if isinstance(value, str) else f"must be text, got {value!r}"
    return None


def _coerced(hint: Any, value: Any) -> Any:
    """JSON numbers arrive as Decimal (the API keeps them exact): the type the field wants."""
    if hint is int and not isinstance(value, bool):
        return int(value)
    if hint is float and not isinstance(value, bool):
        return float(value)
    if hint is Decimal and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def _build(config_class: type[Any], data: Mapping[str, Any]) -> Any:
    if hasattr(config_class, "from_dict"):
        return config_class.from_dict(data)
    return config_class(**data)


def _key_of(error: Exception, names: list[str], fallback: str) -> str:
    key = getattr(error, "key", None) or getattr(error, "field", None)
    if isinstance(key, str) and key in names:
        return key
    message = str(error)
    positions = [(m.start(), name) for name in names if (m := re.search(rf"\b{name}\b", message))]
    return min(positions)[1] if positions else fallback


def config_from_dict(config_class: type[Any], data: Mapping[str, Any]) -> Any:
    """``config_class`` built from plain values (missing keys take their defaults), or
    ``InvalidStrategyConfig`` naming every refused key."""
    if not isinstance(data, Mapping):
        raise InvalidStrategyConfig({"non_field_errors": ["the config must be a JSON object"]})
    hints = typing.get_type_hints(config_class)
    names = [f.name for f in dataclasses.fields(config_class)]
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            errors[str(key)] = [f"unknown setting; the settings are: {', '.join(names)}"]
            continue
        problem = _type_error(hints[key], value)
        if problem:
            errors[key] = [f"{key} {problem}"]
        else:
            values[key] = _coerced(hints[key], value)
    if errors:
        raise InvalidStrategyConfig(errors)
    try:
        return _build(config_class, values)
    except (DomainError, TypeError, ValueError) as combined:
        # Attribute the refusal to every key that is wrong on its own, else to the one named.
        for key, value in values.items():
            try:
                _build(config_class, {key: value})
            except (DomainError, TypeError, ValueError) as alone:
                errors[key] = [str(alone)]
        if not errors:
            errors[_key_of(combined, names, "non_field_errors")] = [str(combined)]
        raise InvalidStrategyConfig(errors) from None


def _own_kinds() -> dict[str, StrategyKind]:
    return {"sma_crossover": StrategyKind("sma_crossover", SmaCrossover, SmaCrossoverConfig)}


def _library_kinds() -> dict[str, StrategyKind]:
    library: types.ModuleType = importlib.import_module("strategies.library")
    registered = getattr(library, "STRATEGY_KINDS", None)
    if not isinstance(registered, Mapping):
        return {}
    return {
        str(name): StrategyKind(str(name), strategy, config)
        for name, (strategy, config) in registered.items()
    }


KINDS: dict[str, StrategyKind] = {**_own_kinds(), **_library_kinds()}


def kind_get(name: str) -> StrategyKind:
    """The kind called ``name``; unknown names are refused under the key ``kind``."""
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(KINDS))
        raise InvalidStrategyConfig({"kind": [f"unknown kind {name!r}; known: {known}"]}) from None
