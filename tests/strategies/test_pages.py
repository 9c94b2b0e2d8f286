"""The strategies pages through Django's test client, against the real database: the list,
a strategy's detail, pause and resume, running a backtest, its status JSON and its report.
Everything is the signed-in user's own: another's ids answer 404."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from strategies.models import Backtest, BacktestStatus, Strategy, StrategyStatus
from strategies.services import (
    backtest_run,
    backtest_start,
    signal_record,
    strategy_resume,
    strategy_stop,
)
from tests.factories import make_account, make_user
from tests.strategies.services.conftest import eurusd, make_strategy  # noqa: F401 (a fixture)

SMA = {"fast_window": 10, "slow_window": 20}


@pytest.fixture
def strategy(account, eurusd):  # noqa: F811 (the fixture imported above)
    return make_strategy(account, name="EUR trend", symbols=["EURUSD"], config=SMA)


@pytest.fixture
def signed_in(client, account):
    client.force_login(account.owner)
    return client


@pytest.fixture
def theirs(eurusd):  # noqa: F811
    other = make_account(make_user("someone"), name="Other")
    strategy = make_strategy(other, name="Secret Sauce", symbols=["EURUSD"], config=SMA)
    backtest = backtest_start(owner_id=other.owner_id, strategy_id=strategy.pk, queue=False)
    return strategy, backtest


def finished_backtest(strategy: Strategy) -> Backtest:
    started = backtest_start(owner_id=strategy.owner_id, strategy_id=strategy.pk, queue=False)
    return backtest_run(backtest_id=started.pk)


def test_every_page_asks_a_visitor_to_sign_in(client, strategy):
    backtest = backtest_start(owner_id=strategy.owner_id, strategy_id=strategy.pk, queue=False)
    for url in (
        reverse("strategies:list"),
        reverse("strategies:detail", args=[strategy.pk]),
        reverse("strategies:backtest", args=[backtest.pk]),
        reverse("strategies:backtest-status", args=[backtest.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"], url
    response = client.post(reverse("strategies:pause", args=[strategy.pk]))
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_list_shows_own_strategies_with_their_key_figures(signed_in, strategy, theirs):
    backtest = finished_backtest(strategy)
    signal_record(
        strategy_id=strategy.pk, symbol="EURUSD", at=datetime.now(UTC), side="buy",
        target_position=1.0,
    )  # fmt: skip

    page = signed_in.get(reverse("strategies:list")).text

    assert "EUR trend" in page and "sma_crossover" in page and "EURUSD" in page
    assert 'class="badge status-paused"' in page
    total_return = float(backtest.metrics["total_return"])
    assert f"{total_return * 100:+.2f}%" in page
    assert f"{float(backtest.metrics['sharpe_ratio']):.2f}" in page
    depth = float(backtest.metrics["max_drawdown"]["depth"])
    assert f"-{depth * 100:.2f}%" in page
    assert '<td class="num">1</td>' in page  # one signal today
    assert "Secret Sauce" not in page


def test_the_detail_shows_config_signals_backtests_and_the_form(signed_in, strategy):
    backtest = finished_backtest(strategy)
    signal_record(
        strategy_id=strategy.pk, symbol="EURUSD", at=datetime(2018, 1, 2, tzinfo=UTC),
        side="sell", target_position=-1.0, confidence=0.8,
    )  # fmt: skip

    response = signed_in.get(reverse("strategies:detail", args=[strategy.pk]))

    assert response.status_code == 200
    page = response.text
    assert "fast_window" in page and "slow_window" in page
    assert "2018-01-02 00:00" in page and "pending" in page and "0.80" in page
    assert reverse("strategies:backtest", args=[backtest.pk]) in page
    assert reverse("strategies:resume", args=[strategy.pk]) in page  # paused: offers resume
    assert 'name="csrfmiddlewaretoken"' in page
    assert '<label for="id_fee_rate">' in page and 'name="slippage_bps"' in page


def test_another_users_strategy_and_backtest_answer_404(signed_in, strategy, theirs):
    their_strategy, their_backtest = theirs
    for url in (
        reverse("strategies:detail", args=[their_strategy.pk]),
        reverse("strategies:backtest", args=[their_backtest.pk]),
        reverse("strategies:backtest-status", args=[their_backtest.pk]),
    ):
        assert signed_in.get(url).status_code == 404, url
    for name in ("strategies:pause", "strategies:resume", "strategies:backtest-create"):
        assert signed_in.post(reverse(name, args=[their_strategy.pk])).status_code == 404, name
    their_strategy.refresh_from_db()
    assert their_strategy.status == StrategyStatus.PAUSED
    assert Backtest.objects.filter(strategy=their_strategy).count() == 1


def test_pause_and_resume_from_the_page_change_the_status(signed_in, strategy):
    resumed = signed_in.post(reverse("strategies:resume", args=[strategy.pk]), follow=True)
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.ACTIVE
    assert "EUR trend is active." in resumed.text
    assert reverse("strategies:pause", args=[strategy.pk]) in resumed.text

    signed_in.post(reverse("strategies:pause", args=[strategy.pk]))
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.PAUSED and strategy.paused_at is not None


def test_a_stopped_strategy_cannot_be_resumed_and_says_why(signed_in, strategy):
    strategy_resume(strategy_id=strategy.pk)
    strategy_stop(strategy_id=strategy.pk)
    response = signed_in.post(reverse("strategies:resume", args=[strategy.pk]), follow=True)
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.STOPPED
    assert "is stopped; clone it to run again" in response.text


def test_pause_needs_a_post(signed_in, strategy):
    assert signed_in.get(reverse("strategies:pause", args=[strategy.pk])).status_code == 405


def test_a_bad_backtest_form_shows_errors_by_field_and_saves_nothing(signed_in, strategy):
    response = signed_in.post(
        reverse("strategies:backtest-create", args=[strategy.pk]),
        {"symbol": "EURUSD", "fee_rate": "0", "slippage_bps": "abc", "latency_seconds": "0",
         "latency_bars": "0", "initial_cash": "100000"},
    )  # fmt: skip
    assert response.status_code == 400
    form = response.context["form"]
    assert set(form.errors) == {"slippage_bps"}  # parsing first: the service is not asked
    assert 'aria-describedby="id_slippage_bps_errors' in response.text
    assert Backtest.objects.count() == 0

    refused = signed_in.post(
        reverse("strategies:backtest-create", args=[strategy.pk]),
        {"symbol": "EURUSD", "fee_rate": "0", "slippage_bps": "1", "latency_seconds": "-1",
         "latency_bars": "0", "initial_cash": "100000", "start": "2018-01-01T00:00",
         "end": "2017-06-01T00:00"},
    )  # fmt: skip
    assert refused.status_code == 400
    errors = refused.context["form"].errors
    assert "greater than zero" in errors["fee_rate"][0]
    assert "at least 0" in errors["latency_seconds"][0]
    assert errors["end"] == ["end must be after start"]
    assert 'id="id_fee_rate_errors"' in refused.text
    assert Backtest.objects.count() == 0


def test_a_symbol_the_strategy_does_not_trade_is_refused(signed_in, strategy):
    response = signed_in.post(
        reverse("strategies:backtest-create", args=[strategy.pk]),
        {"symbol": "BTC-USDT", "fee_rate": "0.001", "slippage_bps": "1", "latency_seconds": "0",
         "latency_bars": "0", "initial_cash": "100000"},
    )  # fmt: skip
    assert response.status_code == 400 and "symbol" in response.context["form"].errors
    assert Backtest.objects.count() == 0


def test_running_a_backtest_from_the_page_shows_its_report(
    signed_in, strategy, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # no worker: the task runs here
        response = signed_in.post(
            reverse("strategies:backtest-create", args=[strategy.pk]),
            {"symbol": "EURUSD", "fee_rate": "0.001", "slippage_bps": "2",
             "latency_seconds": "0", "latency_bars": "0", "initial_cash": "50000",
             "stop_loss": "0.05"},
        )  # fmt: skip
    backtest = Backtest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("strategies:backtest", args=[backtest.pk])
    assert backtest.status == BacktestStatus.SUCCEEDED
    assert backtest.costs["fee_rate"] == "0.001" and backtest.costs["initial_cash"] == "50000"
    assert backtest.costs["stop_loss"] == "0.05"

    status = signed_in.get(reverse("strategies:backtest-status", args=[backtest.pk])).json()
    assert status["status"] == "succeeded" and status["progress"] == 1.0 and status["finished"]

    page = signed_in.get(response["Location"]).text
    assert 'id="report-figure-data"' in page and "data-plotly-figure" in page
    assert "/vendor/plotly.min.js" in page
    assert "total return" in page and "buy and hold" in page
    assert "<progress" not in page


def test_a_queued_backtest_shows_a_progress_bar_that_polls_its_status(signed_in, strategy):
    backtest = backtest_start(owner_id=strategy.owner_id, strategy_id=strategy.pk, queue=False)
    page = signed_in.get(reverse("strategies:backtest", args=[backtest.pk])).text
    status_url = reverse("strategies:backtest-status", args=[backtest.pk])
    assert f'data-progress-url="{status_url}"' in page and "<progress" in page
    assert "waiting for a worker" in page
    body = signed_in.get(status_url).json()
    assert body == {
        "id": backtest.pk, "status": "queued", "progress": 0.0,
        "message": "waiting for a worker", "error": "", "finished": False,
        "report_url": reverse("strategies:backtest", args=[backtest.pk]),
    }  # fmt: skip


def test_a_user_without_strategies_is_told_how_to_get_one(client, db):
    client.force_login(make_user("newcomer"))
    response = client.get(reverse("strategies:list"))
    assert response.status_code == 200 and "You have no strategies yet" in response.text


def test_a_failed_backtest_says_why(signed_in, strategy):
    started = backtest_start(
        owner_id=strategy.owner_id, strategy_id=strategy.pk, queue=False,
        start=datetime(2030, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    failed = backtest_run(backtest_id=started.pk)
    assert failed.status == BacktestStatus.FAILED

    page = signed_in.get(reverse("strategies:backtest", args=[failed.pk])).text

    assert "The backtest failed" in page and failed.error in page
    assert "data-progress-url" not in page
    assert signed_in.get(reverse("strategies:backtest-status", args=[failed.pk])).json()["finished"]
