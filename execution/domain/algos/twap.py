"""TWAP: equal slices over a duration (``SlicedSchedule`` has the rules)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

from execution.domain.algos.core import register
from execution.domain.algos.params import require
from execution.domain.algos.schedule import SlicedSchedule


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Twap(SlicedSchedule):
    """``num_slices`` equal slices: 1.0 in 3 slices of a lot of 0.001 over an hour sends
    0.333, 0.333 and 0.334 at 0, 20 and 40 minutes."""

    kind: ClassVar[str] = "twap"
    num_slices: int = 10

    def validate(self) -> None:
        SlicedSchedule.validate(self)
        require(
            self.num_slices >= 1,
            "num_slices",
            f"num_slices must be at least 1, got {self.num_slices}",
        )

    def slice_count(self) -> int:
        return self.num_slices

    def schedule_fraction(self, elapsed: Fraction) -> Fraction:
        return elapsed
