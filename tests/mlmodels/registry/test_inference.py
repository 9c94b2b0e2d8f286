"""Inference: each process loads a name's active version once, and loads again after another
version is activated; the Celery task the live strategy runner calls answers probabilities."""

import math

import pytest

from mlmodels import inference_cache
from mlmodels.errors import NoActiveModel
from mlmodels.inference import InvalidPredictorInput
from mlmodels.services import model_version_activate, model_version_retire
from mlmodels.tasks import predict
from tests.mlmodels.registry.factories import register

ROWS = [[2.0, 0.001, 55.0, 1.01, 1.2], [-2.0, -0.001, 45.0, 0.99, 0.8], [math.nan] * 5]


@pytest.fixture(autouse=True)
def fresh_process():
    inference_cache.loaded_models_clear()
    yield
    inference_cache.loaded_models_clear()


def test_the_active_version_is_loaded_once(db):
    version = register()
    model_version_activate(version_id=version.pk)

    first = inference_cache.active_model("eurusd-direction")
    again = inference_cache.active_model("eurusd-direction")

    assert again is first
    assert (first.version_id, first.version) == (version.pk, 1)


def test_predictions_follow_an_activation(db):
    first, second = register(seed=1), register(seed=2)
    model_version_activate(version_id=first.pk)
    before = inference_cache.predict_latest("eurusd-direction", ROWS)

    model_version_activate(version_id=second.pk)
    after = inference_cache.predict_latest("eurusd-direction", ROWS)

    assert (before.version, after.version) == (1, 2)
    assert before.probabilities != after.probabilities
    assert inference_cache.active_model("eurusd-direction").version_id == second.pk
    assert before.probabilities[0] > 0.5 > before.probabilities[1]
    assert 0 < before.probabilities[2] < 1  # missing values take the trees' default branches


def test_no_active_version_is_refused(db):
    version = register()
    with pytest.raises(NoActiveModel, match="no version of 'eurusd-direction' is active"):
        inference_cache.predict_latest("eurusd-direction", ROWS)
    model_version_activate(version_id=version.pk)
    inference_cache.predict_latest("eurusd-direction", ROWS)
    model_version_retire(version_id=version.pk)
    with pytest.raises(NoActiveModel):
        inference_cache.predict_latest("eurusd-direction", ROWS)


@pytest.mark.parametrize("rows", [[[1.0, 2.0]], [[1.0] * 5, [1.0] * 4], [["up"] * 5]])
def test_rows_that_do_not_fit_the_model_are_refused(db, rows):
    model_version_activate(version_id=register().pk)
    with pytest.raises(InvalidPredictorInput, match="5"):
        inference_cache.predict_latest("eurusd-direction", rows)


def test_the_predict_task_answers_the_active_versions_probabilities(db):
    version = register()
    model_version_activate(version_id=version.pk)

    answer = predict.delay("eurusd-direction", ROWS[:2]).get()

    assert answer["name"] == "eurusd-direction"
    assert (answer["version"], answer["version_id"]) == (1, version.pk)
    expected = inference_cache.predict_latest("eurusd-direction", ROWS[:2]).probabilities
    assert answer["probabilities"] == expected
