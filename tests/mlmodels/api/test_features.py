"""The feature catalogue in the API."""

from mlmodels.features import DEFINITIONS_VERSION, FeatureConfig, catalogue, catalogue_hash
from tests.mlmodels.api.conftest import BASE


def test_the_catalogue_lists_every_feature_with_its_fingerprint(api):
    response = api.get(BASE + "features/")

    assert response.status_code == 200
    data = response.data
    assert data["catalogue_hash"] == catalogue_hash(FeatureConfig())
    assert data["definitions_version"] == DEFINITIONS_VERSION
    assert data["config"]["rsi_period"] == 14
    assert [f["name"] for f in data["features"]] == [spec.name for spec in catalogue()]
    rsi = next(f for f in data["features"] if f["name"] == "rsi_14")
    assert rsi == {
        "name": "rsi_14",
        "group": "technical",
        "description": rsi["description"],
        "inputs": ["close"],
        "warm_up": 14,
    }
    assert rsi["description"]


def test_the_catalogue_filters_by_group(api):
    data = api.get(BASE + "features/?group=order_flow").data
    assert data["features"] and {f["group"] for f in data["features"]} == {"order_flow"}
    response = api.get(BASE + "features/?group=astrology")
    assert response.status_code == 400
    assert list(response.data["errors"]) == ["group"]
