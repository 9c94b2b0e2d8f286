"""Reads of the model registry for views, the API, the admin and inference.

Model versions are shared platform objects: anyone signed in may read them. Training runs are
their requester's: ``training_runs_for_requester`` scopes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from execution.domain.errors import DomainError
from execution.models import Candle
from execution.selectors import CandleWindow, candle_window
from mlmodels.dataset import candles_dataset
from mlmodels.drift import drift_level, feature_drift
from mlmodels.errors import FeatureMismatch, ModelRegistryError
from mlmodels.features import FeatureConfig, catalogue
from mlmodels.inference import InvalidModel, Predictor
from mlmodels.models import ModelStatus, ModelVersion, TrainingRun
from mlmodels.registry import (
    EPOCH,
    catalogue_differences,
    datetime_from_ns,
    ns_from_datetime,
)
from mlmodels.training import TrainingConfig

# Recent bars a drift request may compare (enough for ten-bin histograms; one load's worth).
DRIFT_MIN_BARS = 50
DRIFT_MAX_BARS = 100_000
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def model_versions() -> QuerySet[ModelVersion]:
    """Every version, without its artifact (which can be megabytes)."""
    return ModelVersion.objects.defer("artifact")


def model_version_get(version_id: int) -> ModelVersion:
    """One version, artifact included."""
    try:
        return ModelVersion.objects.get(pk=version_id)
    except ModelVersion.DoesNotExist:
        raise ModelRegistryError(f"there is no model version {version_id}") from None


def active_version_id(name: str) -> int | None:
    """The id of the active version of ``name``: one lookup on the one-active index."""
    return (
        ModelVersion.objects.filter(name=name, status=ModelStatus.ACTIVE)
        .values_list("pk", flat=True)
        .first()
    )


def training_runs_for_requester(user_id: int) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(requested_by_id=user_id).select_related("model_version")


# --- loading ------------------------------------------------------------------------------------


def feature_differences(version: ModelVersion) -> list[str]:
    """How the feature library now differs from the one ``version`` was trained with."""
    return catalogue_differences(
        feature_names=version.feature_names,
        feature_config=version.feature_config,
        stored_hash=version.catalogue_hash,
        stored_catalogue=version.feature_catalogue,
        stored_definitions_version=version.definitions_version,
    )


def model_version_check(version: ModelVersion) -> None:
    """Refuse a version this library cannot feed, naming the differences."""
    differences = feature_differences(version)
    if differences:
        raise FeatureMismatch(
            f"{version.name} v{version.version} was trained on other feature definitions "
            f"than this library's: {'; '.join(differences)}. Train a new version."
        )


def model_version_predictor(version: ModelVersion) -> Predictor:
    """The version's model, ready to predict, once its features and artifact check out."""
    model_version_check(version)
    model_json = version.artifact.encode()
    if hashlib.sha256(model_json).hexdigest() != version.artifact_sha256:
        raise ModelRegistryError(
            f"{version.name} v{version.version}: the stored artifact does not match its digest"
        )
    try:
        return Predictor.from_json(model_json, list(version.feature_names))
    except InvalidModel as error:
        raise ModelRegistryError(f"{version.name} v{version.version}: {error}") from None


# --- age ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelAge:
    """How old a model's knowledge is: ``expired`` when its training data ended more than
    ``max_age_days`` ago (settings.ML_MODEL_MAX_AGE_DAYS)."""

    days_since_training_end: float
    days_since_created: float
    max_age_days: int
    expires_at: datetime
    expired: bool


def model_age(version: ModelVersion, *, now: datetime | None = None) -> ModelAge:
    now = now or timezone.now()
    max_age_days = int(settings.ML_MODEL_MAX_AGE_DAYS)
    expires_at = version.training_end + timedelta(days=max_age_days)
    return ModelAge(
        days_since_training_end=round((now - version.training_end) / timedelta(days=1), 2),
        days_since_created=round((now - version.created_at) / timedelta(days=1), 2),
        max_age_days=max_age_days,
        expires_at=expires_at,
        expired=now > expires_at,
    )


# --- drift --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    name: str
    psi: float
    level: str  # stable, moderate or significant (mlmodels.drift.drift_level)


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime | None
    end: datetime | None
    bars: int


@dataclass(frozen=True, slots=True)
class DriftReport:
    training: Window
    recent: Window
    overlap_bars: int
    features: list[FeatureDrift]  # most shifted first

    def count(self, level: str) -> int:
        return sum(1 for feature in self.features if feature.level == level)


def bar_times(candles: CandleWindow) -> npt.NDArray[np.int64]:
    """Bars' open times as int64 ns since the epoch: the times of a dataset's rows (and of a
    model version's training window)."""
    return candles.open_time.astype("datetime64[ns]").astype(np.int64)


