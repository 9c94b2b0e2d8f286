"""Buy and hold: the baseline every other strategy must beat. Long ``exposure`` from the
close of the first bar, and held to the end."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from strategies.domain.base import Bar, Bars, FloatArray, Signal, signal_for
from strategies.library.settings import (
    about,
    parse_strategy_settings,
    settings_from_dict,
    settings_schema,
    settings_to_dict,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BuyAndHoldConfig:
    exposure: float = field(
        default=1.0,
        metadata=about(
            "the long target, as a fraction of the allowed size", maximum=1, positive=True
        ),
    )

    def __post_init__(self) -> None:
        parse_strategy_settings(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> BuyAndHoldConfig:
        return settings_from_dict(cls, data)

    @classmethod
    def schema(cls) -> dict[str, Any]:
        return settings_schema(cls)

    def to_dict(self) -> dict[str, Any]:
        return settings_to_dict(self)


class BuyAndHold:
    """The strategy; see the module docstring."""

    def __init__(self, config: BuyAndHoldConfig = BuyAndHoldConfig()) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return "buy_and_hold"

    @property
    def warmup_bars(self) -> int:
        return 0

    def target_positions(self, bars: Bars) -> FloatArray:
        return np.full(len(bars), self.config.exposure)

    def live(self) -> LiveBuyAndHold:
        return LiveBuyAndHold(self.config)


class LiveBuyAndHold:
    def __init__(self, config: BuyAndHoldConfig) -> None:
        self.config = config
        self._bought = False

    def on_bar(self, bar: Bar) -> Signal | None:
        if self._bought:
            return None
        self._bought = True
        return signal_for(bar, target=self.config.exposure, previous=0.0)
