"""The demo world of `make run` (tradingsite.demo through `manage.py demo_load`): every
dashboard page has something to show for the leader and a follower, a second run adds
nothing, and the live runner evaluates the demo's strategies on the next bar."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Model
from django.test import Client

from copytrading.models import (
    CopySubscription,
    FollowerAccountSnapshot,
    SubscriptionEquitySnapshot,
)
from execution.domain.marketsim import Candle as SimCandle
from execution.models import Account, Candle, Instrument, Order, Position
from execution.services.marketfeed import feed_bar_close
from execution.services.venues import paper_reset
from mlmodels.models import ModelStatus, ModelVersion
from strategies.models import Backtest, BacktestComparison, Strategy, StrategyEvaluation
from strategies.runner import runner_states_clear
from tradingsite import demo

BARS = demo.HISTORY_DAYS * 24 * 60
ROWS: list[type[Model]] = [
    get_user_model(),
    Account,
    Instrument,
    Candle,
    Order,
    ModelVersion,
    Strategy,
    Backtest,
    BacktestComparison,
    CopySubscription,
    SubscriptionEquitySnapshot,
    FollowerAccountSnapshot,
]


@pytest.fixture(autouse=True)
def clean_market():
    paper_reset()
    runner_states_clear()
    yield
    paper_reset()
    runner_states_clear()


def load() -> str:
    out = StringIO()
    call_command("demo_load", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model._default_manager.count() for model in ROWS}


def signed_in(username: str, password: str) -> Client:
    client = Client()
    assert client.login(username=username, password=password)
    return client


# Transactional: orders are sent to the paper venue when their transaction commits, as under
# `make run`.
@pytest.mark.django_db(transaction=True)
def test_demo_load_builds_the_world_and_a_second_run_adds_nothing():
    output = load()

    for line in (
        "sign in as 'demo' with password 'demo-trader'",
        "sign in as 'follower1' with password 'demo-follower'",
        "sign in as 'follower2' with password 'demo-follower'",
        "http://127.0.0.1:8000/",
    ):
        assert line in output
    users = get_user_model().objects
    leader = users.get(username="demo")
    assert leader.is_staff and leader.check_password("demo-trader")
    for name in demo.FOLLOWERS:
        follower = users.get(username=name)
        assert not follower.is_staff and follower.check_password("demo-follower")
        account = Account.objects.get(owner=follower)
        assert (
            account.mode == "paper"
            and account.balances.get().deposited == demo.FOLLOWER_DEPOSITS[name]
        )
    # Days of closed one-minute bars up to now, and the mark (where the live feed starts) at
    # the last close.
    now = datetime.now(UTC)
    for instrument in Instrument.objects.all():
        candles = Candle.objects.filter(instrument=instrument, interval="1m")
        assert candles.count() >= BARS
        last = candles.latest("open_time")
        assert now - timedelta(minutes=3) < last.open_time < now
        assert instrument.mark_price is not None
        assert abs(instrument.mark_price / Decimal(repr(last.close)) - 1) < Decimal("0.001")
    version = ModelVersion.objects.get(name=demo.MODEL_NAME)
    assert version.status == ModelStatus.ACTIVE and version.symbol == "BTC-USDT"
    assert len(version.fold_metrics) == demo.MODEL_TRAINING["folds"]
    strategies = {s.kind: s for s in Strategy.objects.filter(owner=leader)}
    assert set(strategies) == {"mean_reversion", "xgboost", "smart_money"}
    assert all(s.visibility == "public" for s in strategies.values())
    assert strategies["xgboost"].model_version == version
    for kind in ("mean_reversion", "xgboost"):
        assert strategies[kind].status == "active"
        assert strategies[kind].backtests.get().status == "succeeded"
    comparison = BacktestComparison.objects.get(owner=leader)
    assert {b.status for b in comparison.backtests.all()} == {"succeeded"}
    subscriptions = CopySubscription.objects.filter(status="active")
    assert subscriptions.count() == 4
    assert {s.mode for s in subscriptions} == {"percent", "fixed_ratio", "fixed_amount"}
    assert SubscriptionEquitySnapshot.objects.count() == 4
    assert FollowerAccountSnapshot.objects.count() == 2
    btc = Position.objects.get(account__owner=leader, instrument__symbol="BTC-USDT")
    assert btc.quantity == Decimal("0.15") and btc.stop_loss_price < btc.take_profit_price
    first = counts()

    paper_reset()  # `make run` again: a new process
    output = load()

    after = counts()
    # A minute may have turned between the runs: its bar is the only thing a rerun adds.
    assert after.pop("Candle") - first.pop("Candle") <= 3 * 2
    assert after == first


@pytest.mark.django_db(transaction=True)
def test_every_dashboard_page_has_content_for_the_leader_and_a_follower():
    load()

    leader = signed_in("demo", "demo-trader")
    pages = {
        "/": ["BTC-USDT", "Paper"],
        "/strategies/": ["BTC mean reversion", "BTC XGBoost", "BTC smart money"],
        "/models/": [demo.MODEL_NAME],
        "/copy/": ["BTC mean reversion"],  # the leaderboard of public strategies
        "/execution/": ["BTC-USDT", "ETH-USDT", "SOL-USDT"],
    }
    for url, texts in pages.items():
        response = leader.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        for text in texts:
            assert text in page, (url, text)
    strategy = Strategy.objects.get(name="BTC XGBoost")
    backtest = strategy.backtests.get()
    for url in (f"/strategies/{strategy.pk}/", f"/strategies/backtests/{backtest.pk}/"):
        assert leader.get(url).status_code == 200, url

    follower = signed_in("follower1", "demo-follower")
    for url in pages:
        assert follower.get(url).status_code == 200, url
    copy_page = follower.get("/copy/").content.decode()
    assert "BTC mean reversion" in copy_page and "BTC XGBoost" in copy_page
    assert "No open positions" in follower.get("/").content.decode()  # nothing copied yet


@pytest.mark.django_db(transaction=True)
def test_the_live_runner_evaluates_the_demo_strategies_on_the_next_bar(caplog):
    load()
    btc = Instrument.objects.get(symbol="BTC-USDT")
    last = Candle.objects.filter(instrument=btc, interval="1m").latest("open_time")
    close = Decimal(repr(last.close))
    bar_start = last.open_time + timedelta(minutes=1)
    candle = SimCandle(bar_start, close, close + 10, close - 10, close + 5, Decimal(3))

    with caplog.at_level(logging.ERROR, logger="strategies.runner"):
        # Stores the bar and announces it: the runner (strategies_bar_closed) evaluates on
        # commit, inline as under `make run`.
        feed_bar_close(symbol="BTC-USDT", candle=candle)

    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    active = Strategy.objects.filter(status="active")
    assert active.count() >= 2  # mean reversion and XGBoost (smart money once it can run)
    evaluated = StrategyEvaluation.objects.filter(bar_start=bar_start)
    assert sorted(evaluated.values_list("strategy_id", flat=True)) == sorted(
        active.values_list("pk", flat=True)
    )
