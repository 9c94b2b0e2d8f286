"""A backtest of SMA crossover over the real EURUSD hourly candles, run through the task."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from strategies.kinds import InvalidStrategyConfig
from strategies.models import Backtest
from strategies.services import backtest_run, backtest_start
from tests.strategies.services.conftest import make_strategy


def test_a_backtest_of_a_strategy_runs_to_succeeded_with_costs(
    account, eurusd, django_capture_on_commit_callbacks
):
    strategy = make_strategy(
        account, symbols=["EURUSD"], config={"fast_window": 10, "slow_window": 20}
    )
    with django_capture_on_commit_callbacks(execute=True):
        queued = backtest_start(
            owner_id=account.owner_id, strategy_id=strategy.pk,
            costs={"fee_rate": D("0.0002"), "slippage_bps": 1},
        )  # fmt: skip
    assert queued.status == "queued"
    backtest = Backtest.objects.get()
    assert backtest.status == "succeeded", backtest.error
    assert backtest.progress == 1.0 and backtest.finished_at is not None
    metrics = backtest.metrics
    assert metrics["bars"] == 5000 and metrics["trade_count"] > 50
    assert D(metrics["total_fees"]) > 0 and D(metrics["total_slippage_cost"]) > 0
    assert D(metrics["total_costs"]) == D(metrics["total_fees"]) + D(metrics["total_slippage_cost"])
    assert backtest.costs["fee_rate"] == "0.0002" and backtest.costs["slippage_bps"] == "1"
    assert len(backtest.trades) == metrics["trade_count"]
    assert all(D(t["fees"]) > 0 for t in backtest.trades)
    assert len(backtest.equity_curve) == 1000
    assert backtest.kind == "sma_crossover" and backtest.config["fast_window"] == 10


def test_costs_cost_money(account, eurusd):
    def final_equity(costs):
        backtest = backtest_start(
            owner_id=account.owner_id, kind="sma_crossover", symbol="EURUSD", interval="1h",
            costs=costs,
        )  # fmt: skip
        return D(backtest_run(backtest_id=backtest.pk).metrics["final_equity"])

    cheap = final_equity({"fee_rate": D("0.00001"), "slippage_bps": D("0.01")})
    dear = final_equity({"fee_rate": D("0.001"), "slippage_bps": 5})
    assert dear < cheap


@pytest.mark.parametrize(
    ("costs", "field"),
    [
        ({"fee_rate": 0}, "costs.fee_rate"),
        ({"slippage_bps": 0}, "costs.slippage_bps"),
        ({"latency_seconds": -1}, "costs.latency_seconds"),
        ({"latency_bars": 1.5}, "costs.latency_bars"),
        ({"spread": 1}, "costs.spread"),
        ({"stop_loss": 0}, "costs.stop_loss"),
        ({"stop_loss": 1}, "costs.stop_loss"),
        ({"take_profit": "x"}, "costs.take_profit"),
        ({"max_position_value": -1}, "costs.max_position_value"),
        ({"daily_loss_limit": 2}, "costs.daily_loss_limit"),
    ],
)
def test_costs_are_always_on_and_refused_field_by_field(account, eurusd, costs, field):
    with pytest.raises(InvalidStrategyConfig) as caught:
        backtest_start(
            owner_id=account.owner_id, kind="sma_crossover", symbol="EURUSD", interval="1h",
            costs=costs,
        )  # fmt: skip
    assert field in caught.value.errors
    assert Backtest.objects.count() == 0


def test_a_window_without_candles_fails_with_a_reason(account, eurusd):
    backtest = backtest_start(
        owner_id=account.owner_id, kind="sma_crossover", symbol="EURUSD", interval="1d"
    )
    run = backtest_run(backtest_id=backtest.pk)
    assert run.status == "failed" and "needs at least 2" in run.error
    assert backtest_run(backtest_id=backtest.pk).status == "failed"  # delivered twice: no change


def test_another_owners_strategy_cannot_be_backtested(account, btc):
    from tests.factories import make_account, make_user

    strategy = make_strategy(account)
    other = make_account(make_user("other"), name="Theirs")
    with pytest.raises(InvalidStrategyConfig) as caught:
        backtest_start(owner_id=other.owner_id, strategy_id=strategy.pk)
    assert "strategy" in caught.value.errors
    assert Backtest.objects.count() == 0


def run(account, costs, kind="sma_crossover", config=None):
    backtest = backtest_start(
        owner_id=account.owner_id, kind=kind, symbol="EURUSD", interval="1h",
        costs=costs, config=config or {},
    )  # fmt: skip
    return backtest_run(backtest_id=backtest.pk)


def test_stops_take_profits_and_risk_checks_are_set_per_backtest(account, eurusd):
    plain = run(account, {})
    protected = run(account, {"stop_loss": "0.002", "take_profit": "0.004"})
    assert plain.metrics["protective_exits"] == {}
    exits = protected.metrics["protective_exits"]
    assert exits["stop_loss"] > 0 and exits["take_profit"] > 0
    # A protective exit ends a trade early; re-entry waits for a new target (the engine's rule).
    assert exits["stop_loss"] + exits["take_profit"] <= protected.metrics["trade_count"]
    assert protected.metrics["final_equity"] != plain.metrics["final_equity"]
    assert protected.costs["stop_loss"] == "0.002"
    # A full target is the whole initial cash: at most half of equity in the position refuses
    # every entry, and the refusals are counted by rule.
    limited = run(account, {"max_position_value": "0.5"})
    assert limited.status == "succeeded", limited.error
    assert limited.metrics["trade_count"] == 0 and limited.metrics["fills"] == 0
    assert limited.metrics["refusals"]["max_position_value"] > 0


def test_a_run_that_loses_everything_is_reported_as_ruined(account, eurusd):
    """Ten times the capital in every position (order_size), no risk checks: the account's
    equity goes below zero; the run still succeeds and says where it was ruined."""
    ruined = run(account, {"order_size": "1000000", "initial_cash": "10000", "fee_rate": "0.001"})
    assert ruined.status == "succeeded", ruined.error
    metrics = ruined.metrics
    assert metrics["ruined"] is not None and D(metrics["ruined"]["equity"]) <= 0
    assert metrics["total_return"] == "-1" and metrics["cagr"] == -1.0
    assert metrics["max_drawdown"]["depth"] == -1.0


def test_buy_and_hold_is_exposed_all_the_time_it_holds(account, eurusd):
    """Its one trade never closes: the open position counts in the exposure."""
    held = run(account, {}, kind="buy_and_hold")
    assert held.metrics["trade_count"] == 0 and held.metrics["open_trade"] is not None
    assert held.metrics["exposure"] > 0.99
