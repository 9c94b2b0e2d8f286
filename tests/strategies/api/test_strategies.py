"""Strategies, signals and backtests through the API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from strategies.models import Strategy
from strategies.services import signal_record
from tests.execution.api.conftest import clean_state  # noqa: F401 (autouse fixture)
from tests.strategies.api.conftest import BASE, body, row_counts


def test_create_read_change_and_delete(api, account, btc):
    created = api.post(BASE, body(account, preset="conservative"), format="json")
    assert created.status_code == 201, created.data
    data = created.data
    assert data["status"] == "paused" and data["instruments"] == ["BTC-USDT"]
    assert data["config"] == {"fast_window": 5, "slow_window": 30, "long_only": False}
    assert data["confidence_threshold"] == "0.800000" and data["max_signals_per_minute"] == 10
    url = f"{BASE}{data['id']}/"
    assert api.get(BASE).data["count"] == 1
    changed = api.patch(url, {"config": {"fast_window": 3}}, format="json")
    assert changed.status_code == 200 and changed.data["config"]["fast_window"] == 3
    assert api.delete(url).status_code == 204
    assert Strategy.objects.count() == 0


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"fast_windw": 5}, "config.fast_windw"),
        ({"fast_window": 0}, "config.fast_window"),
        ({"fast_window": "five"}, "config.fast_window"),
        ({"fast_window": 30, "slow_window": 20}, "config.fast_window"),
    ],
)
def test_a_bad_config_answers_400_by_field_and_saves_nothing(api, account, btc, config, field):
    before = row_counts()
    response = api.post(BASE, body(account, config=config), format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert row_counts() == before


def test_unknown_fields_and_settings_out_of_range_are_refused(api, account, btc):
    response = api.post(BASE, body(account, max_signals_per_minute=0, colour="red"), format="json")
    assert response.status_code == 400 and "colour" in response.json()["errors"]
    response = api.post(BASE, body(account, max_signals_per_minute=0), format="json")
    assert response.status_code == 400
    assert "max_signals_per_minute" in response.json()["errors"]
    assert Strategy.objects.count() == 0


def test_pause_resume_and_stop(api, account, btc):
    url = f"{BASE}{api.post(BASE, body(account), format='json').data['id']}/"
    assert api.post(url + "resume/").data["status"] == "active"
    assert api.post(url + "pause/").data["status"] == "paused"
    stopped = api.post(url + "stop/").data
    assert stopped["status"] == "stopped" and stopped["stopped_at"]
    refused = api.post(url + "resume/")
    assert refused.status_code == 400 and "stopped" in refused.json()["detail"]


def test_signals_are_listed_and_filtered(api, account, btc):
    strategy_id = api.post(BASE, body(account), format="json").data["id"]
    for hour, side in ((1, "buy"), (2, "sell")):
        signal_record(
            strategy_id=strategy_id, symbol="BTC-USDT", at=datetime(2024, 1, 1, hour, tzinfo=UTC),
            side=side, target_position=1.0 if side == "buy" else -1.0,
        )  # fmt: skip
    listed = api.get(BASE + "signals/").data
    assert listed["count"] == 2 and listed["results"][0]["side"] == "sell"
    assert api.get(BASE + "signals/", {"side": "buy"}).data["count"] == 1
    assert api.get(BASE + "signals/", {"outcome": "executed"}).data["count"] == 0
    # A strategy with signals is stopped, not deleted.
    assert api.delete(f"{BASE}{strategy_id}/").status_code == 400


def test_a_backtest_is_started_followed_and_read(
    api, account, eurusd, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(
            BASE + "backtests/",
            {"kind": "sma_crossover", "symbol": "EURUSD", "interval": "1h",
             "config": {"fast_window": 10, "slow_window": 20}},
            format="json",
        )  # fmt: skip
    assert started.status_code == 201, started.data
    url = f"{BASE}backtests/{started.data['id']}/"
    status = api.get(url).data
    assert status["status"] == "succeeded" and status["progress"] == 1.0
    result = api.get(url + "result/").data
    assert result["metrics"]["trade_count"] == len(result["trades"]) > 0
    assert float(result["metrics"]["total_costs"]) > 0
    assert result["costs"]["fee_rate"] == "0.0005"


def test_a_backtest_with_costs_off_is_refused_by_field(api, account, eurusd):
    response = api.post(
        BASE + "backtests/",
        {"kind": "sma_crossover", "symbol": "EURUSD", "interval": "1h",
         "costs": {"fee_rate": 0}, "config": {"fast_window": 0}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert {"costs.fee_rate", "config.fast_window"} <= set(response.json()["errors"])
    assert row_counts()["Backtest"] == 0
