"""Running execution algorithms live: parent orders whose children go through order_place.

Each change of a parent follows one cycle, so that a restart loses nothing and repeats nothing:
lock its row, let the pure algorithm decide (execution.domain.algos), save the new state with
the actions still to carry out (the outbox) in the same transaction, then carry them out and
empty the outbox. A worker that dies after saving leaves the outbox for the next step to carry
out; carrying an action out twice is harmless, because a child's client order id derives from
the parent and its number and order_place returns the existing order for a repeat.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from execution.domain import algos
from execution.domain.errors import DomainError, OrderRefused
from execution.domain.orders import OrderStatus
from execution.domain.quality import ArrivalBook, BookLevels
from execution.domain.values import Side, to_decimal
from execution.models import Account, EventKind, Instrument, Order, ParentOrder
from execution.services.events import event_append
from execution.services.orders import order_cancel, order_place
from execution.services.venues import Book, paper_book

# A step may settle children at once (a market child fills inside order_place) and so make
# the parent due again; this bounds the follow-up steps of one call.
MAX_ROUNDS = 20
# Levels of each side kept as the parent's arrival book, for the market-order baseline of its
# execution quality: a bounded row. A parent larger than these levels hold has no baseline.
ARRIVAL_BOOK_LEVELS = 50


def market_view(symbol: str, now: datetime) -> algos.MarketView:
    """The market an algorithm sees: the paper book's touch (both sides None without one)."""
    market = paper_book(symbol)
    return _view(None if market is None else market[0], now)


def _view(book: Book | None, now: datetime) -> algos.MarketView:
    if book is None or not book[1] or not book[2]:
        return algos.MarketView(timestamp=now, best_bid=None, best_ask=None)
    _, bids, asks, at = book
    return algos.MarketView(timestamp=at, best_bid=bids[0][0], best_ask=asks[0][0])


def _arrival_book(book: Book | None) -> dict[str, Any] | None:
    """The parent's arrival book as stored, or None without a usable book: a snapshot the
    quality domain refuses (crossed, unsorted) measures nothing, and must not stop the order."""
    if book is None:
        return None
    _, bids, asks, at = book
    try:
        levels = BookLevels(bids=tuple(bids), asks=tuple(asks)).top(ARRIVAL_BOOK_LEVELS)
    except DomainError:
        return None
    return ArrivalBook(at=at, book=levels).to_dict()


def parent_order_place(
    *,
    account_id: int,
    symbol: str,
    side: str,
    quantity: object,
    algorithm: str,
    params: Mapping[str, Any] | None = None,
    strategy_id: int | None = None,
    signal_at: datetime | None = None,
    actor: str = "system",
    now: datetime | None = None,
) -> ParentOrder:
    """Start working ``quantity`` with an algorithm; its first children may go out at once.

    ``signal_at`` is when the signal that asked for the parent arrived; None for a parent
    placed directly (by hand, through the API), whose signal-to-fill times then count from its
    placement (``created_at``). The latest paper book of the instrument is stored with the
    parent (``arrival_book``): the algorithm starts from it and its execution quality is
    measured against a market order walking it.

    Bad input (unknown instrument or algorithm, a parameter out of range, a size off the lot,
    a signal time after ``now``) raises DomainError and writes nothing. Children are
    risk-checked one by one by order_place; one refused stops the parent.
    """
    now = now or timezone.now()
    if signal_at is not None and timezone.is_naive(signal_at):
        raise DomainError(f"signal time {signal_at.isoformat()} has no time zone")
    if signal_at is not None and signal_at > now:
        raise DomainError(
            f"signal time {signal_at.isoformat()} is after the placement at {now.isoformat()}"
        )
    instrument = Instrument.objects.filter(symbol=symbol, is_active=True).first()
    if instrument is None:
        raise DomainError(f"unknown instrument {symbol!r}")
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        raise DomainError(f"account {account_id} does not exist")
    if instrument.quote_currency != account.base_currency:
        raise DomainError(
            f"{symbol} is quoted in {instrument.quote_currency}, account {account.name!r} holds "
            f"{account.base_currency}"
        )
    try:
        parent_side = Side(side)
    except ValueError:
        raise DomainError(f"side {side!r} is not one of: buy, sell") from None
    algorithm_config = algos.algorithm_from_config(algorithm, dict(params or {}))
    parent_id = uuid.uuid4().hex[:16]
    # One snapshot for both: the algorithm starts from the book it is measured against.
    market = paper_book(symbol)
    book = None if market is None else market[0]
    step = algorithm_config.start(
        parent_id=parent_id,
        spec=instrument.spec(),
        side=parent_side,
        quantity=to_decimal(quantity, field="quantity"),
        now=now,
        market=_view(book, now),
    )
    with transaction.atomic():
        row = ParentOrder(
            id=parent_id,
            account=account,
            instrument=instrument,
            strategy_id=strategy_id,
            side=parent_side,
            quantity=step.parent.quantity,
            algorithm=algorithm_config.kind,
            params=algorithm_config.params(),
            arrival_book=_arrival_book(book),
            signal_at=signal_at,
        )
        _save(row, step, actor=actor, created=True)
    return parent_order_run(parent_id=parent_id, actor=actor, now=now)


