"""The kinds catalogue: what a client reads before writing a strategy or a backtest."""

from __future__ import annotations

from strategies.kinds import KINDS, kind_get
from tests.strategies.api.conftest import BASE


def test_every_kind_is_listed_with_a_schema_whose_defaults_validate(api):
    response = api.get(f"{BASE}kinds/")
    assert response.status_code == 200
    data = response.json()
    assert [kind["name"] for kind in data["kinds"]] == sorted(KINDS)
    for entry in data["kinds"]:
        schema = entry["config_schema"]
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert set(schema["properties"]) == set(entry["defaults"]), entry["name"]
        kind = kind_get(entry["name"])
        assert kind.config_to_dict(kind.config_from_dict(entry["defaults"])) == entry["defaults"]
    by_name = {kind["name"]: kind for kind in data["kinds"]}
    assert by_name["xgboost"]["needs_model"] is True
    assert by_name["sma_crossover"]["needs_model"] is False


def test_presets_settings_and_costs_are_described(api):
    data = api.get(f"{BASE}kinds/").json()
    assert set(data["presets"]) >= {"conservative", "aggressive", "high_frequency"}
    assert data["presets"]["conservative"]["confidence_threshold"] in ("0.8", 0.8)
    assert "max_signals_per_minute" in data["settings_schema"]["properties"]
    costs = data["backtest_costs_schema"]["properties"]
    assert costs["fee_rate"]["exclusiveMinimum"] == 0  # costs are always on


def test_signed_in_users_only(db):
    from rest_framework.test import APIClient

    assert APIClient().get(f"{BASE}kinds/").status_code == 401
