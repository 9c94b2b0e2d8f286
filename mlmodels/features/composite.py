"""Composite scores that combine the trade flow with the book."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from mlmodels.features.config import FeatureConfig
from mlmodels.features.inputs import InputBundle
from mlmodels.features.primitives import FloatArray
from mlmodels.features.spec import BOOK, TRADES, FeatureGroup, FeatureSpec


class CompositeFeatures:
    """Scores from other features' values: no state of their own."""

    bundles: ClassVar[frozenset[InputBundle]] = frozenset({InputBundle.TRADES, InputBundle.BOOK})

    @staticmethod
    def specs(c: FeatureConfig) -> list[FeatureSpec]:
        inputs = ("time", *TRADES, *BOOK)
        return [
            FeatureSpec(
                "flow_pressure_score",
                FeatureGroup.DERIVED,
                f"mean of flow_imbalance_{c.flow_window}, order_imbalance_depth and "
                "ofi_normalized_1m: -1 (selling) to 1 (buying) pressure",
                inputs,
                c.flow_window - 1,
            ),
            FeatureSpec(
                "liquidity_score",
                FeatureGroup.DERIVED,
                "mean of book_resilience, 1 - spread_stability_norm_100 and 1 - "
                f"vpin_{c.vpin_window}: 0 (fragile, toxic) to 1 (deep, calm)",
                inputs,
                c.vpin_window - 1,
            ),
        ]

    @staticmethod
    def reads(c: FeatureConfig) -> tuple[str, ...]:
        """The features the scores are made of."""
        return (
            f"flow_imbalance_{c.flow_window}",
            "order_imbalance_depth",
            "ofi_normalized_1m",
            "book_resilience",
            "spread_stability_norm_100",
            f"vpin_{c.vpin_window}",
        )

    @staticmethod
    def extend(values: Sequence[FloatArray]) -> list[FloatArray]:
        """Scores from the columns named by ``reads``, in that order."""
        flow, depth, ofi, resilience, stability, toxicity = values
        return [
            (flow + depth + ofi) / 3.0,
            (resilience + (1.0 - stability) + (1.0 - toxicity)) / 3.0,
        ]

    @staticmethod
    def push(values: Sequence[float]) -> list[float]:
        """``extend`` of one row."""
        flow, depth, ofi, resilience, stability, toxicity = values
        return [
            (flow + depth + ofi) / 3.0,
            (resilience + (1.0 - stability) + (1.0 - toxicity)) / 3.0,
        ]
