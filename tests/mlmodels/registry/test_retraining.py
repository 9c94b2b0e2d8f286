"""The scheduled retraining: a new candidate of every active model, with its own settings, and
never a second run of a name while one is queued or running."""

from io import StringIO

import pytest
from django.core.management import call_command

from mlmodels.models import TrainingRun
from mlmodels.services import (
    active_models_retrain,
    model_version_activate,
    training_run_execute,
    training_run_start,
)
from mlmodels.tasks import retrain_active_models

pytestmark = pytest.mark.filterwarnings("ignore::mlmodels.features.MissingFeatureInputs")

SMALL = {"folds": 2, "train_size": 2000, "n_estimators": 10, "max_depth": 2}


@pytest.fixture
def active_model(db):
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())
    run = training_run_start(
        name="eurusd-direction", symbol="EURUSD", interval="1h", training_config=SMALL,
        feature_config={"rsi_period": 21}, requested_by_id=None,
    )  # fmt: skip
    version = training_run_execute(run_id=run.pk).model_version
    return model_version_activate(version_id=version.pk)


def test_every_active_model_gets_a_run_with_its_own_settings_once(active_model):
    (run,) = active_models_retrain()

    assert (run.name, run.symbol, run.interval, run.status) == (
        "eurusd-direction", "EURUSD", "1h", "queued",
    )  # fmt: skip
    assert run.training_config == active_model.training_config
    assert run.feature_config == active_model.feature_config
    # Its run is still queued: the next schedule adds nothing.
    assert retrain_active_models() == 0
    assert TrainingRun.objects.filter(status="queued").count() == 1


def test_the_new_version_is_a_candidate_beside_the_active_one(active_model):
    (run,) = active_models_retrain()

    version = training_run_execute(run_id=run.pk).model_version

    assert (version.version, version.status) == (2, "candidate")
    active_model.refresh_from_db()
    assert active_model.status == "active"


def test_no_active_model_no_run(db):
    assert active_models_retrain() == []
