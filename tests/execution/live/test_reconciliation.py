"""account_reconcile against a live exchange (the fake OKX) and against the paper venue: orders
settled by client order id, venue orders we do not know reported once, and every position or
balance difference an audit event plus a correction that a second run does not repeat."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from celery.signals import worker_ready
from django.core.management import call_command

from execution.domain.orders import OrderRequest, OrderStatus
from execution.domain.positions import PositionState
from execution.models import Balance, EventKind, ExecutionEvent, Instrument, Order, Position
from execution.selectors import account_valuation
from execution.services.accounts import funds_deposit
from execution.services.fills import fill_record
from execution.services.marketdata import paper_book_update
from execution.services.orders import order_place, order_status_set
from execution.services.reconciliation import account_reconcile
from execution.services.venues import venue_for_account
from tests.execution.live.conftest import DEPOSIT
from tests.factories import make_account, make_user
from tests.okx_fake import TS, FakeOrder

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: tasks run on commit


def reconciliation_events(account, check=None):
    events = ExecutionEvent.objects.filter(account=account, kind=EventKind.RECONCILIATION)
    return events.filter(data__check=check) if check else events


def place(account, **kw):
    args = {"account_id": account.pk, "symbol": "BTC-USDT", "side": "buy",
            "order_type": "limit", "quantity": "0.1", "price": "19990"}  # fmt: skip
    args.update(kw)
    order = order_place(**args)
    order.refresh_from_db()
    return order


def nothing_to_do(result):
    return (result.settled, result.unknown_at_venue, result.corrections, result.deferred) == (
        (), (), (), None,
    )  # fmt: skip


# -- live ---------------------------------------------------------------------------------------


def test_reconciliation_settles_an_unknown_order_and_then_finds_the_books_equal(live_account, okx):
    okx.lose_next_reply = True
    order = place(live_account, client_order_id="unk1")
    assert order.status == "unknown"
    okx.fill("unk1", size="0.1", price="19990", fee="-0.4", fee_ccy="USDT")

    result = account_reconcile(account_id=live_account.pk)

    assert result.settled == ("unk1",)
    assert result.corrections == () and result.deferred is None
    order.refresh_from_db()
    assert order.status == "filled" and order.fills.count() == 1
    assert live_account.positions.get().quantity == D("0.1")
    assert len(okx.placed()) == 1
    assert nothing_to_do(account_reconcile(account_id=live_account.pk))


def test_an_order_open_at_the_exchange_that_we_do_not_know_is_reported_once(live_account, okx):
    okx.orders["ext1"] = FakeOrder(cl_ord_id="ext1", ord_id="700", inst_id="BTC-USDT",
                                   side="sell", ord_type="limit", sz="0.5", px="25000")  # fmt: skip

    result = account_reconcile(account_id=live_account.pk)

    assert result.unknown_at_venue == ("ext1",)
    (event,) = reconciliation_events(live_account, "venue_order")
    assert "ext1" in event.message and "no record here" in event.message
    assert event.data["venue_order_id"] == "700" and event.data["ours"] is None
    assert okx.posts("/api/v5/trade/cancel-order") == []  # left as it is
    assert nothing_to_do(account_reconcile(account_id=live_account.pk))
    assert reconciliation_events(live_account).count() == 1


def test_a_balance_difference_is_recorded_and_our_cash_takes_the_exchanges_figure(
    live_account, okx
):
    okx.set_balance("USDT", DEPOSIT + D("250.5"))  # a transfer in that we never saw

    result = account_reconcile(account_id=live_account.pk)

    (line,) = result.corrections
    assert "USDT balance" in line
    (event,) = reconciliation_events(live_account, "balance")
    assert event.data["difference"] == "250.5" and event.data["corrected"] == "ours"
    assert account_valuation(live_account).cash == DEPOSIT + D("250.5")
    assert nothing_to_do(account_reconcile(account_id=live_account.pk))
    assert reconciliation_events(live_account).count() == 1


def test_spot_holdings_at_the_exchange_become_our_position(live_account, okx):
    okx.set_balance("BTC", "0.05")  # bought or deposited outside the platform

    result = account_reconcile(account_id=live_account.pk)

    assert len(result.corrections) == 2  # the position, then the cash it did not cost us
    position = live_account.positions.get()
    assert position.quantity == D("0.05")
    assert position.average_entry_price == D(20000)  # no entry at the exchange: the mark
    event = reconciliation_events(live_account, "position").get()
    assert event.data["entry_from"] == "the mark" and event.instrument.symbol == "BTC-USDT"
    # Equity is what the exchange holds: its USDT plus the BTC at the mark.
    assert account_valuation(live_account).equity == DEPOSIT + D("0.05") * 20000
    assert nothing_to_do(account_reconcile(account_id=live_account.pk))


def test_a_spot_fee_charged_in_the_base_currency_shrinks_the_position_at_our_entry(
    live_account, okx
):
    place(live_account, client_order_id="basefee1")
    okx.fill("basefee1", size="0.1", price="19990", fee="-0.0001", fee_ccy="BTC")

    result = account_reconcile(account_id=live_account.pk)

    assert result.settled == ("basefee1",)
    (line,) = result.corrections  # the cash agrees once the position does
    assert line.startswith("BTC-USDT position: ours 0.1 at 19990, the exchange's 0.0999")
    position = live_account.positions.get()
    assert position.quantity == D("0.0999") == okx.balance("BTC")
    assert position.average_entry_price == D(19990)
    assert reconciliation_events(live_account, "position").get().data["entry_from"] == "ours"
    assert nothing_to_do(account_reconcile(account_id=live_account.pk))


def swap_position(pos, avg_px):
    return {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "mgnMode": "cross", "posSide": "net",
            "pos": pos, "avgPx": avg_px, "upl": "0", "lever": "10", "markPx": avg_px,
            "notionalUsd": "0", "imr": "0", "mmr": "0", "cTime": TS, "uTime": TS, "posId": "1",
            "realizedPnl": "0"}  # fmt: skip


def test_a_derivative_position_adopts_the_exchanges_quantity_and_entry(live_account, okx):
    Instrument.objects.create(symbol="BTC-USDT-SWAP", base_currency="BTC", quote_currency="USDT",
                              tick_size=D("0.1"), lot_size=D("0.01"), min_quantity=D("0.01"),
                              mark_price=D("42000"))  # fmt: skip
    okx.positions = [swap_position("-3", "42000.5")]
    okx.set_balance("USDT", DEPOSIT + D(7))  # moves with the swap's mark: not compared now

    result = account_reconcile(account_id=live_account.pk)

    (line,) = result.corrections  # the position only
    assert line.startswith("BTC-USDT-SWAP position")
    position = Position.objects.get(account=live_account, instrument__symbol="BTC-USDT-SWAP")
    assert (position.quantity, position.cost_basis) == (D(-3), D("-126001.5"))
    assert position.average_entry_price == D("42000.5")
    event = reconciliation_events(live_account, "position").get()
    assert event.data["entry_from"] == "the exchange's" and event.data["difference"] == "-3"
    assert Balance.objects.get(account=live_account).deposited == DEPOSIT
    assert nothing_to_do(account_reconcile(account_id=live_account.pk))

    okx.positions = []  # closed at the exchange: now the balance is compared as well
    closed = account_reconcile(account_id=live_account.pk)

    assert len(closed.corrections) == 2
    position.refresh_from_db()
    assert (position.quantity, position.cost_basis, position.average_entry_price) == (0, 0, None)
    assert account_valuation(live_account).cash == DEPOSIT + D(7)
    assert nothing_to_do(account_reconcile(account_id=live_account.pk))


def test_a_starting_worker_reconciles_live_accounts(live_account, okx):
    okx.lose_next_reply = True
    order = place(live_account, client_order_id="restart1")
    assert order.status == "unknown"

    worker_ready.send(sender=None)  # what a Celery worker sends once it is up

    order.refresh_from_db()
    assert order.status == "submitted"
    assert len(okx.placed()) == 1


def test_the_reconcile_command(live_account, okx, capsys):
    okx.set_balance("USDT", DEPOSIT + 1)
    call_command("reconcile")
    call_command("reconcile", account=live_account.pk)
    out = capsys.readouterr().out
    assert f"account {live_account.pk}: 0 order(s) settled" in out
    assert out.count("corrected: USDT balance") == 1


# -- paper --------------------------------------------------------------------------------------


@pytest.fixture
def paper(btc):
    account = make_account(make_user("paper"), deposit=D(100_000))
    venue_for_account(account)  # running before the first snapshot
    paper_book_update(symbol="BTC-USDT", bids=[(D("19999.9"), D(5))], asks=[(D("20000.1"), D(5))])
    return account


def test_a_paper_account_in_step_with_its_venue_has_nothing_to_reconcile(paper):
    place(paper, order_type="market", price=None, quantity="0.2")
    place(paper, quantity="0.1", price="19000")  # resting
    assert nothing_to_do(account_reconcile(account_id=paper.pk))


def test_paper_reconciliation_settles_an_unknown_order(paper):
    order = place(paper, client_order_id="ppunk1", price="19000")
    order_status_set(order_id=order.pk, status=OrderStatus.UNKNOWN, reason="lost, say")

    result = account_reconcile(account_id=paper.pk)

    assert result.settled == ("ppunk1",)
    order.refresh_from_db()
    assert order.status == "submitted"


def test_an_order_at_the_paper_venue_that_we_do_not_know_is_reported_once(paper, btc):
    request = OrderRequest.build(btc.spec(), side="sell", order_type="limit", quantity="0.3",
                                 price="21000")  # fmt: skip
    venue_for_account(paper).submit(request, client_order_id="ghost1")

    assert account_reconcile(account_id=paper.pk).unknown_at_venue == ("ghost1",)
    assert account_reconcile(account_id=paper.pk).unknown_at_venue == ()
    assert reconciliation_events(paper, "venue_order").count() == 1


def test_the_paper_venue_adopts_our_positions_and_cash(paper):
    venue = venue_for_account(paper)
    funds_deposit(account_id=paper.pk, amount="5000")  # the running paper venue never heard
    unsent = place(paper, client_order_id="manual1", submit=False)
    fill_record(order_id=unsent.pk, venue_trade_id="desk-1", quantity="0.1", price="19995")

    result = account_reconcile(account_id=paper.pk)

    assert len(result.corrections) == 2
    assert venue.positions()["BTC-USDT"] == PositionState(quantity=D("0.1"), cost_basis=D("1999.5"))
    assert venue.balances()["USDT"] == D(105_000)
    assert {e.data["corrected"] for e in reconciliation_events(paper)} == {"venue"}
    assert Balance.objects.get(account=paper).deposited == D(105_000)  # ours is the record
    assert Position.objects.get(account=paper).quantity == D("0.1")
    assert nothing_to_do(account_reconcile(account_id=paper.pk))
    assert Order.objects.filter(account=paper).count() == 1
