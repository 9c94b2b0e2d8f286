"""A restart while orders change state at the venue: reconciliation leaves 0 differences.

A live account's orders rest at the exchange (the fake OKX at the network edge, with OKX's
formats; ccxt, the ccxt venue and the services are real). The process stops: nothing it held
in memory survives (its exchange clients, the paper books). While it is down the exchange
fills some orders in one or several trades, fills others in part, cancels some, and fills
the order whose placement reply was lost. The restarted worker reconciles at start
(``execution.tasks.reconcile_at_start``, the worker_ready hook): every order's status and
fills, the positions and the balances are brought in line with the exchange. A second run
then finds nothing to do, and every order in the database says what the exchange says.
"""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest

from execution.models import Fill, Order
from execution.services.orders import order_place
from execution.services.reconciliation import account_reconcile
from execution.services.venues import live_venues_reset, paper_reset
from execution.tasks import poll_live_orders, reconcile_at_start
from tests.execution.live import conftest as live

# The live tests' fixtures: a live account on the fake OKX, its instrument and credentials.
btc, clean_venues, encryption_key = live.btc, live.clean_venues, live.encryption_key
live_account, okx = live.live_account, live.okx

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

RESTING = 12
# OKX order states as our statuses.
STATUS = {"live": "submitted", "partially_filled": "partially_filled", "filled": "filled",
          "canceled": "cancelled"}  # fmt: skip


def test_a_restart_while_orders_change_at_the_venue_leaves_no_difference(
    live_account, okx, figures
):
    for n in range(RESTING):
        order_place(
            account_id=live_account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
            quantity="0.050", price=str(19990 - n), client_order_id=f"rest{n}",
        )  # fmt: skip
    okx.lose_next_reply = True  # placed at the exchange, the answer lost: ours says unknown
    order_place(account_id=live_account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
                quantity="0.050", price="19980", client_order_id="lost")  # fmt: skip
    assert Order.objects.get(client_order_id="lost").status == "unknown"
    # Before the stop the poller records a partial fill and finds the lost order working.
    okx.fill("rest0", size="0.020", price="19990", fee="-0.4")
    assert poll_live_orders.delay().get() == 2

    live_venues_reset()  # the process stops: its exchange clients and books are gone
    paper_reset()
    okx.fill("rest0", size="0.030", price="19990", fee="-0.6")  # the rest of a partial fill
    for n in (1, 2):  # filled in one trade
        okx.fill(f"rest{n}", size="0.050", price=str(19990 - n), fee="-1")
    okx.fill("rest3", size="0.010", price="19987", fee="-0.2")  # filled in three trades
    okx.fill("rest3", size="0.015", price="19987", fee="-0.3")
    okx.fill("rest3", size="0.025", price="19987", fee="-0.5")
    for n in (4, 5, 6):  # partly filled, still working
        okx.fill(f"rest{n}", size="0.020", price=str(19990 - n), fee="-0.4")
    for n in (7, 8, 9):  # cancelled by the exchange
        okx.orders[f"rest{n}"].state = "canceled"
    okx.fill("lost", size="0.050", price="19980", fee="-1")
    venue_fills = sum(len(o.fills) for o in okx.orders.values())

    started = time.monotonic()
    reconcile_at_start(sender=None)  # what a worker runs when it starts (tasks run eagerly)
    at_start = time.monotonic() - started
    again = account_reconcile(account_id=live_account.pk)

    assert (again.settled, again.unknown_at_venue, again.corrections, again.deferred) == (
        (), (), (), None,
    )  # fmt: skip
    differences = []
    for cl_ord_id, venue_order in okx.orders.items():
        order = Order.objects.get(client_order_id=cl_ord_id)
        venue_filled = sum((D(f["fillSz"]) for f in venue_order.fills), D(0))
        if (order.status, order.filled_quantity) != (STATUS[venue_order.state], venue_filled):
            differences.append((cl_ord_id, order.status, order.filled_quantity, venue_order.state))
    assert differences == []
    assert Fill.objects.count() == venue_fills
    states = [o.state for o in okx.orders.values()]

    figures(
        f"{len(okx.orders)} orders at the exchange; while the process was down: "
        f"{states.count('filled')} filled, {states.count('partially_filled')} partly filled, "
        f"{states.count('canceled')} cancelled, {states.count('live')} untouched "
        f"({venue_fills} trades in all, one placement reply lost); reconciliation at start "
        f"{at_start:.2f} s; then {len(differences)} order differences, "
        f"{len(again.corrections)} position/balance corrections, fills {Fill.objects.count()} "
        f"= the exchange's {venue_fills}"
    )
