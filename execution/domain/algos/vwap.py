"""VWAP: slices that follow a volume profile (``SlicedSchedule`` has the rules)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import ClassVar

from execution.domain.algos.core import register
from execution.domain.algos.params import require
from execution.domain.algos.schedule import SlicedSchedule


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Vwap(SlicedSchedule):
    """``profile`` weighs equal time buckets over the duration (say a U-shaped intraday
    volume curve); the target traded by time t follows the cumulative profile, linear within
    a bucket. Each bucket is traded in ``slices_per_bucket`` slices."""

    kind: ClassVar[str] = "vwap"
    profile: tuple[Decimal, ...]
    slices_per_bucket: int = 1

    def validate(self) -> None:
        SlicedSchedule.validate(self)
        require(bool(self.profile), "profile", "profile must have at least one weight")
        for index, weight in enumerate(self.profile):
            require(
                weight >= 0,
                "profile",
                f"profile weights must not be negative, got {weight} for bucket {index}",
            )
        require(sum(self.profile) > 0, "profile", "profile weights must not all be zero")
        require(
            self.slices_per_bucket >= 1,
            "slices_per_bucket",
            f"slices_per_bucket must be at least 1, got {self.slices_per_bucket}",
        )

    def slice_count(self) -> int:
        return len(self.profile) * self.slices_per_bucket

    def schedule_fraction(self, elapsed: Fraction) -> Fraction:
        weights = [Fraction(weight) for weight in self.profile]
        position = elapsed * len(weights)
        bucket = int(position)
        if bucket >= len(weights):
            return Fraction(1)
        traded = sum(weights[:bucket], Fraction(0)) + (position - bucket) * weights[bucket]
        return traded / sum(weights)
