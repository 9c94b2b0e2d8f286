"""Training runs in the API: staff start them, everyone sees their own only, and a refused
request writes nothing."""

import pytest

from mlmodels.models import ModelVersion, TrainingRun
from tests.execution.api.conftest import client_for
from tests.factories import make_user
from tests.mlmodels.api.conftest import BASE, row_counts

# Candles alone: the order-flow and book features are 0, as mlmodels.dataset warns.
pytestmark = pytest.mark.filterwarnings("ignore::mlmodels.features.MissingFeatureInputs")

RUNS = BASE + "training-runs/"
# Small and quick: two folds of a few shallow trees over EURUSD's 5,000 hourly bars.
SMALL = {"folds": 2, "train_size": 2000, "n_estimators": 15, "max_depth": 3}


def body(**overrides):
    request = {
        "name": "eurusd-direction",
        "symbol": "EURUSD",
        "interval": "1h",
        "training_config": SMALL,
    }
    request.update(overrides)
    return {key: value for key, value in request.items() if value is not None}


def test_staff_start_a_training_that_registers_a_candidate(
    staff_api, eurusd, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(RUNS, body(), format="json")

    assert response.status_code == 201
    run = staff_api.get(f"{RUNS}{response.data['id']}/").data
    assert (run["status"], run["progress"], run["error"]) == ("succeeded", 1.0, "")
    assert run["message"] == "registered eurusd-direction v1"
    assert run["training_config"]["folds"] == 2 and run["training_config"]["horizon"] == 4
    version = ModelVersion.objects.get(pk=run["model_version"])
    assert (version.version, run["version"], version.status) == (1, 1, "candidate")
    assert len(version.fold_metrics) == 2 and "Logistic baseline: AUC" in version.report
    assert run["started_at"] <= run["finished_at"]


def test_a_started_run_is_queued_until_a_worker_takes_it(staff_api, eurusd):
    response = staff_api.post(RUNS, body(), format="json")  # not committed: no task yet

    assert response.status_code == 201
    assert (response.data["status"], response.data["progress"]) == ("queued", 0.0)
    assert response.data["model_version"] is None and response.data["version"] is None
    assert TrainingRun.objects.get().requested_by.username == "quant"


def test_a_training_that_fails_says_why_and_registers_nothing(
    staff_api, eurusd, django_capture_on_commit_callbacks
):
    # A 10 % cost a side puts every move in the dead zone: nothing to learn from.
    config = {**SMALL, "cost": 0.1}
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(RUNS, body(training_config=config), format="json")

    run = staff_api.get(f"{RUNS}{response.data['id']}/").data
    assert run["status"] == "failed" and run["finished_at"]
    assert "labelled bars" in run["error"]
    assert not ModelVersion.objects.exists()


def test_others_may_not_train(api, eurusd):
    response = api.post(RUNS, body(), format="json")
    assert response.status_code == 403
    assert response.data["code"] == "permission_denied"
    assert row_counts() == {"ModelVersion": 0, "TrainingRun": 0}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"symbol": "DOGE-USD"}, "symbol", "no candles are stored for 'DOGE-USD'"),
        ({"interval": "1d"}, "interval", "no '1d' candles are stored for EURUSD (stored: 1h)"),
        ({"name": "EURUSD Direction!"}, "name", "'EURUSD Direction!': a model name is 1 to"),
        ({"name": None}, "name", "This field is required."),
        ({"training_config": {"trees": 5}}, "training_config.trees", "unknown setting 'trees'"),
        (
            {"training_config": {"folds": 0}},
            "training_config.folds",
            "folds must be at least 1, got 0",
        ),
        (
            {"training_config": {"learning_rate": 1.5}},
            "training_config.learning_rate",
            "learning_rate must be at most 1, got 1.5",
        ),
        (
            {"training_config": {"train_size": 100_000}},
            "training_config",
            "EURUSD 1h: 5,000 bars are too few for 5 folds",
        ),
        ({"training_config": [1, 2]}, "training_config", "Expected a dictionary of items"),
        (
            {"feature_config": {"rsi_period": 1}},
            "feature_config.rsi_period",
            "rsi_period must be at least 2, got 1",
        ),
        ({"schedule": "daily"}, "schedule", "This field is not accepted here."),
    ],
)
def test_bad_input_is_refused_by_field_and_writes_nothing(
    staff_api, eurusd, overrides, field, message
):
    response = staff_api.post(RUNS, body(**overrides), format="json")

    assert response.status_code == 400, response.data
    assert response.data["code"] == "invalid"
    assert list(response.data["errors"]) == [field]
    assert response.data["errors"][field][0].startswith(message), response.data
    assert row_counts() == {"ModelVersion": 0, "TrainingRun": 0}


def test_settings_sent_as_decimals_are_read_as_numbers(staff_api, eurusd):
    # The API's JSON parser reads 0.05 as Decimal (for exact prices): settings are floats.
    response = staff_api.post(
        RUNS,
        '{"name": "m", "symbol": "eurusd", "interval": "1h", "training_config": '
        '{"learning_rate": 0.05}, "feature_config": {"bollinger_width": 2.5}}',
        content_type="application/json",
    )
    assert response.status_code == 201, response.data
    run = TrainingRun.objects.get()
    assert (run.symbol, run.training_config["learning_rate"]) == ("EURUSD", 0.05)
    assert run.feature_config["bollinger_width"] == 2.5


def test_everyone_sees_only_their_own_runs(staff_api, api, eurusd, db):
    mine = staff_api.post(RUNS, body(), format="json").data["id"]
    colleague = client_for(make_user("colleague", staff=True))
    theirs = colleague.post(RUNS, body(name="other"), format="json").data["id"]

    assert [r["id"] for r in staff_api.get(RUNS).data["results"]] == [mine]
    assert [r["id"] for r in colleague.get(RUNS).data["results"]] == [theirs]
    assert api.get(RUNS).data["count"] == 0
    for client, run in ((staff_api, theirs), (colleague, mine), (api, mine)):
        response = client.get(f"{RUNS}{run}/")
        assert response.status_code == 404
        assert response.data["code"] == "not_found"


@pytest.mark.parametrize("pk", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1"])
def test_an_unknown_run_is_not_found(staff_api, pk):
    assert staff_api.get(f"{RUNS}{pk}/").status_code == 404
