"""manage.py train_model on the real EURUSD hourly candles: a versioned model with its
walk-forward folds and the report against the logistic baseline after costs (the issue's
done criterion), queued with --async, and refused with nothing written on bad input."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from mlmodels.models import ModelVersion, TrainingRun

# Candles alone: the order-flow and book features are 0, as mlmodels.dataset warns.
pytestmark = pytest.mark.filterwarnings("ignore::mlmodels.features.MissingFeatureInputs")

# Small and quick: three folds of a few shallow trees.
SMALL = '{"folds": 3, "train_size": 2000, "n_estimators": 20, "max_depth": 3}'


@pytest.fixture
def eurusd(db):
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())


def train(*args):
    out = StringIO()
    call_command("train_model", "--symbol", "EURUSD", "--interval", "1h",
                 "--name", "eurusd-direction", *args, stdout=out)  # fmt: skip
    return out.getvalue()


def test_training_on_eurusd_registers_version_1_with_folds_and_the_report(eurusd):
    output = train("--config", SMALL)

    version = ModelVersion.objects.get()
    assert (version.name, version.version, version.status) == ("eurusd-direction", 1, "candidate")
    assert (version.symbol, version.interval, version.algorithm) == ("EURUSD", "1h", "xgboost")
    assert len(version.fold_metrics) == 3
    for fold in version.fold_metrics:
        assert fold["test_bars"] > 0 and fold["xgboost_trades"] >= 0
        assert {"xgboost_net_pnl_after_costs", "logistic_net_pnl_after_costs"} <= set(fold)
    assert version.summary["folds"] == 3
    assert "Logistic baseline: AUC" in version.report and "After costs" in version.report
    assert version.training_config["folds"] == 3 and version.training_config["horizon"] == 4
    assert version.importance and set(version.importance) == set(version.feature_names)
    assert version.artifact.startswith("{") and version.artifact_size > 1000

    # The terminal shows the version, the fold table and the report.
    assert "eurusd-direction v1 (candidate" in output
    assert "Walk-forward folds:" in output and "net logit" in output
    assert version.report.splitlines()[-1] in output
    assert "registered eurusd-direction v1" in output  # the progress, line by line off a tty


def test_a_second_training_is_version_2(eurusd):
    train("--config", SMALL)
    train("--config", SMALL)
    assert list(ModelVersion.objects.order_by("version").values_list("version", flat=True)) == [
        1,
        2,
    ]


def test_async_queues_a_run_that_a_worker_carries_out(eurusd, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as queued:
        output = train("--config", SMALL, "--async")

    run = TrainingRun.objects.get()
    assert output.startswith(f"training run {run.pk}: queued, 0% (waiting for a worker)")
    queued[0]()  # the task, as a worker takes it once the run is committed
    run.refresh_from_db()
    assert run.status == "succeeded" and run.progress == 1.0
    assert run.model_version.version == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--config", "{folds: 3}"), "--config is not valid JSON"),
        (("--config", "[3]"), "--config must be a JSON object of settings"),
        (("--config", '{"folds": 0}'), "folds must be at least 1, got 0"),
        (("--feature-config", '{"rsi_period": "14"}'), "rsi_period must be a whole number"),
        (("--config", '{"train_size": 9000}'), "EURUSD 1h: 5,000 bars are too few for 5 folds"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(eurusd, args, message):
    with pytest.raises(CommandError, match=message):
        train(*args)
    with pytest.raises(CommandError, match=message):
        train(*args, "--async")
    assert not ModelVersion.objects.exists() and not TrainingRun.objects.exists()


def test_an_instrument_without_candles_is_refused(db):
    with pytest.raises(CommandError, match="no candles are stored for 'EURUSD'"):
        train()
