"""Deposits and withdrawals move cash, not P&L: the daily loss limit does not see them."""

from decimal import Decimal as D

import pytest

from execution.domain.errors import OrderRefused
from execution.models import AccountDay, EventKind, ExecutionEvent
from execution.services.accounts import funds_deposit
from execution.services.fills import fill_record
from execution.services.orders import order_place
from execution.services.positions import positions_mark

pytestmark = pytest.mark.django_db


def buy(account, quantity="0.1", **kwargs):
    return order_place(account_id=account.pk, symbol="BTC-USDT", side="buy",
                       order_type="limit", price="20000", quantity=quantity, submit=False,
                       **kwargs)  # fmt: skip


def test_a_withdrawal_is_not_a_loss(account, btc):
    buy(account)  # opens the day at 100,000
    funds_deposit(account_id=account.pk, amount="-20000")  # a fifth of the equity leaves
    day = AccountDay.objects.get(account=account)
    assert (day.start_equity, day.deposits, day.loss_baseline) == (
        D(100_000), D(-20_000), D(80_000),
    )  # fmt: skip
    buy(account)  # the 10% daily loss limit is not breached by moving cash out
    assert not ExecutionEvent.objects.filter(kind=EventKind.DAILY_LOSS_LIMIT_BREACHED).exists()


def test_a_deposit_does_not_hide_a_loss(account, btc):
    order = buy(account, quantity="2")
    fill_record(order_id=order.pk, venue_trade_id="t1", quantity="2", price="20000")
    funds_deposit(account_id=account.pk, amount="50000")
    # -16,000: 10.7% of the 150,000 the day counts from (without the deposit it would be 16%,
    # and with the deposit taken as a gain, equity would be up on the day: no breach at all).
    positions_mark(symbol="BTC-USDT", mark_price="12000", actor="test")
    event = ExecutionEvent.objects.get(kind=EventKind.DAILY_LOSS_LIMIT_BREACHED)
    assert D(event.data["deposits"]) == D(50_000)
    with pytest.raises(OrderRefused, match="daily loss limit"):
        buy(account)


def test_the_first_deposit_of_a_day_opens_it_at_the_equity_before(account):
    funds_deposit(account_id=account.pk, amount="5000")
    day = AccountDay.objects.get(account=account)
    assert (day.start_equity, day.deposits) == (D(100_000), D(5_000))