def parent_order_run(
    *, parent_id: str, actor: str = "scheduler", now: datetime | None = None
) -> ParentOrder:
    """Bring a parent up to date: carry out what is pending, apply its children's reports,
    and take what is due at ``now``, until nothing more happens."""
    now = now or timezone.now()
    for _ in range(MAX_ROUNDS):
        _outbox_carry_out(parent_id, actor=actor)
        with transaction.atomic():
            row = _locked(parent_id)
            state = algos.ParentOrder.from_dict(row.state)
            step = algos.Step(state)
            for report in _child_reports(row, state):
                step = _merge(step, step.parent.on_child_report(report, now))
            due = step.parent.next_due_at
            if step.parent.ending is None and (due is None or due <= now or step.actions):
                step = _merge(
                    step, step.parent.on_tick(now, market_view(row.instrument.symbol, now))
                )
            if step.parent == state and not step.actions:
                return row
            _save(row, step, actor=actor)
    return _locked(parent_id)


def parent_order_cancel(*, parent_id: str, actor: str = "system") -> ParentOrder:
    """Stop a parent: cancel its working children and send nothing more."""
    now = timezone.now()
    with transaction.atomic():
        row = _locked(parent_id)
        step = algos.ParentOrder.from_dict(row.state).cancel(now)
        _save(row, step, actor=actor)
    return parent_order_run(parent_id=parent_id, actor=actor, now=now)


def parent_orders_due(*, now: datetime | None = None) -> int:
    """Run every working parent that is due (the scheduler calls this); returns how many."""
    now = now or timezone.now()
    due = list(
        ParentOrder.objects.filter(
            status__in=[algos.ParentStatus.WORKING, algos.ParentStatus.PARTIALLY_FILLED],
            next_due_at__lte=now,
        ).values_list("pk", flat=True)
    )
    pending = (
        ParentOrder.objects.exclude(outbox=[]).exclude(pk__in=due).values_list("pk", flat=True)
    )
    for parent_id in [*due, *pending]:
        parent_order_run(parent_id=parent_id, now=now)
    return len(due)


# -- the cycle --------------------------------------------------------------------------------


def _locked(parent_id: str) -> ParentOrder:
    row = (
        ParentOrder.objects.select_for_update(of=("self",))
        .select_related("instrument", "account")
        .filter(pk=parent_id)
        .first()
    )
    if row is None:
        raise DomainError(f"parent order {parent_id} does not exist")
    return row


def _merge(first: algos.Step, second: algos.Step) -> algos.Step:
    return algos.Step(second.parent, first.actions + second.actions)


def _save(row: ParentOrder, step: algos.Step, *, actor: str, created: bool = False) -> None:
    """Store the step's state and append its actions to the outbox (one transaction)."""
    state = step.parent
    previous_status = row.status
    row.state = state.to_dict()
    row.outbox = [*row.outbox, *(_action_dict(a) for a in step.actions if _is_sent(a))]
    row.status = state.status
    row.next_due_at = state.next_due_at
    row.filled_quantity = state.filled_quantity
    row.average_fill_price = state.average_price
    if state.ending is not None:
        row.reason = state.ending.reason
    row.save()
    finished = [a for a in step.actions if isinstance(a, algos.Finish)]
    if created:
        event_append(
            kind=EventKind.PARENT_ORDER_CREATED, actor=actor, account=row.account,
            message=f"{row.algorithm} {row.side} {row.quantity} {row.instrument.symbol}",
            data={"parent_id": row.pk, "params": row.params},
        )  # fmt: skip
    elif finished or previous_status != row.status:
        event_append(
            kind=EventKind.PARENT_ORDER_ENDED if finished else EventKind.PARENT_ORDER_STEPPED,
            actor=actor, account=row.account,
            message=f"parent {row.pk}: {previous_status} -> {row.status}"
            + (f": {finished[0].reason}" if finished else ""),
            data={"parent_id": row.pk, "filled_quantity": row.filled_quantity},
        )  # fmt: skip


