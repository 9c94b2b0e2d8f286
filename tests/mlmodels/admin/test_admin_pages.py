"""The admin of the model registry: every page opens, versions and runs are read-only, the
artifact is a download (never inline), status changes go through the services' actions, and
the feature catalogue has its own page."""

from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.urls import reverse

from mlmodels.features import FeatureConfig, catalogue_hash
from mlmodels.models import ModelVersion, TrainingRun
from mlmodels.services import model_version_activate, training_run_start
from tests.factories import make_user
from tests.mlmodels.registry.factories import register


@pytest.fixture
def staff_client(db, client):
    client.force_login(make_user("boss", staff=True))
    return client


@pytest.fixture
def versions(db):
    first, second = register(), register(seed=1)
    model_version_activate(version_id=first.pk)
    return first, second


def url(model, view, *args):
    return reverse(f"admin:mlmodels_{model._meta.model_name}_{view}", args=args)


def test_the_version_pages_open_and_show_no_artifact_inline(staff_client, versions):
    first, _ = versions
    listing = staff_client.get(url(ModelVersion, "changelist"))
    assert listing.status_code == 200
    assert "eurusd-direction" in listing.content.decode()

    page = staff_client.get(url(ModelVersion, "change", first.pk))
    html = page.content.decode()
    assert page.status_code == 200
    assert first.artifact[:200] not in html
    assert reverse("admin:mlmodels_modelversion_artifact", args=[first.pk]) in html
    assert "matches" in html  # the feature check against the library
    assert "2017-04-19 09:00" in html  # a fold's window, as a date
    assert "logistic baseline after costs" in html
    assert 'name="name"' not in html  # read-only: no form fields


def test_the_artifact_downloads_as_xgboost_json(staff_client, versions):
    first, _ = versions
    response = staff_client.get(reverse("admin:mlmodels_modelversion_artifact", args=[first.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="eurusd-direction-v1.json"'
    assert response.content.decode() == ModelVersion.objects.get(pk=first.pk).artifact


def test_versions_are_neither_added_changed_nor_deleted_here(staff_client, versions):
    first, _ = versions
    assert staff_client.get(url(ModelVersion, "add")).status_code == 403
    assert staff_client.get(url(ModelVersion, "delete", first.pk)).status_code == 403
    response = staff_client.post(url(ModelVersion, "change", first.pk), {"status": "retired"})
    assert response.status_code == 403
    assert ModelVersion.objects.get(pk=first.pk).status == "active"


def test_the_activate_action_goes_through_the_service(staff_client, versions):
    _, second = versions
    response = staff_client.post(
        url(ModelVersion, "changelist"),
        {"action": "activate_versions", "_selected_action": [second.pk]},
        follow=True,
    )
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "activated eurusd-direction v2"
    ]
    states = dict(ModelVersion.objects.values_list("version", "status"))
    assert states == {1: "retired", 2: "active"}


def test_the_activate_action_reports_a_refusal(staff_client, versions):
    _, second = versions
    ModelVersion.objects.filter(pk=second.pk).update(catalogue_hash="0" * 64)
    response = staff_client.post(
        url(ModelVersion, "changelist"),
        {"action": "activate_versions", "_selected_action": [second.pk]},
        follow=True,
    )
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert "was trained on other feature definitions" in message
    assert ModelVersion.objects.get(pk=second.pk).status == "candidate"


def test_the_retire_action_goes_through_the_service(staff_client, versions):
    first, _ = versions
    staff_client.post(
        url(ModelVersion, "changelist"),
        {"action": "retire_versions", "_selected_action": [first.pk]},
    )
    assert ModelVersion.objects.get(pk=first.pk).status == "retired"


def test_training_runs_are_read_only(staff_client, versions):
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())
    run = training_run_start(
        name="eurusd-direction", symbol="EURUSD", interval="1h",
        training_config={}, feature_config={}, requested_by_id=None,
    )  # fmt: skip
    assert staff_client.get(url(TrainingRun, "changelist")).status_code == 200
    page = staff_client.get(url(TrainingRun, "change", run.pk))
    assert page.status_code == 200 and "queued" in page.content.decode()
    assert staff_client.get(url(TrainingRun, "add")).status_code == 403


def test_the_feature_catalogue_page_lists_every_feature(staff_client):
    response = staff_client.get(reverse("admin:mlmodels_featurecatalogueentry_changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    assert catalogue_hash(FeatureConfig()) in html
    assert "<code>rsi_14</code>" in html and "<code>vpin_50</code>" in html
    assert "Feature catalogue" in staff_client.get(reverse("admin:index")).content.decode()


def test_the_catalogue_page_is_for_staff_only(client, db):
    client.force_login(make_user("trader"))
    response = client.get(reverse("admin:mlmodels_featurecatalogueentry_changelist"))
    assert response.status_code == 302  # to the admin's login
