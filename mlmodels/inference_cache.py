"""The active model of each name, loaded once per process.

Parsing a model's JSON takes far longer than a prediction, so a worker keeps the predictor of
each name's active version. Every call still asks the database which version is active (one
lookup on the one-active index): activating another version anywhere is seen by every worker
on its next prediction, with no message to lose.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy.typing as npt

from mlmodels import selectors
from mlmodels.errors import NoActiveModel
from mlmodels.inference import InvalidPredictorInput, Predictor


@dataclass(frozen=True, slots=True)
class LoadedModel:
    version_id: int
    name: str
    version: int
    predictor: Predictor


@dataclass(frozen=True, slots=True)
class Prediction:
    name: str
    version: int
    version_id: int
    probabilities: list[float]  # of an up move, one per row

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "version_id": self.version_id,
            "probabilities": self.probabilities,
        }


_loaded: dict[str, LoadedModel] = {}
_lock = threading.Lock()


def active_model(name: str) -> LoadedModel:
    """The active version of ``name``, loaded on first use and again after an activation."""
    version_id = selectors.active_version_id(name)
    if version_id is None:
        raise NoActiveModel(f"no version of {name!r} is active: activate one first")
    loaded = _loaded.get(name)
    if loaded is not None and loaded.version_id == version_id:
        return loaded
    with _lock:  # one load per process, however many threads ask at once
        loaded = _loaded.get(name)
        if loaded is None or loaded.version_id != version_id:
            version = selectors.model_version_get(version_id)
            loaded = LoadedModel(
                version_id=version.pk,
                name=version.name,
                version=version.version,
                predictor=selectors.model_version_predictor(version),
            )
            _loaded[name] = loaded
    return loaded


def predict_latest(name: str, rows: npt.ArrayLike) -> Prediction:
    """Probabilities of the active version of ``name`` for feature rows in the order of its
    ``feature_names`` (NaN where a feature is missing)."""
    model = active_model(name)
    try:
        probabilities = model.predictor.predict_proba(rows)
    except ValueError:  # ragged rows, or values that are not numbers
        raise InvalidPredictorInput(
            f"rows must be lists of {len(model.predictor.feature_names)} numbers"
        ) from None
    return Prediction(
        name=model.name,
        version=model.version,
        version_id=model.version_id,
        probabilities=[float(p) for p in probabilities],
    )


def loaded_models_clear() -> None:
    """Forget every loaded model (tests; a worker never needs to)."""
    with _lock:
        _loaded.clear()