def _is_sent(action: algos.Action) -> bool:
    return isinstance(action, algos.PlaceChild | algos.CancelChild)


def _action_dict(action: algos.Action) -> dict[str, Any]:
    if isinstance(action, algos.CancelChild):
        return {"cancel": action.client_order_id}
    assert isinstance(action, algos.PlaceChild)
    request = action.request
    return {
        "place": action.client_order_id,
        "order_type": request.order_type,
        "quantity": request.quantity,
        "price": request.price,
        "stop_price": request.stop_price,
        "time_in_force": request.time_in_force,
    }


def _outbox_carry_out(parent_id: str, *, actor: str) -> None:
    """Carry out the pending actions, then drop those done from the outbox."""
    row = ParentOrder.objects.select_related("instrument").get(pk=parent_id)
    done = list(row.outbox)
    for action in done:
        if "place" in action:
            _place_child(row, action, actor=f"algo:{row.pk}")
        else:
            _cancel_child(action["cancel"], actor=f"algo:{row.pk}")
    if done:
        # Drop exactly the actions carried out: another worker may have appended new ones
        # (or carried out these too) meanwhile, and new ones must stay.
        with transaction.atomic():
            locked = _locked(parent_id)
            locked.outbox = [action for action in locked.outbox if action not in done]
            locked.save(update_fields=["outbox", "updated_at"])


def _place_child(row: ParentOrder, action: Mapping[str, Any], *, actor: str) -> None:
    try:
        order_place(
            account_id=row.account_id, symbol=row.instrument.symbol, side=row.side,
            order_type=action["order_type"], quantity=action["quantity"],
            price=action["price"], stop_price=action["stop_price"],
            time_in_force=action["time_in_force"], client_order_id=action["place"],
            parent_id=row.pk, strategy_id=row.strategy_id, actor=actor,
        )  # fmt: skip
    except (DomainError, OrderRefused) as error:
        # The child never existed: the parent hears of it as a rejection (and stops).
        event_append(
            kind=EventKind.PARENT_ORDER_STEPPED, actor=actor, account=row.account,
            message=f"child {action['place']} of parent {row.pk} was refused: {error}",
            data={"parent_id": row.pk, "client_order_id": action["place"]},
        )  # fmt: skip


def _cancel_child(client_order_id: str, *, actor: str) -> None:
    order = Order.objects.filter(client_order_id=client_order_id).first()
    if order is None or not OrderStatus(order.status).is_open:
        return  # never placed, or already over: its report tells the parent
    with contextlib.suppress(DomainError):  # a fill crossed the cancel: its report tells
        order_cancel(order_id=order.pk, actor=actor)


def _child_reports(row: ParentOrder, state: algos.ParentOrder) -> list[algos.ChildReport]:
    """Reports for children whose order rows moved on since the state last heard of them."""
    pending = {a["place"] for a in row.outbox if "place" in a}
    orders = {o.client_order_id: o for o in row.children.all()}
    reports = []
    for child in state.children:
        order = orders.get(child.client_order_id)
        if order is None:
            if child.client_order_id not in pending and child.is_working:
                # Placing it was refused: no row will ever come.
                reports.append(algos.ChildReport(child.client_order_id, OrderStatus.REJECTED,
                                                 Decimal(0)))  # fmt: skip
            continue
        report = algos.ChildReport(
            client_order_id=order.client_order_id,
            status=OrderStatus(order.status),
            filled_quantity=order.filled_quantity,
            average_price=order.average_fill_price if order.filled_quantity else None,
        )
        if (report.status, report.filled_quantity) != (child.status, child.filled_quantity):
            reports.append(report)
    return reports