def _open_time_before(version: ModelVersion, before: datetime | None, bars_back: int) -> datetime:
    """The open time of the ``bars_back``-th bar before ``before`` (counting back from the
    last stored bar, itself included, when None), or of the first stored bar when there are
    not that many."""
    candles = Candle.objects.filter(instrument__symbol=version.symbol, interval=version.interval)
    if before is not None:
        candles = candles.filter(open_time__lt=before)
    older = candles.order_by("-open_time").values_list("open_time", flat=True)
    found = list(older[bars_back - 1 : bars_back])
    if found:
        return found[0]
    first = candles.order_by("open_time").values_list("open_time", flat=True).first()
    return first if first is not None else EPOCH


def _features(
    version: ModelVersion, start: datetime, end: datetime, config: FeatureConfig
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The version's feature columns (in its order) of the candles opening in [start, end),
    built as its training built them, with their times in nanoseconds."""
    candles = candle_window(symbol=version.symbol, interval=version.interval, start=start, end=end)
    try:
        features, names, _labels, _close, times = candles_dataset(
            candles.open,
            candles.high,
            candles.low,
            candles.close,
            candles.volume,
            bar_times(candles),
            feature_config=config,
            training_config=TrainingConfig.from_dict(version.training_config),
        )
    except DomainError as error:  # bad settings, or candles the features refuse
        raise ModelRegistryError(
            f"the features of {version.symbol} {version.interval} from {start:%Y-%m-%d %H:%M} "
            f"to {end:%Y-%m-%d %H:%M} cannot be built: {error}"
        ) from None
    columns = {name: index for index, name in enumerate(names)}
    order = [columns[name] for name in version.feature_names]  # checked: the library has them
    return features[:, order], times


def _window(times: npt.NDArray[np.int64]) -> Window:
    if len(times) == 0:
        return Window(start=None, end=None, bars=0)
    return Window(
        start=datetime_from_ns(int(times[0])), end=datetime_from_ns(int(times[-1])), bars=len(times)
    )


def model_drift(version: ModelVersion, *, recent_bars: int | None = None) -> DriftReport:
    """How far each feature of the most recent bars has moved from the training window
    (population stability index), most shifted first."""
    model_version_check(version)  # the library must still build the features it reads
    recent_bars = recent_bars or int(settings.ML_DRIFT_RECENT_BARS)
    config = FeatureConfig.from_dict(version.feature_config)
    # A dataset drops the rows before its longest warm-up: load that many bars more.
    warm_up = max(spec.warm_up for spec in catalogue(config)) + 1
    trained_from, trained_to = (
        ns_from_datetime(version.training_start),
        ns_from_datetime(version.training_end),
    )
    train, train_times = _features(
        version,
        _open_time_before(version, version.training_start, warm_up),
        version.training_end + timedelta(microseconds=1),
        config,
    )
    inside = (train_times >= trained_from) & (train_times <= trained_to)
    train, train_times = train[inside], train_times[inside]
    recent, recent_times = _features(
        version, _open_time_before(version, None, recent_bars + warm_up), FAR_FUTURE, config
    )
    recent, recent_times = recent[-recent_bars:], recent_times[-recent_bars:]
    if len(train) == 0 or len(recent) == 0:
        raise ModelRegistryError(
            f"the candles {version.name} v{version.version} was trained on "
            f"({version.symbol} {version.interval}) are no longer stored"
        )
    psi = feature_drift(train, recent, list(version.feature_names))
    features = sorted(
        (FeatureDrift(name=name, psi=value, level=drift_level(value))
         for name, value in psi.items()),
        key=lambda feature: (-feature.psi, feature.name),
    )  # fmt: skip
    return DriftReport(
        training=_window(train_times),
        recent=_window(recent_times),
        overlap_bars=int(np.count_nonzero(recent_times <= trained_to)),
        features=features,
    )


# --- dashboard pages ------------------------------------------------------------------------------


def model_version_for_page(version_id: int) -> ModelVersion | None:
    """One version without its artifact, or None."""
    return model_versions().filter(pk=version_id).first()


def training_run_for_requester(user_id: int, run_id: str) -> TrainingRun | None:
    """One of the user's training runs, or None (another's, or no such id)."""
    try:
        return training_runs_for_requester(user_id).filter(pk=UUID(run_id)).first()
    except ValueError:
        return None


def importance_ranked(version: ModelVersion) -> list[tuple[str, float]]:
    """The version's feature importance (gain), largest first."""
    return sorted(
        ((str(name), float(value)) for name, value in version.importance.items()),
        key=lambda pair: (-pair[1], pair[0]),
    )
