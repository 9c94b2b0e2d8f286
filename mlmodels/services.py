"""Writes of the model registry: training and registering versions, activating and retiring
them, and training runs with their progress.

Training reads candles through ``execution.selectors`` and runs the pure pipeline
(``mlmodels.dataset``, ``mlmodels.training``); only the registration of its result is a
transaction, so a failed or refused training leaves no rows behind.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from execution.domain.errors import DomainError
from execution.domain.urgency import InvalidConfig
from execution.selectors import candle_window, stored_candle_history
from mlmodels.dataset import candles_dataset
from mlmodels.errors import ModelRegistryError
from mlmodels.features import DEFINITIONS_VERSION, FeatureConfig, catalogue_hash
from mlmodels.models import ModelStatus, ModelVersion, TrainingRun, TrainingStatus
from mlmodels.registry import catalogue_snapshot, datetime_from_ns
from mlmodels.selectors import bar_times, model_version_predictor
from mlmodels.training import (
    InvalidTrainingData,
    TrainingConfig,
    TrainingResult,
    train_walk_forward,
    walk_forward_splits,
)

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_NAME_RULE = (
    "a model name is 1 to 100 lower-case letters, digits, dots, dashes or underscores, "
    "starting with a letter or digit"
)
_REGISTER_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class TrainingRequest:
    """The validated inputs of a training: what to train on and how."""

    name: str
    symbol: str
    interval: str
    training_config: TrainingConfig
    feature_config: FeatureConfig
    start: datetime  # the first stored bar's open time
    end: datetime  # just after the last stored bar's


def _config(kind: type[TrainingConfig] | type[FeatureConfig], data: object, field: str) -> Any:
    if not isinstance(data, Mapping):
        raise ModelRegistryError(f"{field} must be a JSON object of settings", field=field)
    try:
        return kind.from_dict(data)
    except InvalidConfig as error:
        raise ModelRegistryError(str(error), field=f"{field}.{error.key}") from None


def training_request_check(
    *,
    name: str,
    symbol: str,
    interval: str,
    training_config: Mapping[str, Any],
    feature_config: Mapping[str, Any],
) -> TrainingRequest:
    """Refuse a training that cannot run (a bad name or setting, an unknown instrument, no
    candles stored) before anything is written or loaded."""
    symbol = symbol.strip().upper()
    if not MODEL_NAME.fullmatch(name):
        raise ModelRegistryError(f"{name!r}: {_NAME_RULE}", field="name")
    training = _config(TrainingConfig, training_config, "training_config")
    features = _config(FeatureConfig, feature_config, "feature_config")
    stored = [h for h in stored_candle_history() if h.symbol == symbol]
    if not stored:
        raise ModelRegistryError(
            f"no candles are stored for {symbol!r}: import them first "
            "(manage.py marketdata_import; --list names the sources)",
            field="symbol",
        )
    history = next((h for h in stored if h.interval == interval), None)
    if history is None:
        intervals = ", ".join(h.interval for h in stored)
        raise ModelRegistryError(
            f"no {interval!r} candles are stored for {symbol} (stored: {intervals})",
            field="interval",
        )
    try:
        # Warm-up rows fall away later, so this is the least the folds need, checked early.
        walk_forward_splits(history.candles, training)
    except InvalidTrainingData as error:
        raise ModelRegistryError(f"{symbol} {interval}: {error}", field="training_config") from None
    return TrainingRequest(
        name=name,
        symbol=symbol,
        interval=interval,
        training_config=training,
        feature_config=features,
        start=history.first,
        end=history.last + timedelta(microseconds=1),
    )


def model_train(
    *,
    symbol: str,
    interval: str,
    name: str,
    training_config: Mapping[str, Any],
    feature_config: Mapping[str, Any],
    progress: Progress | None = None,
    run_id: UUID | str | None = None,
) -> ModelVersion:
    """Train a model walk-forward on every stored candle of ``symbol`` and ``interval`` and
    register it as the next candidate version of ``name``."""
    request = training_request_check(
        name=name,
        symbol=symbol,
        interval=interval,
        training_config=training_config,
        feature_config=feature_config,
    )
    report = progress or (lambda fraction, message: None)
    report(0.0, f"loading {symbol} {interval} candles")
    candles = candle_window(
        symbol=request.symbol, interval=request.interval, start=request.start, end=request.end
    )
    report(0.02, f"computing features of {len(candles):,} bars")
    try:
        features, names, _labels, close, times = candles_dataset(
            candles.open,
            candles.high,
            candles.low,
            candles.close,
            candles.volume,
            bar_times(candles),
            feature_config=request.feature_config,
            training_config=request.training_config,
        )
        result = train_walk_forward(
            features,
            names,
            close,
            times,
            request.training_config,
            progress=lambda fraction, message: report(0.05 + 0.9 * fraction, message),
        )
    except DomainError as error:  # too few labelled bars, say: the data, not a bug
        raise ModelRegistryError(f"{request.symbol} {interval}: {error}") from None
    report(0.97, "registering the model")
    version = model_version_register(request=request, result=result, run_id=run_id)
    report(1.0, f"registered {version.name} v{version.version}")
    return version


def model_version_register(
    *, request: TrainingRequest, result: TrainingResult, run_id: UUID | str | None = None
) -> ModelVersion:
    """Save a trained model as the next candidate version of its name; with ``run_id``, the
    run succeeds in the same transaction (and a run that already has its version keeps it:
    a redelivered task registers nothing twice)."""
    model_json = result.model_json
    start_ns, end_ns = result.training_window
    fields: dict[str, Any] = {
        "name": request.name,
        "algorithm": "xgboost",
        "status": ModelStatus.CANDIDATE,
        "feature_names": list(result.feature_names),
        "catalogue_hash": catalogue_hash(request.feature_config),
        "feature_catalogue": catalogue_snapshot(request.feature_config),
        "definitions_version": DEFINITIONS_VERSION,
        "feature_config": request.feature_config.to_dict(),
        "training_config": request.training_config.to_dict(),
        "symbol": request.symbol,
        "interval": request.interval,
        "training_start": datetime_from_ns(start_ns),
        "training_end": datetime_from_ns(end_ns),
        "data_hash": result.data_hash,
        "params": result.params,
        "fold_metrics": [fold.to_dict() for fold in result.folds],
        "summary": result.summary,
        "report": result.report,
        "importance": result.importance,
        "artifact": model_json.decode(),
        "artifact_size": len(model_json),
        "artifact_sha256": hashlib.sha256(model_json).hexdigest(),
    }
    for attempt in range(_REGISTER_ATTEMPTS):
        try:
            with transaction.atomic():
                if run_id is not None:
                    run = TrainingRun.objects.select_for_update().get(pk=run_id)
                    if run.model_version_id is not None:
                        return ModelVersion.objects.defer("artifact").get(pk=run.model_version_id)
                _numbering_lock(request.name)
                latest = ModelVersion.objects.filter(name=request.name).aggregate(
                    latest=Max("version")
                )["latest"]
                version = ModelVersion.objects.create(version=(latest or 0) + 1, **fields)
                if run_id is not None:
                    TrainingRun.objects.filter(pk=run_id).update(
                        status=TrainingStatus.SUCCEEDED,
                        model_version=version,
                        progress=1.0,
                        message=f"registered {version.name} v{version.version}",
                        finished_at=timezone.now(),
                    )
                return version
        except IntegrityError:
            # Another training of the same name took this number first: count again.
            logger.info("version number of %s taken (attempt %d)", request.name, attempt + 1)
    raise ModelRegistryError(
        f"could not number a new version of {request.name}: {_REGISTER_ATTEMPTS} concurrent "
        "trainings took each number first; try again"
    )


def _numbering_lock(name: str) -> None:
    """Number one new version of ``name`` at a time, to the end of the transaction. On
    PostgreSQL an advisory lock per name; SQLite's writers already take turns (IMMEDIATE
    transactions). The unique (name, version) constraint stays the guarantee; the retry above
    only covers a database without either."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"model-version:{name}"])


