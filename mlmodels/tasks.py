"""Celery tasks (thin: each calls one service or selector and is safe to run twice)."""

from __future__ import annotations

from celery import shared_task

from mlmodels.inference_cache import predict_latest
from mlmodels.services import active_models_retrain, training_run_execute


@shared_task(name="mlmodels.train_model")
def train_model(run_id: str) -> str:
    """Run a queued training run; its progress is written on the run as it goes."""
    return str(training_run_execute(run_id=run_id).status)


@shared_task(name="mlmodels.retrain_active_models")
def retrain_active_models() -> int:
    """The scheduled retraining: a new candidate of every active model (beat, weekly)."""
    return len(active_models_retrain())


@shared_task(name="mlmodels.predict")
def predict(name: str, rows: list[list[float]]) -> dict[str, object]:
    """Probabilities of an up move from the active version of ``name``, one per feature row
    (in the order of the version's ``feature_names``): what the live strategy runner asks.
    The worker keeps the model loaded between calls."""
    return predict_latest(name, rows).to_dict()
