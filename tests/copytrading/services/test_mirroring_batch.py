"""The batched fan-out: what one chunk writes (the same rows on PostgreSQL's COPY path and
SQLite's ORM path), sending once, the unsent sweep after a crash between saving and sending,
and two workers delivering the same leader fill at once (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import connection, connections
from django.utils import timezone

from copytrading.models import CopySubscription, CopyTrade
from copytrading.services.mirroring import (
    MirrorResult,
    copies_save,
    leader_fill,
    mirror_fill,
    orders_send,
)
from copytrading.services.subscriptions import subscription_create
from execution.models import Account, EventKind, ExecutionEvent, Order
from execution.services.orders import orders_unsent_submit
from tests.copytrading.conftest import leader_trade
from tests.factories import make_account, make_user


def subscribe(strategy, name: str, **terms):
    account = make_account(make_user(name), deposit=D(10_000))
    return subscription_create(
        follower_id=account.owner_id, account_id=account.pk, strategy_id=strategy.pk,
        terms=terms or {"allocation_percent": "50"},
    )  # fmt: skip


def chunk_ids(leader) -> list[int]:
    return list(
        CopySubscription.objects.filter(strategy_id=leader.strategy_id)
        .order_by("account_id", "pk")
        .values_list("pk", flat=True)
    )


def test_one_chunk_writes_an_order_event_and_copy_trade_per_copy_and_a_reason_per_skip(leader):
    fill = leader_trade(leader, "buy", "1", "20000", "L1")  # before anyone follows
    copied = subscribe(leader, "copied")
    tiny = subscribe(leader, "tiny", mode="fixed_amount", fixed_amount="3",
                     allocation_percent="10")  # fmt: skip
    refused = subscribe(leader, "refused")
    Account.objects.filter(pk=refused.account_id).update(max_order_value=D(500))
    copy = leader_fill(fill.pk)
    assert copy is not None
    result = MirrorResult()

    saved = copies_save(leader=copy, subscription_ids=chunk_ids(copy), result=result)

    assert [o.client_order_id for o in saved] == [f"cp{copied.pk}f{fill.pk}"]
    order = Order.objects.exclude(account_id=leader.account_id).get()
    assert (order.account_id, order.side, order.order_type, order.time_in_force) == (
        copied.account_id, "buy", "limit", "ioc",
    )  # fmt: skip
    assert (order.quantity, order.price, order.status, order.sent_at) == (
        D("0.05"), D("20100"), "new", None,
    )  # fmt: skip
    assert order.pk == saved[0].pk and order.filled_quantity == 0 and not order.reduce_only
    trades = {t.subscription_id: t for t in CopyTrade.objects.all()}
    mirrored = trades[copied.pk]
    assert (mirrored.follower_order_id, mirrored.quantity) == (order.pk, D("0.05"))
    assert mirrored.intended_quantity == D("0.05") and not mirrored.skipped_reason
    assert trades[tiny.pk].follower_order_id is None and trades[tiny.pk].quantity == 0
    assert "below BTC-USDT's minimum notional" in trades[tiny.pk].skipped_reason
    assert trades[refused.pk].follower_order_id is None
    assert trades[refused.pk].skipped_reason.startswith(
        "refused by pre-trade risk: max_order_value"
    )
    assert all(t.leader_fill_id == fill.pk and t.leader_price == D(20000) for t in trades.values())
    events = ExecutionEvent.objects.filter(actor="copytrading").order_by("id")
    assert [(e.kind, e.account_id, e.order_id) for e in events] == [
        (EventKind.ORDER_CREATED, copied.account_id, order.pk),
        (EventKind.ORDER_REFUSED, refused.account_id, None),
    ]
    assert events[0].data == {
        "subscription": copied.pk, "leader_fill": fill.pk,
        "client_order_id": order.client_order_id, "quantity": "0.0500", "price": "20100.0",
    }  # fmt: skip
    assert events[0].message == f"buy 0.0500 BTC-USDT limit ioc @ 20100.0 (copy of fill {fill.pk})"
    assert events[1].data == {"subscription": refused.pk, "leader_fill": fill.pk}
    assert result.skipped == 2 and result.orders == saved

    # The same chunk again (a second delivery) writes nothing.
    assert copies_save(leader=copy, subscription_ids=chunk_ids(copy), result=result) == []
    assert CopyTrade.objects.count() == 3
    assert Order.objects.exclude(account_id=leader.account_id).count() == 1


def test_orders_are_sent_once_and_a_crash_before_sending_leaves_them_to_the_sweep(leader):
    fill = leader_trade(leader, "buy", "1", "20000", "L1")
    for n in range(3):
        subscribe(leader, f"follower{n}")
    copy = leader_fill(fill.pk)
    assert copy is not None
    saved = copies_save(leader=copy, subscription_ids=chunk_ids(copy), result=MirrorResult())
    # The process died here: saved, never marked sent. The sweep sends them, once each.
    assert orders_unsent_submit(now=timezone.now() + timedelta(seconds=11)) == 3
    assert [o.status for o in Order.objects.filter(pk__in=[c.pk for c in saved])] == ["filled"] * 3
    # A late orders_send of the same chunk finds nothing left to send.
    assert orders_send(saved) == []
    assert ExecutionEvent.objects.filter(kind=EventKind.ORDER_SENT).count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_delivering_one_fill_at_once_make_exactly_one_order_per_follower(leader):
    assert connection.vendor == "postgresql"
    fill = leader_trade(leader, "buy", "1", "20000", "L1")  # before anyone follows
    followers = [subscribe(leader, f"follower{n}") for n in range(24)]
    start = threading.Barrier(2)
    results: list[MirrorResult] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            start.wait(timeout=30)
            results.append(mirror_fill(fill_id=fill.pk, chunk_size=5))
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=deliver) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(w.is_alive() for w in workers), "a worker is stuck (deadlock?)"
    assert not errors, errors
    assert sum(len(r.orders) for r in results) == len(followers)
    orders = Order.objects.filter(account_id__in=[s.account_id for s in followers])
    assert orders.count() == len(followers)
    assert sorted(o.account_id for o in orders) == sorted(s.account_id for s in followers)
    assert {(o.quantity, o.status) for o in orders} == {(D("0.05"), "filled")}
    assert CopyTrade.objects.filter(leader_fill=fill).count() == len(followers)
    sent = ExecutionEvent.objects.filter(kind=EventKind.ORDER_SENT, order__in=orders)
    assert sent.count() == len(followers)  # each sent once
    # A third delivery, after both: nothing more.
    assert mirror_fill(fill_id=fill.pk).orders == []
    assert Order.objects.filter(account_id__in=[s.account_id for s in followers]).count() == 24