# --- status -------------------------------------------------------------------------------------


def _locked_versions_of(version_id: int) -> tuple[ModelVersion, list[ModelVersion]]:
    """The version and every version of its name, locked in id order (one order for every
    writer, so two activations of the same name wait for each other instead of both
    retiring the same predecessor)."""
    name = ModelVersion.objects.filter(pk=version_id).values_list("name", flat=True).first()
    if name is None:
        raise ModelRegistryError(f"there is no model version {version_id}")
    versions = list(
        ModelVersion.objects.select_for_update().filter(name=name).order_by("pk").defer("artifact")
    )
    (version,) = (v for v in versions if v.pk == version_id)
    return version, versions


@transaction.atomic
def model_version_activate(*, version_id: int) -> ModelVersion:
    """Make a version the one that predicts for its name, retiring the active one. A retired
    version may be activated again (a rollback); a version that does not load (features the
    library no longer computes the same way) is refused."""
    version, versions = _locked_versions_of(version_id)
    if version.status == ModelStatus.ACTIVE:
        return version
    # Only a version that loads may predict: its features must still be the library's.
    model_version_predictor(ModelVersion.objects.get(pk=version_id))
    now = timezone.now()
    for other in versions:
        if other.status == ModelStatus.ACTIVE:
            other.status = ModelStatus.RETIRED
            other.retired_at = now
            other.save(update_fields=["status", "retired_at"])
    version.status = ModelStatus.ACTIVE
    version.activated_at = now
    version.retired_at = None
    version.save(update_fields=["status", "activated_at", "retired_at"])
    return version


