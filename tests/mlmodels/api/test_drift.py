"""Drift and age of a model version: PSI per feature between its training window and the
most recent bars of its symbol and interval, over the real EURUSD hourly candles."""

import pytest
from django.test import override_settings

from execution.models import Candle
from mlmodels.models import ModelVersion
from tests.mlmodels.api.conftest import BASE, row_counts
from tests.mlmodels.registry.factories import FEATURES, WINDOW, register

# Candles alone: the order-flow and book features are 0, as mlmodels.dataset warns.
pytestmark = pytest.mark.filterwarnings("ignore::mlmodels.features.MissingFeatureInputs")


@pytest.fixture
def version(eurusd):
    return register()  # trained from 2017-04-19 09:00 to 2017-12-01 00:00


def drift(client, version, query=""):
    return client.get(f"{BASE}models/{version.pk}/drift/{query}")


def test_drift_compares_the_training_window_with_the_latest_bars(api, version):
    response = drift(api, version)

    assert response.status_code == 200, response.data
    data = response.data
    training, recent = data["training"], data["recent"]
    # The window's first bars are warm-up of the features: they were not trained on.
    assert training["start"] > "2017-04-19T09:00:00Z" and training["start"] < "2017-04-24"
    assert training["end"] == "2017-12-01T00:00:00Z"
    assert (recent["bars"], recent["end"]) == (500, "2018-02-07T15:00:00Z")  # the last bar
    assert data["overlap_bars"] == 0
    assert (data["moderate_above"], data["significant_above"]) == (0.1, 0.25)

    features = data["features"]
    assert sorted(f["name"] for f in features) == sorted(FEATURES)
    psi = [f["psi"] for f in features]
    assert psi == sorted(psi, reverse=True) and all(value >= 0 for value in psi)
    for feature in features:
        expected = (
            "significant"
            if feature["psi"] > 0.25
            else "moderate"
            if feature["psi"] > 0.1
            else "stable"
        )
        assert feature["level"] == expected, feature
    counts = [data[level] for level in ("stable", "moderate", "significant")]
    assert sum(counts) == len(FEATURES)
    assert data["age"]["expired"] is True and data["age"]["max_age_days"] == 30


def test_the_recent_window_can_be_longer_and_overlap_training(api, version):
    data = drift(api, version, "?bars=3000").data

    assert data["recent"]["bars"] == 3000
    assert data["overlap_bars"] > 0
    assert data["recent"]["start"] <= data["training"]["end"]


def test_a_window_identical_to_training_has_no_drift(api, eurusd):
    # Recent bars are the training window's last ones: the same values, PSI about 0 each.
    times = Candle.objects.order_by("-open_time").values_list("open_time", flat=True)
    first, last = (int(times[n].timestamp()) * 10**9 for n in (999, 0))
    version = register(window=(first, last))
    data = drift(api, version, "?bars=1000").data

    assert data["training"]["bars"] == data["recent"]["bars"] == data["overlap_bars"] == 1000
    assert max(f["psi"] for f in data["features"]) < 1e-9
    assert data["stable"] == len(FEATURES)


@override_settings(ML_MODEL_MAX_AGE_DAYS=100_000, ML_DRIFT_RECENT_BARS=200)
def test_age_and_the_default_window_come_from_the_settings(api, version):
    data = drift(api, version).data
    assert data["recent"]["bars"] == 200
    assert data["age"]["expired"] is False and data["age"]["max_age_days"] == 100_000
    assert data["age"]["days_since_training_end"] > 365


@pytest.mark.parametrize("bars", ["10", "100001", "many", "1.5"])
def test_a_bad_window_is_refused(api, version, bars):
    response = drift(api, version, f"?bars={bars}")
    assert response.status_code == 400
    assert list(response.data["errors"]) == ["bars"]


def test_drift_of_a_model_whose_candles_are_gone_says_so(api, eurusd):
    version = register("btc-direction", symbol="BTCUSD", window=WINDOW)
    before = row_counts()
    response = drift(api, version)

    assert response.status_code == 400
    assert response.data["errors"]["non_field_errors"] == [
        "the candles btc-direction v1 was trained on (BTCUSD 1h) are no longer stored"
    ]
    assert row_counts() == before


def test_drift_of_a_model_that_no_longer_loads_names_the_differences(api, version):
    ModelVersion.objects.filter(pk=version.pk).update(catalogue_hash="0" * 64)
    response = drift(api, version)
    assert response.status_code == 400
    (message,) = response.data["errors"]["non_field_errors"]
    assert "was trained on other feature definitions" in message
