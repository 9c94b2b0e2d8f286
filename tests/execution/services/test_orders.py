from decimal import Decimal as D

import pytest

from execution.domain.errors import DomainError, OrderRefused, RuleViolation
from execution.models import AccountDay, EventKind, ExecutionEvent, Order, Position
from execution.services.accounts import funds_deposit
from execution.services.fills import fill_record
from execution.services.orders import order_amend, order_cancel, order_place
from execution.services.positions import position_exits_set, positions_mark
from tests.factories import make_account, make_user


def place(account, **kw):
    args = {
        "account_id": account.pk,
        "symbol": "BTC-USDT",
        "side": "buy",
        "order_type": "limit",
        "quantity": "0.5",
        "price": "20000",
        "submit": False,
    }
    args.update(kw)
    return order_place(**args)


def counts():
    return Order.objects.count(), ExecutionEvent.objects.count(), Position.objects.count()


def test_a_valid_order_is_saved_new_with_its_audit_event(account, btc):
    order = place(account, client_order_id="abc123")
    assert order.status == "new" and order.client_order_id == "abc123"
    assert order.sent_at is None
    event = ExecutionEvent.objects.get(kind=EventKind.ORDER_CREATED)
    assert event.order_id == order.pk and event.actor == "system"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantity": "0"}, "quantity must be greater than zero"),
        ({"quantity": "-0.5"}, "quantity must be greater than zero"),
        ({"price": "20000.05"}, "price 20000.05 is not a multiple of BTC-USDT's tick size 0.1"),
        ({"symbol": "DOGE-USDT"}, "unknown instrument 'DOGE-USDT'"),
        ({"account_id": 999_999}, "account 999999 does not exist"),
        ({"side": "long"}, "side 'long' is not one of: buy, sell"),
        ({"order_type": "market"}, "a market order takes no limit price"),
        ({"client_order_id": "has-dash"}, "client order id must be 1 to 32 letters or digits"),
        ({"quantity": "abc"}, "quantity: 'abc' is not a number"),
    ],
)
def test_bad_input_is_refused_and_writes_no_rows(account, btc, kwargs, message):
    before = counts()
    with pytest.raises((DomainError, RuleViolation), match=message):
        place(account, **kwargs)
    assert counts() == before


def test_a_risk_refusal_lists_every_check_and_writes_one_event(account, btc):
    before = counts()
    with pytest.raises(OrderRefused) as caught:
        place(account, quantity="10", price="22000")
    assert [v.rule for v in caught.value.violations] == [
        "price_deviation",
        "max_position_value",
        "insufficient_balance",
    ]
    orders, events, positions = counts()
    assert (orders, positions) == before[::2] and events == before[1] + 1
    event = ExecutionEvent.objects.latest("id")
    assert event.kind == EventKind.ORDER_REFUSED and len(event.data["violations"]) == 3


def test_retrying_with_the_same_client_order_id_returns_the_same_order(account, btc):
    first = place(account, client_order_id="retry1")
    assert place(account, client_order_id="retry1").pk == first.pk
    assert Order.objects.count() == 1
    with pytest.raises(DomainError, match="already used by a different order"):
        place(account, client_order_id="retry1", quantity="0.6")


def test_another_users_account_is_not_reachable_by_client_order_id(account, btc):
    place(account, client_order_id="mine1")
    other = make_account(make_user("other"))
    with pytest.raises(DomainError, match="already used"):
        place(other, client_order_id="mine1")


def test_amending_a_filled_order_is_refused_and_writes_nothing(account, btc):
    order = place(account, order_type="market", price=None, quantity="0.5")
    fill_record(order_id=order.pk, venue_trade_id="t1", quantity="0.5", price="20000")
    before = counts()
    with pytest.raises(DomainError, match=f"order {order.client_order_id} is filled and cannot"):
        order_amend(order_id=order.pk, quantity="1")
    assert counts() == before


