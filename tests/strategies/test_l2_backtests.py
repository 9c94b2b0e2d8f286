"""Backtests on stored L2 data: a seeded simulated history stored as BookSnapshot and
MarketTrade rows, run through backtest_start/backtest_run, the CLI and the API, against the
real database. Refused input (no L2 data in the window, bad settings) saves nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from execution.domain.marketsim import MarketSimConfig
from execution.models import BookSnapshot, MarketTrade
from strategies.kinds import InvalidStrategyConfig
from strategies.l2_history import L2HistoryError, l2_history_simulate, l2_stream
from strategies.models import Backtest
from strategies.services import backtest_run, backtest_start
from tests.execution.api.conftest import client_for
from tests.factories import make_instrument, make_user

pytestmark = pytest.mark.django_db

START = datetime(2024, 1, 1, tzinfo=UTC)
BARS = 40
SMA = {"fast_window": 3, "slow_window": 8}


@pytest.fixture
def history(db):
    make_instrument("BTC-USDT", tick="0.1", lot="0.0001")
    return l2_history_simulate(
        symbol="BTC-USDT", start=START, bars=BARS, price=Decimal(30_000), volatility=0.002,
        seed=5, config=MarketSimConfig(substeps=20, levels=5),
    )  # fmt: skip


@pytest.fixture
def quant(db):
    return make_user("quant")


def test_the_simulated_history_is_stored_once_and_read_back_in_time_order(history):
    assert history.books.added == BookSnapshot.objects.count() == BARS * 20
    assert history.trades.added == MarketTrade.objects.count() > 0
    again = l2_history_simulate(
        symbol="BTC-USDT", start=START, bars=BARS, price=Decimal(30_000), volatility=0.002,
        seed=5, config=MarketSimConfig(substeps=20, levels=5),
    )  # fmt: skip
    assert again.books.added == again.trades.added == 0
    stream = l2_stream(symbol="BTC-USDT", start=None, end=None)
    assert len(stream.book_us) == BARS * 20 and len(stream.trade_us) == history.trades.read
    assert bool((stream.times[1:] >= stream.times[:-1]).all())
    assert bool((stream.ask_ticks[:, 0] > stream.bid_ticks[:, 0]).all())
    half = l2_stream(symbol="BTC-USDT", start=START, end=START + timedelta(minutes=BARS // 2))
    assert len(half.book_us) == BARS * 10


def test_an_empty_window_is_refused_by_the_reader(history):
    later = START + timedelta(days=1)
    with pytest.raises(L2HistoryError, match="0 stored L2 book snapshots"):
        l2_stream(symbol="BTC-USDT", start=later, end=later + timedelta(hours=1))


def test_an_l2_backtest_runs_through_the_services_and_saves_the_candle_shape(history, quant):
    backtest = backtest_start(
        owner_id=quant.pk, kind="sma_crossover", config=SMA, symbol="BTC-USDT", interval="1m",
        data="l2", execution={"algorithm": "market", "latency_ms": 50}, queue=False,
    )  # fmt: skip
    assert backtest.data == "l2" and backtest.execution["latency_ms"] == "50"
    done = backtest_run(backtest_id=backtest.pk)
    assert done.status == "succeeded", done.error
    metrics = done.metrics
    assert metrics["data"] == "l2" and metrics["fills"] > 0
    assert Decimal(metrics["total_fees"]) > 0
    assert Decimal(metrics["total_costs"]) == Decimal(metrics["total_fees"]) + Decimal(
        metrics["total_slippage_cost"]
    )
    assert metrics["execution"]["market"]["parents"] > 0
    assert metrics["execution"]["market"]["fill_rate"] == 1.0
    assert metrics["refusals"] == {}
    assert {"total_return", "sharpe_ratio", "max_drawdown", "trade_count"} <= set(metrics)
    assert metrics["trade_count"] == len(done.trades)
    if metrics["open_trade"] is not None:  # held at the end: it counts in the exposure
        assert metrics["exposure"] > 0
    assert 2 <= len(done.equity_curve) <= 1000
    assert done.equity_curve[0][1] == 100_000.0
    assert float(metrics["final_equity"]) == pytest.approx(done.equity_curve[-1][1], abs=0.01)


def test_a_limit_algorithm_and_risk_limits_are_applied(history, quant):
    backtest = backtest_start(
        owner_id=quant.pk, kind="sma_crossover", config=SMA, symbol="BTC-USDT", interval="1m",
        data="l2", costs={"max_position_value": "0.1", "order_size": "1"},
        execution={"algorithm": "auto"}, queue=False,
    )  # fmt: skip
    done = backtest_run(backtest_id=backtest.pk)
    assert done.status == "succeeded", done.error
    # One bitcoin is worth 30% of the equity: every opening order is refused.
    assert done.metrics["refusals"].get("max_position_value", 0) > 0
    assert done.metrics["fills"] == 0


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"start": START + timedelta(days=1)}, "data"),
        ({"execution": {"algorithm": "teleport"}}, "execution.algorithm"),
        ({"execution": {"latency_ms": -1}}, "execution.latency_ms"),
        ({"execution": {"speed": 1}}, "execution.speed"),
        ({"costs": {"stop_loss": "0.01"}}, "costs.stop_loss"),
        ({"data": "ticks"}, "data"),
        ({"data": "candles", "execution": {"algorithm": "market"}}, "execution"),
    ],
)
def test_refused_l2_backtests_name_the_field_and_save_nothing(history, quant, arguments, field):
    values = {"data": "l2", **arguments}
    with pytest.raises(InvalidStrategyConfig) as refused:
        backtest_start(
            owner_id=quant.pk, kind="sma_crossover", config=SMA, symbol="BTC-USDT",
            interval="1m", queue=False, **values,
        )  # fmt: skip
    assert field in refused.value.errors
    assert not Backtest.objects.exists()


def test_no_l2_data_for_the_symbol_is_refused(db, quant):
    make_instrument("ETH-USDT")
    with pytest.raises(InvalidStrategyConfig) as refused:
        backtest_start(
            owner_id=quant.pk, kind="sma_crossover", config=SMA, symbol="ETH-USDT",
            interval="1m", data="l2", queue=False,
        )  # fmt: skip
    assert "l2_simulate" in refused.value.errors["data"][0]
    assert not Backtest.objects.exists()


def test_the_cli_runs_an_l2_backtest_with_progress(history, quant):
    out = StringIO()
    call_command(
        "backtest", "--kind", "sma_crossover", "--symbol", "BTC-USDT", "--interval", "1m",
        "--user", "quant", "--config", '{"fast_window": 3, "slow_window": 8}',
        "--data", "l2", "--execution", '{"algorithm": "market"}', stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    backtest = Backtest.objects.get()
    assert backtest.status == "succeeded" and backtest.data == "l2"
    assert "100%" in text and "(l2)" in text and "execution market:" in text
    assert backtest.metrics["fills"] > 0 and Decimal(backtest.metrics["total_costs"]) > 0


def test_the_cli_refuses_a_window_without_l2_data(history, quant):
    with pytest.raises(CommandError, match="data:"):
        call_command(
            "backtest", "--kind", "sma_crossover", "--symbol", "BTC-USDT", "--interval", "1m",
            "--user", "quant", "--data", "l2", "--start", "2025-01-01T00:00",
            stdout=StringIO(),
        )  # fmt: skip
    assert not Backtest.objects.exists()


def test_l2_simulate_stores_a_history_and_refuses_an_unknown_symbol(db):
    make_instrument("SOL-USDT", tick="0.001", lot="0.01")
    out = StringIO()
    call_command(
        "l2_simulate", "--symbol", "SOL-USDT", "--price", "150", "--bars", "5",
        "--substeps", "10", "--seed", "3", stdout=out,
    )  # fmt: skip
    assert "50 added" in out.getvalue()
    assert BookSnapshot.objects.count() == 50 and MarketTrade.objects.exists()
    with pytest.raises(CommandError, match="symbol: no such instrument"):
        call_command("l2_simulate", "--symbol", "NOPE-USDT", "--price", "1", stdout=StringIO())


def test_the_api_starts_an_l2_backtest_and_shows_its_data(
    history, quant, django_capture_on_commit_callbacks
):
    api = client_for(quant)
    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(
            "/api/v1/strategies/backtests/",
            {"kind": "sma_crossover", "symbol": "BTC-USDT", "interval": "1m", "config": SMA,
             "data": "l2", "execution": {"algorithm": "market"}},
            format="json",
        )  # fmt: skip
    assert started.status_code == 201, started.data
    assert started.data["data"] == "l2" and started.data["execution"]["algorithm"] == "market"
    result = api.get(f"/api/v1/strategies/backtests/{started.data['id']}/result/").data
    assert result["status"] == "succeeded" and result["metrics"]["fills"] > 0
    refused = api.post(
        "/api/v1/strategies/backtests/",
        {"kind": "sma_crossover", "symbol": "BTC-USDT", "interval": "1m", "data": "l2",
         "start": "2030-01-01T00:00:00Z"},
        format="json",
    )  # fmt: skip
    assert refused.status_code == 400 and "data" in refused.json()["errors"]
    assert Backtest.objects.count() == 1


def test_the_report_of_an_l2_backtest_draws_the_books_mids(history, quant):
    from strategies.report import backtest_report, market_for, run_from_backtest

    backtest = backtest_start(
        owner_id=quant.pk, kind="sma_crossover", config=SMA, symbol="BTC-USDT", interval="1m",
        data="l2", execution={"algorithm": "market"}, queue=False,
    )  # fmt: skip
    run = run_from_backtest(backtest_run(backtest_id=backtest.pk))
    market = market_for(run)  # no candles are stored: the bars are the books' mids
    assert len(market.bars) == BARS
    html = backtest_report(run, market).html("/vendor/plotly.min.js")
    assert "BTC-USDT" in html and "buy and hold" in html.lower()
