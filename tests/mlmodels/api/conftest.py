"""API tests of the model registry: DRF's APIClient with real tokens, against the real
database."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command

from mlmodels import inference_cache
from mlmodels.models import ModelVersion, TrainingRun
from tests.execution.api.conftest import client_for
from tests.factories import make_user

BASE = "/api/v1/ml/"


@pytest.fixture(autouse=True)
def clean_state():
    """Throttle counters live in the cache, loaded models in the process: start afresh."""
    cache.clear()
    inference_cache.loaded_models_clear()
    yield
    cache.clear()
    inference_cache.loaded_models_clear()


@pytest.fixture
def api(user):
    """A trader: reads models, may not change them."""
    return client_for(user)


@pytest.fixture
def staff(db):
    return make_user("quant", staff=True)


@pytest.fixture
def staff_api(staff):
    return client_for(staff)


@pytest.fixture
def eurusd(db):
    """The real EURUSD hourly candles (5,000 bars, 2017-04-19 to 2018-02-07)."""
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (ModelVersion, TrainingRun)}
