"""Log lines about a trade carry its ids: the audit trail's lines name them, and the context a
task binds reaches every other line; JSON lines in production, readable text elsewhere."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest

from execution.services.fills import fill_record
from execution.services.orders import order_place
from strategies.services import strategy_create
from tests.factories import make_account, make_instrument, make_user
from tradingsite.logs import (
    JsonLineFormatter,
    TextFormatter,
    TradeIdsFilter,
    trade_ids_bind,
    trade_ids_bound,
)
from tradingsite.trade_ids import trade_ids_of


@pytest.fixture
def trade(db):
    trader = make_user("logger")
    make_instrument("BTC-USDT", mark="20000")
    account = make_account(trader, deposit=Decimal(100_000))
    strategy = strategy_create(
        owner_id=trader.pk, name="logged", kind="sma_crossover", account_id=account.pk,
        symbols=["BTC-USDT"], interval="1m", config={"fast_window": 1, "slow_window": 2},
    )  # fmt: skip
    return account, strategy


def place(account, strategy):
    return order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
        quantity="0.1", price="19990", strategy_id=strategy.pk, submit=False,
    )  # fmt: skip


def as_json(record: logging.LogRecord) -> dict[str, str]:
    TradeIdsFilter().filter(record)
    line: dict[str, str] = json.loads(JsonLineFormatter().format(record))
    return line


def test_a_placed_orders_log_line_carries_its_order_account_and_strategy_ids(trade, caplog):
    account, strategy = trade
    caplog.set_level(logging.INFO, logger="execution.audit")

    order = place(account, strategy)

    (created,) = [r for r in caplog.records if "order_created" in r.getMessage()]
    line = as_json(created)
    assert line["order_id"] == str(order.pk)
    assert line["account_id"] == str(account.pk)
    assert line["strategy_id"] == str(strategy.pk)
    assert line["name"] == "execution.audit" and line["level"] == "INFO"
    assert "buy 0.1 BTC-USDT limit @ 19990" in line["message"]


def test_a_refused_order_is_logged_against_its_account(trade, caplog):
    account, strategy = trade
    caplog.set_level(logging.INFO, logger="execution.audit")

    with pytest.raises(Exception, match="balance|value|size"):
        order_place(
            account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
            quantity="100", price="19990", strategy_id=strategy.pk, submit=False,
        )  # fmt: skip

    (refused,) = [r for r in caplog.records if "order_refused" in r.getMessage()]
    assert as_json(refused)["account_id"] == str(account.pk)


def test_the_context_of_a_task_reaches_every_line_and_leaves_with_it():
    logger = logging.getLogger("anything.at.all")
    inside = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "venue slow", (), None)
    outside = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "venue slow", (), None)
    own = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "x", (), None,
                            extra={"order_id": "mine"})  # fmt: skip

    with trade_ids_bound(order_id="abc", account_id=7, strategy_id=None):
        TradeIdsFilter().filter(inside)
        TradeIdsFilter().filter(own)
    TradeIdsFilter().filter(outside)

    assert (inside.order_id, inside.account_id) == ("abc", "7")
    assert not hasattr(inside, "strategy_id")  # None is not bound
    assert not hasattr(outside, "order_id")
    assert own.order_id == "mine" and own.account_id == "7"  # the record's own id wins
    with pytest.raises(ValueError, match="not a trade id field: password"):
        trade_ids_bind(password="x")


def test_text_lines_end_with_the_ids_and_json_lines_hold_them_as_fields():
    record = logging.LogRecord("execution.audit", logging.INFO, __file__, 1, "filled", (), None)
    record.order_id, record.account_id = "o1", "3"

    text = TextFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    line = json.loads(JsonLineFormatter().format(record))

    assert text == "INFO execution.audit: filled [order_id=o1 account_id=3]"
    assert {k: line[k] for k in ("message", "order_id", "account_id")} == {
        "message": "filled", "order_id": "o1", "account_id": "3",
    }  # fmt: skip


def test_a_tasks_arguments_name_its_trade(trade):
    account, strategy = trade
    order = place(account, strategy)
    fill = fill_record(order_id=order.pk, venue_trade_id="t1", quantity="0.1", price="19990")
    expected = {"order_id": order.pk, "account_id": account.pk, "strategy_id": strategy.pk}

    assert trade_ids_of(fill_id=fill.pk) == expected
    assert trade_ids_of(order_id=order.pk) == expected
    assert trade_ids_of(account_id=account.pk) == {"account_id": account.pk}
    assert trade_ids_of(order_id="00000000-0000-0000-0000-000000000000") == {
        "order_id": "00000000-0000-0000-0000-000000000000"
    }
