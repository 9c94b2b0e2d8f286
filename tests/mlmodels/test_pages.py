"""The models pages through Django's test client, against the real database: the versions
list, a version with its folds, importance chart and drift, and training progress. Versions
are shared; a training run is its requester's (another's answers 404)."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from mlmodels.models import TrainingRun
from mlmodels.services import training_run_start
from tests.factories import make_user
from tests.mlmodels.registry.factories import FEATURES, register


@pytest.fixture
def eurusd(db):
    """The real EURUSD hourly candles (5,000 bars, 2017-04-19 to 2018-02-07)."""
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def start_training(user_id: int | None, name: str = "eurusd-direction") -> TrainingRun:
    return training_run_start(
        name=name, symbol="EURUSD", interval="1h", training_config={}, feature_config={},
        requested_by_id=user_id,
    )  # fmt: skip


def test_the_pages_ask_a_visitor_to_sign_in(client, eurusd, user):
    version = register()
    run = start_training(user.pk)
    for url in (
        reverse("mlmodels:models"),
        reverse("mlmodels:version", args=[version.pk]),
        reverse("mlmodels:training-status", args=[run.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"], url


def test_the_list_shows_versions_with_walk_forward_metrics_and_own_trainings(
    signed_in, user, eurusd
):
    version = register()
    mine = start_training(user.pk, name="mine-direction")
    start_training(make_user("someone").pk, name="their-secret-model")

    page = signed_in.get(reverse("mlmodels:models")).text

    assert "eurusd-direction v1" in page and reverse("mlmodels:version", args=[version.pk]) in page
    assert "0.520" in page and "0.500" in page  # AUC against the baseline
    assert "mine-direction" in page and "waiting for a worker" in page
    assert f'data-progress-url="{reverse("mlmodels:training-status", args=[mine.pk])}"' in page
    assert "their-secret-model" not in page


def test_a_version_shows_folds_importance_and_drift_bands(signed_in, eurusd):
    version = register()

    response = signed_in.get(reverse("mlmodels:version", args=[version.pk]))

    assert response.status_code == 200
    page = response.text
    assert "Walk-forward folds" in page and "2017-04-19 09:00" in page  # fold 0's test start
    assert 'id="importance-figure-data"' in page
    assert 'data-plotly-figure="importance-figure-data"' in page
    figure = response.context["importance_figure"]
    assert figure["data"][0]["type"] == "bar"
    assert figure["data"][0]["y"][-1] == FEATURES[0]  # the largest gain drawn on top
    drift = response.context["drift"]
    assert drift is not None and {f.name for f in drift.features} == set(FEATURES)
    for feature in drift.features:
        assert f'<span class="badge drift-{feature.level}">{feature.level}</span>' in page
    assert "up to 0.1" in page and "up to 0.25" in page
    assert sum(response.context["drift_counts"].values()) == len(FEATURES)


def test_drift_that_cannot_be_measured_is_explained(signed_in, db):
    version = register()  # no candles stored

    response = signed_in.get(reverse("mlmodels:version", args=[version.pk]))

    assert response.status_code == 200
    assert "Drift cannot be measured" in response.text


def test_a_missing_version_answers_404(signed_in, db):
    assert signed_in.get(reverse("mlmodels:version", args=[999_999])).status_code == 404


def test_training_progress_is_the_requesters_only(signed_in, user, eurusd):
    mine = start_training(user.pk)
    theirs = start_training(make_user("someone").pk, name="theirs")
    TrainingRun.objects.filter(pk=mine.pk).update(status="running", progress=0.4, message="fold 2")

    body = signed_in.get(reverse("mlmodels:training-status", args=[mine.pk])).json()

    assert body == {
        "id": str(mine.pk), "status": "running", "progress": 0.4, "message": "fold 2",
        "error": "", "finished": False, "model_version": None,
    }  # fmt: skip
    for run_id in (theirs.pk, uuid.uuid4(), "not-a-uuid"):
        url = reverse("mlmodels:training-status", args=[run_id])
        assert signed_in.get(url).status_code == 404, run_id


def test_the_models_page_without_models_or_trainings(signed_in, db):
    page = signed_in.get(reverse("mlmodels:models")).text
    assert "No model has been trained yet." in page and "You have asked for no trainings." in page
