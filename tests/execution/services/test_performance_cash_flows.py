"""An account's performance over days of trading, deposits and withdrawals: returns are time
weighted, so moving cash in or out is neither a gain nor a loss.

The clock is set by hand, so that the daily rows, fills, marks and deposits happen when the
story says; every service reads it through django.utils.timezone.now.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from execution import selectors
from execution.services.accounts import account_days_open, funds_deposit
from execution.services.fills import fill_record
from execution.services.orders import order_place
from execution.services.positions import positions_mark
from tests.factories import make_account, make_instrument, make_user

DAY_1 = datetime(2024, 5, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = DAY_1

    def at(self, days: int, hours: int = 0) -> None:
        self.now = DAY_1 + timedelta(days=days, hours=hours)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


@pytest.fixture
def account(db, clock):
    clock.at(0, 10)
    make_instrument("BTC-USDT", mark="20000")
    return make_account(make_user("flows"), deposit=D(100_000))


def trade(account, side: str, price: str, trade_id: str) -> None:
    order = order_place(
        account_id=account.pk, symbol="BTC-USDT", side=side, order_type="limit",
        quantity="1", price=price, submit=False,
    )  # fmt: skip
    fill_record(order_id=order.pk, venue_trade_id=trade_id, quantity="1", price=price)


def test_a_deposit_with_no_trading_shows_no_return(account, clock):
    clock.at(1)
    account_days_open()  # day 2 opens at 100,000
    clock.at(1, 12)
    funds_deposit(account_id=account.pk, amount="50000")
    clock.at(2)
    account_days_open()  # day 3 opens at 150,000
    clock.at(2, 6)

    performance = selectors.account_performance(account)

    assert [equity for _, equity in performance.equity_curve] == [100_000, 150_000, 150_000]
    assert performance.cash_flows == [(DAY_1 + timedelta(days=1, hours=12), D(50_000))]
    assert performance.curve is not None
    assert performance.curve.total_return == 0 and performance.curve.max_drawdown.depth == 0


def test_a_known_sequence_of_trades_and_a_deposit_gives_the_exact_return(account, clock):
    clock.at(1)
    account_days_open()  # 100,000
    clock.at(1, 9)
    trade(account, "buy", "20000", "b1")
    clock.at(1, 15)
    positions_mark(symbol="BTC-USDT", mark_price="22000")
    clock.at(2)
    account_days_open()  # 102,000: +2% on day 2
    clock.at(2, 12)
    funds_deposit(account_id=account.pk, amount="51000")
    clock.at(3)
    account_days_open()  # 153,000: the deposit, no gain
    clock.at(3, 9)
    positions_mark(symbol="BTC-USDT", mark_price="37300")
    trade(account, "sell", "37300", "s1")  # +15,300 on 153,000: +10%
    clock.at(3, 18)

    performance = selectors.account_performance(account)

    assert [equity for _, equity in performance.equity_curve] == [
        100_000,
        102_000,
        153_000,
        168_300,
    ]
    assert performance.curve is not None
    assert performance.curve.total_return == D("0.122")  # 1.02 x 1.00 x 1.10 - 1
    assert performance.net_pnl == D(17_300) and performance.trade_count == 1


def test_a_range_after_the_deposit_has_no_flow_and_a_withdrawal_is_no_loss(account, clock):
    clock.at(1)
    account_days_open()
    clock.at(1, 12)
    funds_deposit(account_id=account.pk, amount="-40000")
    clock.at(2)
    account_days_open()  # 60,000
    clock.at(2, 1)

    whole = selectors.account_performance(account)
    later = selectors.account_performance(account, start_date=(DAY_1 + timedelta(days=2)).date())

    assert whole.curve is not None and whole.curve.total_return == 0
    assert whole.cash_flows == [(DAY_1 + timedelta(days=1, hours=12), D(-40_000))]
    assert later.cash_flows == [] and [e for _, e in later.equity_curve] == [60_000, 60_000]
