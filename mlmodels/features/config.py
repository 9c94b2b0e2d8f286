"""``FeatureConfig``: the windows and thresholds of the feature library, as validated data.

Window lengths are in bars. The windows of ``spread_stability_norm_100`` (100 bars),
``ofi_normalized_1m`` (60 s) and ``ofi_weighted_30s`` (30 s) are in their names, so they are
fixed, not settings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from execution.domain.urgency import InvalidConfig, about


def _windows(doc: str, minimum: int) -> dict[str, object]:
    return about(doc, minimum=minimum)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureConfig:
    """Settings of every feature; names of windowed features carry their window
    (``return_5``, ``sma_ratio_20``), so another setting gives other names."""

    return_lags: tuple[int, ...] = field(
        default=(1, 5, 10, 20), metadata=_windows("bars back of return_<lag>", 1)
    )
    sma_windows: tuple[int, ...] = field(
        default=(5, 20, 50),
        metadata=_windows("bars of sma_ratio_<w>; consecutive pairs give momentum_ratio", 2),
    )
    ema_spans: tuple[int, ...] = field(
        default=(12, 26, 50), metadata=_windows("ema_ratio spans", 2)
    )
    volatility_windows: tuple[int, ...] = field(
        default=(10, 20),
        metadata=_windows("bars of realized_volatility_<w> and risk_adjusted_momentum_<w>", 2),
    )
    rsi_period: int = field(default=14, metadata=about("bars of Wilder's RSI", minimum=2))
    rsi_overbought: float = field(
        default=70.0, metadata=about("rsi_overbought when RSI is above", minimum=50, maximum=100)
    )
    rsi_oversold: float = field(
        default=30.0, metadata=about("rsi_oversold when RSI is below", minimum=0, maximum=50)
    )
    macd_fast: int = field(default=12, metadata=about("fast EMA span of MACD", minimum=2))
    macd_slow: int = field(default=26, metadata=about("slow EMA span of MACD", minimum=3))
    macd_signal: int = field(default=9, metadata=about("EMA span of the MACD signal", minimum=2))
    bollinger_window: int = field(default=20, metadata=about("bars of the bands", minimum=2))
    bollinger_width: float = field(
        default=2.0, metadata=about("band half-width in standard deviations", positive=True)
    )
    atr_period: int = field(default=14, metadata=about("bars of Wilder's ATR", minimum=2))
    stochastic_window: int = field(default=14, metadata=about("bars of stochastic %K", minimum=2))
    volume_window: int = field(
        default=20, metadata=about("bars of volume_surge and vwap_deviation", minimum=2)
    )
    flow_window: int = field(
        default=20, metadata=about("bars of flow_imbalance_<w> and trade_intensity", minimum=2)
    )
    vpin_window: int = field(default=50, metadata=about("bars of the VPIN toxicity", minimum=2))
    book_window: int = field(
        default=20, metadata=about("bars of spread_ratio and book_depth_ratio", minimum=2)
    )
    imbalance_momentum_lag: int = field(
        default=5, metadata=about("bars back of book_imbalance_momentum", minimum=1)
    )
    depth_levels: int = field(
        default=5,
        metadata=about(
            "book levels of depth-by-level, depth imbalance and weighted OFI", minimum=1
        ),
    )
    concentration_levels: int = field(
        default=3, metadata=about("levels per side in volume_concentration", minimum=1)
    )
    pressure_decay_bps: float = field(
        default=10.0,
        metadata=about("distance from the mid (bps) at which a level weighs half", positive=True),
    )
    large_order_threshold: float = field(
        default=1.0,
        metadata=about("a trade of at least this size (base units) is large", positive=True),
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, tuple):
                value = _parse_windows(value, f.name, f.metadata["minimum"])
            elif isinstance(f.default, int):
                value = _parse_int(value, f.name, f.metadata["minimum"])
            else:
                value = _parse_float(value, f.name, f.metadata)
            object.__setattr__(self, f.name, value)
        if self.macd_fast >= self.macd_slow:
            raise InvalidConfig(
                "macd_fast",
                f"macd_fast ({self.macd_fast}) must be below macd_slow ({self.macd_slow})",
            )
        if self.concentration_levels > self.depth_levels:
            raise InvalidConfig(
                "concentration_levels",
                f"concentration_levels ({self.concentration_levels}) must not be above "
                f"depth_levels ({self.depth_levels})",
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain values (tuples as lists), as ``from_dict`` reads them back."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """A JSON schema of the settings: each one's type, meaning, default and bounds."""
        properties: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            meta = f.metadata
            entry: dict[str, Any]
            if isinstance(f.default, tuple):
                item = {"type": "integer", "minimum": meta["minimum"]}
                entry = {"type": "array", "items": item, "minItems": 1, "uniqueItems": True}
            elif isinstance(f.default, int):
                entry = {"type": "integer", "minimum": meta["minimum"]}
            else:
                entry = {"type": "number"}
                entry.update({b: meta[b] for b in ("minimum", "maximum") if meta[b] is not None})
                if meta["positive"]:
                    entry["exclusiveMinimum"] = 0
            entry["description"] = meta["doc"]
            entry["default"] = list(f.default) if isinstance(f.default, tuple) else f.default
            properties[f.name] = entry
        return {"type": "object", "additionalProperties": False, "properties": properties}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> FeatureConfig:
        """Build from plain values; missing keys take their defaults."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise InvalidConfig(
                unknown[0], f"unknown setting {unknown[0]!r}; known settings: {', '.join(names)}"
            )
        return cls(**data)  # type: ignore[arg-type]


def _parse_int(value: object, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidConfig(key, f"{key} must be a whole number, got {value!r}")
    if value < minimum:
        raise InvalidConfig(key, f"{key} must be at least {minimum}, got {value}")
    return value


def _parse_windows(value: object, key: str, minimum: int) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, tuple | list):
        raise InvalidConfig(key, f"{key} must be a list of whole numbers, got {value!r}")
    windows = tuple(_parse_int(item, key, minimum) for item in value)
    if not windows or list(windows) != sorted(set(windows)):
        raise InvalidConfig(key, f"{key} must be increasing with no repeats, got {list(windows)}")
    return windows


def _parse_float(value: object, key: str, meta: Mapping[str, Any]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidConfig(key, f"{key} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidConfig(key, f"{key} must be a finite number, got {value!r}")
    if meta["positive"] and not number > 0:
        raise InvalidConfig(key, f"{key} must be greater than zero, got {number:g}")
    if meta["minimum"] is not None and number < meta["minimum"]:
        raise InvalidConfig(key, f"{key} must be at least {meta['minimum']}, got {number:g}")
    if meta["maximum"] is not None and number > meta["maximum"]:
        raise InvalidConfig(key, f"{key} must be at most {meta['maximum']}, got {number:g}")
    return number
