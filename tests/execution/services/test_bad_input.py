"""Every service refuses bad input with a message that says what is wrong, and writes nothing."""

from decimal import Decimal as D

import pytest
from django.apps import apps

from execution.domain.errors import DomainError, RuleViolation
from execution.services.accounts import account_open, funds_deposit
from execution.services.fills import fill_record
from execution.services.orders import order_cancel, order_place, order_reconcile, order_submit
from execution.services.positions import position_exits_set, positions_mark

MISSING_ORDER = "00000000-0000-0000-0000-000000000000"


def row_counts():
    return {m.__name__: m.objects.count() for m in apps.get_app_config("execution").get_models()}


@pytest.fixture
def unsent_order(account, btc):
    return order_place(
        account_id=account.pk,
        symbol="BTC-USDT",
        side="buy",
        order_type="limit",
        quantity="0.1",
        price="20000",
        submit=False,
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda u, a: account_open(owner=u, name=" ", deposit="1"), "an account needs a name"),
        (lambda u, a: account_open(owner=u, name="X", mode="demo"), "account mode 'demo' is not"),
        (lambda u, a: account_open(owner=u, name="X", base_currency="US-D"), "is not a currency"),
        (lambda u, a: account_open(owner=u, name="X", deposit="-5"), "cannot be negative"),
        (lambda u, a: account_open(owner=u, name="Main"), "already have an account named"),
        (lambda u, a: funds_deposit(account_id=a.pk, amount="0"), "non-zero amount"),
        (lambda u, a: funds_deposit(account_id=a.pk, amount="ten"), "'ten' is not a number"),
        (lambda u, a: funds_deposit(account_id=999_999, amount="1"), "account 999999 does not"),
        (lambda u, a: positions_mark(symbol="BTC-USDT", mark_price="-1"), "greater than zero"),
        (lambda u, a: positions_mark(symbol="NOPE-USDT", mark_price="1"), "unknown instrument"),
        (lambda u, a: positions_mark(symbol="BTC-USDT", mark_price=1.5), "not float"),
        (
            lambda u, a: position_exits_set(position_id=999_999, stop_loss_price="1"),
            "position 999999 does not exist",
        ),
        (lambda u, a: order_cancel(order_id=MISSING_ORDER), "does not exist"),
        (lambda u, a: order_cancel(order_id="not-a-uuid"), "does not exist"),
        (lambda u, a: order_submit(order_id=MISSING_ORDER), "does not exist"),
        (lambda u, a: order_reconcile(order_id=MISSING_ORDER), "does not exist"),
        (
            lambda u, a: fill_record(
                order_id="not-a-uuid", venue_trade_id="t", quantity="1", price="1"
            ),
            "does not exist",
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_no_rows(user, account, btc, call, message):
    before = row_counts()
    with pytest.raises((DomainError, RuleViolation), match=message):
        call(user, account)
    assert row_counts() == before


def test_a_flat_position_has_nothing_to_protect(account, btc, unsent_order):
    fill_record(order_id=unsent_order.pk, venue_trade_id="t1", quantity="0.1", price="20000")
    sell = order_place(
        account_id=account.pk,
        symbol="BTC-USDT",
        side="sell",
        order_type="market",
        quantity="0.1",
        submit=False,
    )
    fill_record(order_id=sell.pk, venue_trade_id="t2", quantity="0.1", price="20000")
    position = sell.account.positions.get()
    before = row_counts()
    with pytest.raises(DomainError, match="a flat position has nothing to protect"):
        position_exits_set(position_id=position.pk, stop_loss_price="19000")
    assert row_counts() == before


def test_an_amount_beyond_the_stored_precision_is_not_silently_rounded(account, btc):
    before = row_counts()
    with pytest.raises(RuleViolation, match="lot size"):
        order_place(
            account_id=account.pk,
            symbol="BTC-USDT",
            side="buy",
            order_type="market",
            quantity=D("0.1000000000000000001"),
            submit=False,
        )
    assert row_counts() == before