def test_amend_and_cancel_an_unsent_order(account, btc):
    order = place(account)
    order = order_amend(order_id=order.pk, price="20100", quantity="0.7")
    assert (order.price, order.quantity) == (D(20100), D("0.7"))
    with pytest.raises(RuleViolation, match="tick size"):
        order_amend(order_id=order.pk, price="20100.01")
    order = order_cancel(order_id=order.pk)
    assert order.status == "cancelled"
    with pytest.raises(DomainError, match="is cancelled and cannot be cancelled"):
        order_cancel(order_id=order.pk)


def test_daily_loss_limit_breach_blocks_new_risk_until_reduced(account, btc):
    order = place(account, order_type="market", price=None, quantity="2.4")
    fill_record(order_id=order.pk, venue_trade_id="t1", quantity="2.4", price="20000")
    positions_mark(symbol="BTC-USDT", mark_price="15000")  # -12,000: more than 10% of 100,000
    day = AccountDay.objects.get(account=account)
    assert day.loss_limit_breached_at is not None
    assert ExecutionEvent.objects.filter(kind=EventKind.DAILY_LOSS_LIMIT_BREACHED).count() == 1
    with pytest.raises(OrderRefused, match="daily loss limit"):
        place(account, order_type="market", price=None, quantity="0.1")
    reducing = place(account, order_type="market", price=None, side="sell", quantity="1")
    assert reducing.status == "new"


def test_withdrawal_cannot_exceed_available_cash(account, btc):
    with pytest.raises(DomainError, match="cannot withdraw 200000 USDT"):
        funds_deposit(account_id=account.pk, amount="-200000")
    balance = funds_deposit(account_id=account.pk, amount="-1000")
    assert balance.deposited == D(99_000)


def test_stop_loss_places_one_reduce_only_exit(account, btc):
    order = place(account, order_type="market", price=None, quantity="1")
    fill_record(order_id=order.pk, venue_trade_id="t1", quantity="1", price="20000")
    position = Position.objects.get()
    with pytest.raises(DomainError, match="stop loss 20500.0 must be below"):
        position_exits_set(position_id=position.pk, stop_loss_price="20500.0")
    position_exits_set(position_id=position.pk, stop_loss_price="19500", take_profit_price="21000")
    assert positions_mark(symbol="BTC-USDT", mark_price="19600") == []
    exits = positions_mark(symbol="BTC-USDT", mark_price="19400")
    assert len(exits) == 1 and exits[0].reduce_only and exits[0].side == "sell"
    assert exits[0].quantity == 1
    assert positions_mark(symbol="BTC-USDT", mark_price="19300") == []  # same exit, not another
    assert Order.objects.filter(reduce_only=True).count() == 1


def test_the_first_order_of_a_new_venue_fills_against_known_books(
    account, btc, django_capture_on_commit_callbacks
):
    from execution.services.marketdata import paper_book_update
    from execution.services.venues import paper_reset

    paper_reset()  # a fresh process: books arrive before any account's venue exists
    paper_book_update(
        symbol="BTC-USDT",
        bids=[(D("19999.9"), D("1")), (D("19999.8"), D("2"))],
        asks=[(D("20000.1"), D("1")), (D("20000.2"), D("2"))],
    )
    with django_capture_on_commit_callbacks(execute=True):
        order = place(account, order_type="market", price=None, quantity="1.5", submit=True)
    order.refresh_from_db()
    assert order.status == "filled"
    assert order.filled_notional == D("30000.2")  # 1 at 20000.1 and 0.5 at 20000.2
    paper_reset()


def test_account_days_open_once_per_account_at_current_equity(account, btc):
    from execution.services.accounts import account_days_open

    other = make_account(make_user("second"), deposit=D(500))
    assert account_days_open() == 2
    assert account_days_open() == 0  # already open today
    days = dict(AccountDay.objects.values_list("account_id", "start_equity"))
    assert days == {account.pk: D(100_000), other.pk: D(500)}