@transaction.atomic
def model_version_retire(*, version_id: int) -> ModelVersion:
    """Take a version out of use; retiring the active one leaves its name with no active
    version (inference then refuses) until another is activated."""
    version, _ = _locked_versions_of(version_id)
    if version.status == ModelStatus.RETIRED:
        return version
    version.status = ModelStatus.RETIRED
    version.retired_at = timezone.now()
    version.save(update_fields=["status", "retired_at"])
    return version


# --- training runs ------------------------------------------------------------------------------


def training_run_start(
    *,
    name: str,
    symbol: str,
    interval: str,
    training_config: Mapping[str, Any],
    feature_config: Mapping[str, Any],
    requested_by_id: int | None,
) -> TrainingRun:
    """Queue a training for the ``mlmodels.train_model`` task; refused input writes nothing."""
    request = training_request_check(
        name=name,
        symbol=symbol,
        interval=interval,
        training_config=training_config,
        feature_config=feature_config,
    )
    with transaction.atomic():
        run = TrainingRun.objects.create(
            name=request.name,
            symbol=request.symbol,
            interval=request.interval,
            training_config=request.training_config.to_dict(),
            feature_config=request.feature_config.to_dict(),
            requested_by_id=requested_by_id,
            message="waiting for a worker",
        )
        from mlmodels.tasks import train_model  # tasks imports this module

        run_id = str(run.pk)
        transaction.on_commit(lambda: train_model.delay(run_id))
    return run


def active_models_retrain() -> list[TrainingRun]:
    """Queue a training of every active model with its version's own settings, on every candle
    stored for its instrument now (the scheduled retraining, ``mlmodels.retrain_active_models``).

    Each run registers the next candidate of its name; activating it stays a person's decision,
    after its report against the active one. A name with a training queued or running already
    is left alone, so a slow run is never stacked on; one that cannot train now (its candles
    gone, its settings no longer accepted) is logged and the others go on.
    """
    busy = set(
        TrainingRun.objects.filter(
            status__in=[TrainingStatus.QUEUED, TrainingStatus.RUNNING]
        ).values_list("name", flat=True)
    )
    runs = []
    for version in ModelVersion.objects.filter(status=ModelStatus.ACTIVE).order_by("name"):
        if version.name in busy:
            continue
        try:
            run = training_run_start(
                name=version.name, symbol=version.symbol, interval=version.interval,
                training_config=version.training_config, feature_config=version.feature_config,
                requested_by_id=None,
            )  # fmt: skip
        except ModelRegistryError as error:
            logger.warning("model %s v%s not retrained: %s", version.name, version.version, error)
            continue
        runs.append(run)
    return runs


class TrainingRunProgress:
    """A run's progress callback: writes at most once per ``every`` seconds (training reports
    far more often than anyone reads), and always the end."""

    def __init__(self, run_id: UUID | str, *, every: float = 1.0) -> None:
        self.run_id = run_id
        self.every = every
        self._written_at: float | None = None

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        due = self._written_at is None or now - self._written_at >= self.every
        if not due and fraction < 1.0:
            return
        self._written_at = now
        TrainingRun.objects.filter(pk=self.run_id, status=TrainingStatus.RUNNING).update(
            progress=min(max(float(fraction), 0.0), 1.0), message=message[:200]
        )


def training_run_execute(*, run_id: UUID | str) -> TrainingRun:
    """Run a queued training (or one whose worker died mid-way) to its end. A run that has
    ended is left as it is: the task may be delivered twice."""
    claimed = TrainingRun.objects.filter(
        pk=run_id, status__in=[TrainingStatus.QUEUED, TrainingStatus.RUNNING]
    ).update(status=TrainingStatus.RUNNING, started_at=timezone.now(), progress=0.0)
    run = TrainingRun.objects.get(pk=run_id)
    if not claimed:
        return run
    try:
        model_train(
            symbol=run.symbol,
            interval=run.interval,
            name=run.name,
            training_config=run.training_config,
            feature_config=run.feature_config,
            progress=TrainingRunProgress(run.pk),
            run_id=run.pk,
        )
    except Exception as error:
        TrainingRun.objects.filter(pk=run.pk).exclude(status=TrainingStatus.SUCCEEDED).update(
            status=TrainingStatus.FAILED,
            error=str(error) or type(error).__name__,
            message="failed",
            finished_at=timezone.now(),
        )
        if not isinstance(error, ModelRegistryError):
            raise  # a bug, not bad input: let the worker log it
    run.refresh_from_db()
    return run
