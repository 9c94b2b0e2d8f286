"""Copy trading against the real database: a public strategy with its own account, and
followers with paper accounts, all built through the services."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from execution.models import Fill
from execution.services.fills import fill_record
from execution.services.orders import order_place
from execution.services.venues import paper_reset
from strategies.services import strategy_create
from tests.factories import btc_book, make_account, make_instrument, make_user


@pytest.fixture(autouse=True)
def _clean_market():
    paper_reset()
    yield
    paper_reset()


@pytest.fixture
def market(db):
    instrument = make_instrument("BTC-USDT", mark="20000")
    btc_book(datetime.now(UTC), depth=Decimal(50))
    return instrument


def make_strategy(owner, account, *, name: str = "leader", visibility: str = "public"):
    return strategy_create(
        owner_id=owner.pk, name=name, kind="sma_crossover", account_id=account.pk,
        symbols=["BTC-USDT"], interval="1h", config={"fast_window": 5, "slow_window": 30},
        visibility=visibility,
    )  # fmt: skip


@pytest.fixture
def leader(market):
    owner = make_user("leader")
    account = make_account(owner, deposit=Decimal(100_000))
    return make_strategy(owner, account)


def leader_trade(strategy, side: str, quantity: str, price: str, trade_id: str) -> Fill:
    """A fill of the leader's own strategy order, committed (the signal goes out on commit)."""
    order = order_place(
        account_id=strategy.account_id, symbol="BTC-USDT", side=side, order_type="limit",
        quantity=quantity, price=price, strategy_id=strategy.pk, submit=False,
    )  # fmt: skip
    return fill_record(order_id=order.pk, venue_trade_id=trade_id, quantity=quantity, price=price)
