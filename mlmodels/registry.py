"""What a model version records of the feature library, and how that is checked on loading.

A model is fed features by name, so it may only be loaded by a library that computes the same
features the same way: the catalogue's fingerprint (``catalogue_hash``) must match. When it
does not, the differences are named from the catalogue stored with the version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from execution.domain.urgency import InvalidConfig
from mlmodels.features import DEFINITIONS_VERSION, FeatureConfig, catalogue, catalogue_hash

# One feature of a stored catalogue: [name, group, inputs, warm_up].
CatalogueEntry = list[Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetime_from_ns(ns: int) -> datetime:
    """A time of the pipeline (int64 ns since the epoch) as a database time (to the us)."""
    return EPOCH + timedelta(microseconds=int(ns) // 1000)


def ns_from_datetime(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def catalogue_snapshot(config: FeatureConfig) -> list[CatalogueEntry]:
    """The catalogue as stored with a model version (what ``catalogue_hash`` fingerprints)."""
    return [
        [spec.name, spec.group.value, list(spec.inputs), spec.warm_up] for spec in catalogue(config)
    ]


def _definition(entry: Sequence[Any]) -> dict[str, Any]:
    return {"group": entry[1], "inputs": list(entry[2]), "warm_up": entry[3]}


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{key} {before[key]!r} -> {after[key]!r}" for key in before if before[key] != after[key]
    )


def _listed(names: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def catalogue_differences(
    *,
    feature_names: Sequence[str],
    feature_config: Mapping[str, Any],
    stored_hash: str,
    stored_catalogue: Sequence[Sequence[Any]],
    stored_definitions_version: int,
) -> list[str]:
    """How the library now differs from the one a model was trained with; empty when the
    fingerprints match and the library computes every feature the model reads."""
    try:
        config = FeatureConfig.from_dict(feature_config)
    except InvalidConfig as error:
        return [f"its feature settings are no longer valid: {error}"]
    current = {entry[0]: entry for entry in catalogue_snapshot(config)}
    missing = [name for name in feature_names if name not in current]
    if catalogue_hash(config) == stored_hash and not missing:
        return []

    differences: list[str] = []
    if stored_definitions_version != DEFINITIONS_VERSION:
        differences.append(
            f"feature definitions version {stored_definitions_version} -> {DEFINITIONS_VERSION}"
        )
    if missing:
        differences.append(f"features it reads that the library lacks: {_listed(missing)}")
    stored = {entry[0]: entry for entry in stored_catalogue}
    read = set(feature_names)
    changed_read: list[str] = []
    changed_other: list[str] = []
    for name, entry in stored.items():
        if name in current and _definition(entry) != _definition(current[name]):
            change = f"{name} ({_changes(_definition(entry), _definition(current[name]))})"
            (changed_read if name in read else changed_other).append(change)
    if changed_read:
        differences.append(f"features it reads, defined differently: {_listed(changed_read)}")
    if changed_other:
        differences.append(f"other features defined differently: {_listed(changed_other)}")
    removed = [name for name in stored if name not in current and name not in read]
    if removed:
        differences.append(f"features no longer in the library: {_listed(removed)}")
    added = [name for name in current if name not in stored]
    if added:
        differences.append(f"features new to the library: {_listed(added)}")
    if not differences:
        differences.append(
            f"the catalogue fingerprint is {catalogue_hash(config)[:12]}, not {stored_hash[:12]}"
        )
    return differences
