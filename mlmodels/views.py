"""Dashboard pages of the model registry (thin: selectors read). Model versions are shared
platform objects, readable by anyone signed in; training runs are their requester's, and
another's answers 404."""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from execution.domain.errors import DomainError
from execution.pages import page_owner_id
from mlmodels import selectors
from mlmodels.drift import MODERATE, SIGNIFICANT
from mlmodels.errors import ModelRegistryError
from mlmodels.models import ModelVersion, TrainingRun, TrainingStatus

RECENT_RUNS = 20
FINISHED = (TrainingStatus.SUCCEEDED, TrainingStatus.FAILED)
LEVELS = ("stable", "moderate", "significant")  # mlmodels.drift.drift_level's bands
IMPORTANCE_BARS = 30  # the chart shows the largest this many; the table below has them all


@login_required
@require_GET
def models(request: HttpRequest) -> HttpResponse:
    versions = selectors.model_versions().order_by("name", "-version")
    runs = selectors.training_runs_for_requester(page_owner_id(request)).order_by(
        "-created_at", "-pk"
    )[:RECENT_RUNS]
    return render(request, "mlmodels/models.html", {"versions": versions, "runs": runs})


def _importance_figure(ranked: list[tuple[str, float]]) -> dict[str, Any]:
    shown = list(reversed(ranked[:IMPORTANCE_BARS]))  # Plotly draws the first bar lowest
    figure = go.Figure(
        go.Bar(
            x=[value for _, value in shown],
            y=[name for name, _ in shown],
            orientation="h",
            marker={"color": "#0b5cad"},
            hovertemplate="%{y}: %{x:.4g}<extra></extra>",
        )
    )
    figure.update_layout(
        height=max(280, 22 * len(shown) + 80),
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        xaxis={"title": {"text": "gain"}},
        yaxis={"automargin": True},
    )
    plain: dict[str, Any] = json.loads(figure.to_json())
    return plain


def _drift(version: ModelVersion) -> tuple[selectors.DriftReport | None, str]:
    try:
        return selectors.model_drift(version), ""
    except (ModelRegistryError, DomainError) as error:  # its candles or features are gone
        return None, str(error)


@login_required
@require_GET
def version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    version = selectors.model_version_for_page(version_id)
    if version is None:
        raise Http404("there is no such model version")
    ranked = selectors.importance_ranked(version)
    drift, drift_problem = _drift(version)
    context = {
        "version": version,
        "folds": version.fold_metrics,
        "summary": version.summary,
        "importance": ranked,
        "importance_figure": _importance_figure(ranked) if ranked else None,
        "age": selectors.model_age(version),
        "drift": drift,
        "drift_problem": drift_problem,
        "drift_counts": {level: drift.count(level) for level in LEVELS} if drift else {},
        "moderate_above": MODERATE,
        "significant_above": SIGNIFICANT,
        "runs": [
            run
            for run in version.training_runs.all()
            if run.requested_by_id == page_owner_id(request)
        ],
    }
    return render(request, "mlmodels/version.html", context)


def _run_body(run: TrainingRun) -> dict[str, Any]:
    return {
        "id": str(run.pk),
        "status": run.status,
        "progress": run.progress,
        "message": run.message,
        "error": run.error,
        "finished": run.status in FINISHED,
        "model_version": run.model_version_id,
    }


@login_required
@require_GET
def training_run_status(request: HttpRequest, run_id: str) -> JsonResponse:
    """What a training's progress bar polls; another user's run answers 404."""
    run = selectors.training_run_for_requester(page_owner_id(request), run_id)
    if run is None:
        raise Http404("there is no such training run")
    return JsonResponse(_run_body(run))
