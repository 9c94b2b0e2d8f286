"""Small formulas shared by the feature families, for whole columns and for single values.
The two forms do the same operations, so a live value equals its batch value exactly."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mlmodels.features.primitives import FloatArray


def ratio(numerator: FloatArray, denominator: FloatArray, default: float = 0.0) -> FloatArray:
    """numerator / denominator, ``default`` where the denominator is 0 (no volume, a flat
    range): a neutral value instead of inf or NaN."""
    zero = denominator == 0.0
    if not zero.any():  # the usual case, and twice as fast as the masked division
        result: FloatArray = numerator / denominator
        return result
    out = np.full(len(denominator), default)
    np.divide(numerator, denominator, out=out, where=~zero)
    return out


def ratio_of(numerator: float, denominator: float, default: float = 0.0) -> float:
    """``ratio`` of single values."""
    return numerator / denominator if denominator != 0.0 else default


def squash(x: FloatArray) -> FloatArray:
    """Map the real line onto (-1, 1) monotonically: x / (1 + |x|)."""
    result: FloatArray = x / (1.0 + np.abs(x))
    return result


def squash_of(x: float) -> float:
    """``squash`` of a single value."""
    return x / (1.0 + abs(x))


def flag(condition: npt.NDArray[np.bool_]) -> FloatArray:
    """1.0 where true, 0.0 elsewhere."""
    return condition.astype(np.float64)
