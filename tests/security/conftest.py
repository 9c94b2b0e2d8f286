"""A world where one user (alice) owns one of everything, and another (bob) who must reach none
of it. Built through the services, as users would build it; the few rows no service writes
without a worker (a finished backtest, a comparison) are saved as the task would save them.

Every piece of alice's data that a page or an API could show carries a MARKER, a string found
nowhere else: a response to bob that contains one has leaked alice's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.services import api_token_create
from copytrading.models import CopyTrade
from copytrading.services.subscriptions import subscription_create
from copytrading.tasks import mirror_fill_task
from execution.services.algos import parent_order_place
from execution.services.breakers import account_kill_switch_set
from execution.services.fills import fill_record
from execution.services.orders import order_place
from execution.services.venues import paper_reset
from mlmodels.services import training_run_start
from strategies.models import Backtest, BacktestComparison, BacktestStatus
from strategies.services import signal_record, strategy_create
from tests.factories import btc_book, make_account, make_instrument, make_user

MARK = "Q7ZK"  # in every marker: a leak is found by searching a response for it
MARKERS = {
    "account": f"alice-account-{MARK}",
    "open_order": f"aliceopen{MARK}",
    "filled_order": f"alicefilled{MARK}",
    "strategy": f"alice-strategy-{MARK}",
    "kill_reason": f"alice-kill-reason-{MARK}",
    "signal": f"alice-signal-{MARK}",
    "backtest": f"alice-backtest-{MARK}",
    "api_token": f"alice-token-{MARK}",
}


@dataclass
class World:
    alice: Any
    bob: Any
    leader: Any
    ids: dict[str, int | str] = field(default_factory=dict)  # kind -> one of alice's ids
    owned: dict[str, set[str]] = field(default_factory=dict)  # kind -> all alice's ids


@pytest.fixture
def clean_state(settings):
    """Throttle counters live in the cache and paper venues in the process: start afresh; no
    rate limit, so a refusal seen is the one under test, never a 429."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None},
    }
    cache.clear()
    paper_reset()
    yield
    cache.clear()
    paper_reset()


