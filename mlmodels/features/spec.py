"""What the catalogue says about each feature."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mlmodels.features.inputs import INPUT_BUNDLES, InputBundle


class FeatureGroup(StrEnum):
    ORDER_FLOW = "order_flow"
    MICROSTRUCTURE = "microstructure"
    TECHNICAL = "technical"
    DERIVED = "derived"


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One feature: ``warm_up`` is how many rows at the start of a series it is NaN (its
    window is not yet full); ``inputs`` are the columns it reads."""

    name: str
    group: FeatureGroup
    description: str
    inputs: tuple[str, ...]
    warm_up: int

    @property
    def bundles(self) -> frozenset[InputBundle]:
        return frozenset(INPUT_BUNDLES[column] for column in self.inputs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group.value,
            "description": self.description,
            "inputs": list(self.inputs),
            "warm_up": self.warm_up,
        }


CANDLES = ("open", "high", "low", "close")
TRADES = ("buy_volume", "sell_volume")
BOOK = ("bid_prices", "bid_sizes", "ask_prices", "ask_sizes")
