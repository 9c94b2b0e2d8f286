"""One user can neither see nor change another's strategies, signals or backtests. Every
operation of /api/v1/strategies/ is listed in tests/execution/api/test_isolation.py
(STRATEGIES_OPERATIONS); here each is tried by an intruder: 404 or an empty list, nothing
changed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from strategies.models import Strategy
from strategies.services import backtest_start, signal_record
from tests.execution.api.conftest import clean_state, client_for  # noqa: F401 (autouse fixture)
from tests.factories import make_account, make_user
from tests.strategies.api.conftest import BASE, body, row_counts
from tests.strategies.services.conftest import make_strategy


@pytest.fixture
def victim(account, btc):
    strategy = make_strategy(account)
    signal_record(
        strategy_id=strategy.pk, symbol="BTC-USDT", at=datetime(2024, 1, 1, tzinfo=UTC),
        side="buy", target_position=1.0,
    )  # fmt: skip
    backtest = backtest_start(owner_id=account.owner_id, strategy_id=strategy.pk)
    return {"strategy": strategy, "backtest": backtest}


@pytest.fixture
def intruder(db):
    user = make_user("intruder")
    return {"api": client_for(user), "account": make_account(user, name="Theirs")}


def test_an_intruder_sees_none_of_the_traders_strategies_signals_or_backtests(victim, intruder):
    api = intruder["api"]
    strategy, backtest = victim["strategy"], victim["backtest"]
    for path in ("", "signals/", "backtests/", "comparisons/"):
        assert api.get(BASE + path).data["count"] == 0
    assert api.get(BASE + "signals/", {"strategy": strategy.pk}).data["count"] == 0
    paths = (
        f"{strategy.pk}/",
        f"backtests/{backtest.pk}/",
        f"backtests/{backtest.pk}/result/",
        f"backtests/{backtest.pk}/report/",
        f"backtests/{backtest.pk}/report/?format=json",
    )
    for path in paths:
        response = api.get(BASE + path)
        assert response.status_code == 404
        assert strategy.name not in response.content.decode()


def test_an_intruder_changes_none_of_the_traders_strategies(victim, intruder):
    api = intruder["api"]
    strategy = victim["strategy"]
    before = row_counts()
    url = f"{BASE}{strategy.pk}/"
    assert api.patch(url, {"name": "mine"}, format="json").status_code == 404
    assert api.delete(url).status_code == 404
    for verb in ("pause", "resume", "stop"):
        assert api.post(url + verb + "/").status_code == 404
    assert row_counts() == before
    saved = Strategy.objects.get(pk=strategy.pk)
    assert (saved.name, saved.status) == ("sma", "paused")


def test_an_intruder_can_neither_use_the_traders_account_nor_backtest_their_strategy(
    victim, intruder
):
    api = intruder["api"]
    before = row_counts()
    response = api.post(BASE, body(victim["strategy"].account, name="x"), format="json")
    assert response.status_code == 400 and "account" in response.json()["errors"]
    response = api.post(BASE + "backtests/", {"strategy": victim["strategy"].pk}, format="json")
    assert response.status_code == 400 and "strategy" in response.json()["errors"]
    assert row_counts() == before