def token_client(user: Any) -> APIClient:
    """Signed in by an API token, got as a client gets one: from the token endpoint with the
    user's password (tests.factories.make_user's)."""
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": f"pw-{user.username}"},
        format="json",
    )
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def session_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def build_world(*, with_training: bool = True) -> World:
    """Alice owns an account, orders (one open, one filled), a fill, a position, a parent order,
    a breaker event, a private strategy with a signal, a backtest, a comparison, a copy
    subscription with a copy trade, a training run and a named API token. Bob has an account
    only (and the token his test client signs in with)."""
    instrument = make_instrument("BTC-USDT", mark="20000")
    btc_book(datetime.now(UTC), depth=Decimal(50))
    alice, bob, leader = make_user("alice"), make_user("bob"), make_user("leader")
    account = make_account(alice, name=MARKERS["account"])
    make_account(bob, name="bob-account")
    leader_account = make_account(leader, name="leader-account")
    world = World(alice=alice, bob=bob, leader=leader)

    open_order = order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
        quantity="0.1", price="19000", client_order_id=MARKERS["open_order"], submit=False,
    )  # fmt: skip
    filled = order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
        quantity="0.2", price="20000", client_order_id=MARKERS["filled_order"], submit=False,
    )  # fmt: skip
    fill = fill_record(order_id=filled.pk, venue_trade_id="alice-t1", quantity="0.2", price="20000")
    parent = parent_order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", quantity="0.05",
        algorithm="twap", params={"duration": 600, "num_slices": 5}, actor=f"user:{alice.pk}",
    )  # fmt: skip
    strategy = strategy_create(
        owner_id=alice.pk, name=MARKERS["strategy"], kind="sma_crossover",
        account_id=account.pk, symbols=["BTC-USDT"], interval="1h",
        config={"fast_window": 5, "slow_window": 30}, visibility="private",
    )  # fmt: skip
    signal = signal_record(
        strategy_id=strategy.pk, symbol="BTC-USDT", at=datetime.now(UTC) - timedelta(minutes=5),
        side="buy", target_position=0.5, metadata={"note": MARKERS["signal"]},
    )  # fmt: skip
    start = datetime(2024, 1, 1, tzinfo=UTC)
    comparison = BacktestComparison.objects.create(
        owner=alice, symbol="BTC-USDT", interval="1h", start=start, end=start + timedelta(days=1)
    )
    backtest = Backtest.objects.create(
        owner=alice, strategy=strategy, kind="sma_crossover", config=strategy.config,
        symbol="BTC-USDT", interval="1h", status=BacktestStatus.FAILED, comparison=comparison,
        message=MARKERS["backtest"], error=MARKERS["backtest"],
    )  # fmt: skip
    public = strategy_create(
        owner_id=leader.pk, name="leader-public", kind="sma_crossover",
        account_id=leader_account.pk, symbols=["BTC-USDT"], interval="1h",
        config={"fast_window": 5, "slow_window": 30}, visibility="public",
    )  # fmt: skip
    subscription = subscription_create(
        follower_id=alice.pk, account_id=account.pk, strategy_id=public.pk
    )
    # The leader trades and the fill is mirrored to alice's subscription (the task its commit
    # sends, run here directly: a test's transaction never commits).
    leader_order = order_place(
        account_id=leader_account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
        quantity="1", price="20000", strategy_id=public.pk, submit=False,
    )  # fmt: skip
    leader_fill = fill_record(
        order_id=leader_order.pk, venue_trade_id="leader-t1", quantity="1", price="20000"
    )
    mirror_fill_task(leader_fill.pk)
    copy_trades = list(
        CopyTrade.objects.filter(subscription=subscription).values_list("pk", flat=True)
    )
    assert copy_trades, "the leader's fill was not copied to alice's subscription"
    account_kill_switch_set(
        account_id=account.pk, on=True, reason=MARKERS["kill_reason"], actor=f"user:{alice.pk}"
    )
    account_kill_switch_set(
        account_id=account.pk, on=False, reason=MARKERS["kill_reason"], actor=f"user:{alice.pk}"
    )
    api_token = api_token_create(user_id=alice.pk, name=MARKERS["api_token"]).token
    ids: dict[str, int | str] = {
        "api_token": api_token.pk,
        "account": account.pk,
        "order": str(open_order.pk),
        "filled_order": str(filled.pk),
        "fill": fill.pk,
        "parent_order": parent.pk,
        "strategy": strategy.pk,
        "signal": signal.pk,
        "backtest": backtest.pk,
        "comparison": comparison.pk,
        "subscription": subscription.pk,
        "copy_trade": copy_trades[0],
    }
    if with_training:
        call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())
        run = training_run_start(
            name="alice-model", symbol="EURUSD", interval="1h",
            training_config={"folds": 2}, feature_config={}, requested_by_id=alice.pk,
        )  # fmt: skip
        ids["training_run"] = str(run.pk)
    world.ids = ids
    owned: dict[str, set[Any]] = {
        "order": {open_order.pk, filled.pk, *parent.children.values_list("pk", flat=True)},
        "account": {account.pk},
        "fill": {fill.pk},
        "parent_order": {parent.pk},
        "strategy": {strategy.pk},
        "signal": {signal.pk},
        "backtest": {backtest.pk},
        "comparison": {comparison.pk},
        "subscription": {subscription.pk},
        "copy_trade": set(copy_trades),
        "position": set(account.positions.values_list("pk", flat=True)),
        "api_token": {api_token.pk},
    }
    world.owned = {kind: {str(pk) for pk in pks} for kind, pks in owned.items()}
    assert instrument.symbol == "BTC-USDT"
    return world


@pytest.fixture
def world(db) -> World:
    return build_world()
