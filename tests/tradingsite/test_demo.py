"""The demo world of `make run` (tradingsite.demo through `manage.py demo_load`): every
dashboard page has something to show for the leader and a follower, a second run adds
nothing, and the market replay continues the history where it stops, the demo's strategies
trading on it."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from itertools import pairwise

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count, Model
from django.test import Client

from copytrading.models import (
    CopySubscription,
    FollowerAccountSnapshot,
    SubscriptionEquitySnapshot,
)
from execution.marketdata.packages import SERIES
from execution.models import Account, BookSnapshot, Candle, Instrument, Order, Position
from execution.services.accounts import account_open
from execution.services.replay import REPLAY_SOURCES, market_replay_run, replay_cursor
from execution.services.venues import paper_reset
from mlmodels.models import ModelStatus, ModelVersion
from strategies.models import Backtest, BacktestComparison, Strategy, StrategyEvaluation
from strategies.runner import runner_states_clear
from tradingsite import demo

SYMBOLS = sorted(source.symbol for source in REPLAY_SOURCES)
ROWS: list[type[Model]] = [
    get_user_model(),
    Account,
    Instrument,
    Candle,
    BookSnapshot,
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


class FakeClock:
    """Time moves only when the replay sleeps."""

    def __init__(self) -> None:
        self.now, self.slept = datetime.now(UTC), 0.0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += timedelta(seconds=seconds)


def replay(bars: int, speed: float = 1.0) -> FakeClock:
    clock = FakeClock()
    run = market_replay_run(
        stop=threading.Event(), speed=speed, clock=clock, sleep=clock.sleep, max_bars=bars
    )
    assert run.bars == bars
    return clock


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
    # The package series' first bars on a one-minute grid ending at this minute, a book at
    # each bar's close, and the mark (where the replay goes on from) at the last close.
    now = datetime.now(UTC)
    assert sorted(Instrument.objects.values_list("symbol", flat=True)) == SYMBOLS
    for instrument in Instrument.objects.all():
        candles = Candle.objects.filter(instrument=instrument, interval="1m")
        assert candles.count() == demo.HISTORY_BARS
        assert BookSnapshot.objects.filter(instrument=instrument).count() == demo.HISTORY_BARS
        last = candles.latest("open_time")
        assert now - timedelta(minutes=3) < last.open_time < now
        assert instrument.mark_price is not None
        assert abs(instrument.mark_price / Decimal(repr(last.close)) - 1) < Decimal("0.001")
    # The bars are the package's: backtesting's EURUSD.csv, read in place.
    series = SERIES["backtesting:EURUSD"].read(SERIES["backtesting:EURUSD"])
    stored = Candle.objects.filter(instrument__symbol="EURUSD").order_by("open_time")
    assert [c.close for c in stored[:50]] == list(series.close[:50])
    version = ModelVersion.objects.get(name=demo.MODEL_NAME)
    assert version.status == ModelStatus.ACTIVE and version.symbol == demo.MODEL_SYMBOL
    assert len(version.fold_metrics) == demo.MODEL_TRAINING["folds"]
    strategies = {s.kind: s for s in Strategy.objects.filter(owner=leader)}
    assert set(strategies) == {"mean_reversion", "xgboost", "smart_money"}
    assert all(s.visibility == "public" for s in strategies.values())
    assert strategies["xgboost"].model_version == version
    assert strategies["smart_money"].config["book_inputs"] is True
    for strategy in strategies.values():
        assert strategy.status == "active"
        assert strategy.backtests.get().status == "succeeded"
    # Smart money leans with the stored books in its backtest too: it trades.
    assert strategies["smart_money"].backtests.get().trades
    comparison = BacktestComparison.objects.get(owner=leader)
    assert {b.status for b in comparison.backtests.all()} == {"succeeded"}
    subscriptions = CopySubscription.objects.filter(status="active")
    assert subscriptions.count() == 4
    assert {s.mode for s in subscriptions} == {"percent", "fixed_ratio", "fixed_amount"}
    assert SubscriptionEquitySnapshot.objects.count() == 4
    assert FollowerAccountSnapshot.objects.count() == 2
    manual = Position.objects.get(account__owner=leader, instrument__symbol=demo.MANUAL_SYMBOL)
    assert manual.quantity == Decimal(100) and manual.stop_loss_price < manual.take_profit_price
    first = counts()

    paper_reset()  # `make run` again: a new process
    output = load()

    assert counts() == first  # the replay, not demo_load, moves the market on


@pytest.mark.django_db(transaction=True)
def test_every_dashboard_page_has_content_for_the_leader_and_a_follower():
    load()

    leader = signed_in("demo", "demo-trader")
    pages = {
        "/": [demo.MANUAL_SYMBOL, "Paper"],
        "/strategies/": ["AAPL mean reversion", "EURUSD XGBoost", "MSFT smart money"],
        "/models/": [demo.MODEL_NAME],
        "/copy/": ["AAPL mean reversion"],  # the leaderboard of public strategies
        "/execution/": SYMBOLS,
    }
    for url, texts in pages.items():
        response = leader.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        for text in texts:
            assert text in page, (url, text)
    strategy = Strategy.objects.get(name="EURUSD XGBoost")
    backtest = strategy.backtests.get()
    for url in (f"/strategies/{strategy.pk}/", f"/strategies/backtests/{backtest.pk}/"):
        assert leader.get(url).status_code == 200, url

    follower = signed_in("follower1", "demo-follower")
    for url in pages:
        assert follower.get(url).status_code == 200, url
    copy_page = follower.get("/copy/").content.decode()
    assert "AAPL mean reversion" in copy_page and "EURUSD XGBoost" in copy_page
    assert "No open positions" in follower.get("/").content.decode()  # nothing copied yet


@pytest.mark.django_db(transaction=True)
def test_the_replay_resumes_where_it_stopped_and_the_strategies_trade_on_it(caplog):
    load()
    before = {s.symbol: replay_cursor(s) for s in REPLAY_SOURCES}

    with caplog.at_level(logging.ERROR):
        replay(4 * 30)  # 30 bars of each instrument, inline runner as under `make run`

    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    for source in REPLAY_SOURCES:
        cursor = replay_cursor(source)
        assert cursor is not None and cursor.anchor == before[source.symbol].anchor
        assert cursor.next_bar == demo.HISTORY_BARS + 30
    # Every active strategy evaluated every replayed bar of its instrument.
    evaluated = dict(
        StrategyEvaluation.objects.values_list("strategy__name").annotate(n=Count("pk"))
    )
    assert evaluated == {s.name: 30 for s in demo.STRATEGIES}
    # The strategies traded and the followers copied: a follower holds a position.
    assert Order.objects.filter(strategy_id__isnull=False, status="filled").exists()
    assert (
        Position.objects.filter(account__owner__username__in=demo.FOLLOWERS)
        .exclude(quantity=0)
        .exists()
    )

    # Stopped and started again (a new process): it goes on from the next bar, no bar twice.
    paper_reset()
    runner_states_clear()
    load()  # make run loads (nothing new) before serving
    replay(4 * 5)
    for source in REPLAY_SOURCES:
        cursor = replay_cursor(source)
        assert cursor is not None and cursor.next_bar == demo.HISTORY_BARS + 35
        times = list(
            Candle.objects.filter(instrument__symbol=source.symbol)
            .order_by("open_time")
            .values_list("open_time", flat=True)
        )
        assert len(times) == demo.HISTORY_BARS + 35
        assert {b - a for a, b in pairwise(times)} == {timedelta(minutes=1)}
    assert StrategyEvaluation.objects.count() == 3 * 35


@pytest.mark.django_db(transaction=True)
def test_an_older_demos_account_in_another_currency_is_left_alone():
    """A database from before the replay has USDT "Paper" accounts: the demo opens USD ones
    beside them instead of failing on its USD instruments."""
    old = get_user_model().objects.create_user("follower1", "f1@example.com", "demo-follower")
    usdt = account_open(owner=old, name="Paper", base_currency="USDT", deposit=Decimal(1000))

    load()

    usd = Account.objects.get(owner=old, base_currency="USD")
    assert usd.name == "Paper USD" and usd.pk != usdt.pk
    assert CopySubscription.objects.filter(account=usd).count() == 2
    assert not CopySubscription.objects.filter(account=usdt).exists()
