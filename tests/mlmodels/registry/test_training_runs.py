"""Training runs: refused requests write nothing, progress is written at a bounded rate, and a
run delivered twice trains once."""

from io import StringIO

import pytest
from django.core.management import call_command

from mlmodels.errors import ModelRegistryError
from mlmodels.models import ModelVersion, TrainingRun
from mlmodels.services import TrainingRunProgress, training_run_execute, training_run_start

# Candles alone: the order-flow and book features are 0, as mlmodels.dataset warns.
pytestmark = pytest.mark.filterwarnings("ignore::mlmodels.features.MissingFeatureInputs")

SMALL = {"folds": 2, "train_size": 2000, "n_estimators": 10, "max_depth": 2}


@pytest.fixture
def eurusd(db):
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())


def start(**overrides):
    arguments = {
        "name": "eurusd-direction",
        "symbol": "EURUSD",
        "interval": "1h",
        "training_config": SMALL,
        "feature_config": {},
        "requested_by_id": None,
    }
    return training_run_start(**{**arguments, **overrides})


def test_a_refused_request_writes_no_run(eurusd):
    with pytest.raises(ModelRegistryError) as refused:
        start(training_config={"folds": 2, "horizon": 8})
    assert refused.value.field == "training_config.purge"
    assert str(refused.value).startswith("purge (4) must be at least horizon (8)")
    assert not TrainingRun.objects.exists()


def test_progress_is_written_at_most_once_per_interval_and_always_at_the_end(eurusd):
    run = start()
    TrainingRun.objects.filter(pk=run.pk).update(status="running")
    progress = TrainingRunProgress(run.pk, every=3600)

    progress(0.1, "fold 1")
    progress(0.5, "fold 2")  # too soon: not written
    assert TrainingRun.objects.values_list("progress", "message").get() == (0.1, "fold 1")
    progress(1.0, "done")
    assert TrainingRun.objects.values_list("progress", "message").get() == (1.0, "done")


def test_a_run_delivered_twice_trains_once(eurusd):
    run = start()

    first = training_run_execute(run_id=run.pk)
    again = training_run_execute(run_id=run.pk)

    assert first.status == again.status == "succeeded"
    assert ModelVersion.objects.count() == 1
    assert again.model_version_id == first.model_version_id


def test_a_run_whose_worker_died_is_taken_up_again(eurusd):
    run = start()
    TrainingRun.objects.filter(pk=run.pk).update(status="running", progress=0.4)

    finished = training_run_execute(run_id=run.pk)

    assert (finished.status, finished.progress) == ("succeeded", 1.0)
    assert finished.model_version.version == 1


def test_a_failed_training_is_recorded_and_registers_nothing(eurusd):
    run = start(training_config={**SMALL, "cost": 0.1})  # every move is in the dead zone

    failed = training_run_execute(run_id=run.pk)

    assert failed.status == "failed" and failed.finished_at is not None
    assert "labelled bars" in failed.error
    assert not ModelVersion.objects.exists()
