"""Drift of features between a model's training window and recent data: the population
stability index (PSI) of each feature.

PSI = sum over bins of (actual share - expected share) x ln(actual share / expected share),
with bins at the quantiles of the expected (training) values, so each holds about as many
training values; a bin holds the values above its lower edge up to and including its upper
one, so a value the training data always had (a constant, a flag's 0) has a bin apart from
the values above it. A value that is NaN or infinite counts in a bin of its own: a feature
that goes missing more (or less) often than in training has drifted too. An empty bin's
share is taken as ``EPSILON`` so the logarithm stays finite.

Rules of thumb: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a significant one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from execution.domain.errors import DomainError

EPSILON = 1e-4
MODERATE = 0.1
SIGNIFICANT = 0.25


class InvalidDriftInputs(DomainError):
    """Values drift cannot be measured on; the message says why."""


def population_stability_index(
    expected: npt.ArrayLike, actual: npt.ArrayLike, bins: int = 10
) -> float:
    """PSI of ``actual`` against ``expected`` in ``bins`` quantile bins of ``expected`` (fewer
    when its quantiles repeat); 0 for identical distributions."""
    reference = np.asarray(expected, dtype=np.float64).ravel()
    recent = np.asarray(actual, dtype=np.float64).ravel()
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise InvalidDriftInputs(f"bins must be a whole number >= 2, got {bins!r}")
    if not len(reference) or not len(recent):
        raise InvalidDriftInputs("both samples need at least one value")
    known = reference[np.isfinite(reference)]
    edges = (
        np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1]))
        if len(known)
        else np.empty(0)
    )
    expected_share = _shares(reference, edges)
    actual_share = _shares(recent, edges)
    return float(np.sum((actual_share - expected_share) * np.log(actual_share / expected_share)))


def _shares(
    values: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    finite = np.isfinite(values)
    counts = np.bincount(
        np.searchsorted(edges, values[finite], side="left"), minlength=len(edges) + 1
    )
    counts = np.append(counts, len(values) - finite.sum())  # the missing values' bin
    shares: npt.NDArray[np.float64] = np.maximum(counts / len(values), EPSILON)
    return shares


def feature_drift(
    train: npt.ArrayLike, recent: npt.ArrayLike, names: Sequence[str], bins: int = 10
) -> dict[str, float]:
    """PSI of each feature (a column of both [rows, features] matrices), by name."""
    before = np.asarray(train, dtype=np.float64)
    after = np.asarray(recent, dtype=np.float64)
    width = len(names)
    for label, matrix in (("train", before), ("recent", after)):
        if matrix.ndim != 2 or matrix.shape[1] != width:
            raise InvalidDriftInputs(
                f"{label} must be [rows, {width} features] like names, got {matrix.shape}"
            )
    return {
        str(name): population_stability_index(before[:, i], after[:, i], bins)
        for i, name in enumerate(names)
    }


def drift_level(psi: float) -> str:
    """``stable``, ``moderate`` or ``significant`` by the rules of thumb above."""
    if psi > SIGNIFICANT:
        return "significant"
    return "moderate" if psi > MODERATE else "stable"
