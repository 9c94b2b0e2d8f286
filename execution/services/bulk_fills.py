"""Recording the fills of many orders at once: a copy fan-out's IOC orders, answered together.

fills_record takes one order per transaction (a locking read, four statements, a commit):
about 7 ms an order, 70 s for the answers to a 10,000-follower fan-out. fills_record_bulk
records a batch of orders in one transaction of set-based statements: the orders locked in
id order, then their positions in id order (every writer takes an order before its
position, so a single fills_record waiting on one of these orders never holds a position
the batch wants), the trade ids already seen read in one query, every decision made by the
same pure domain functions in the same sequence as one call per order would, then one
statement each for the fills, the orders, the positions and the audit events.

The results are those of fills_record called once per order in batch order, to the last
Decimal (tests/copytrading/services/test_bulk_fills.py compares them): an order whose fill
is refused records none of its fills and stops no other order; a trade id seen before is a
no-op; the same notifications go out (an outbox message per fill, written with it and
published after commit).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from execution.domain.errors import DomainError
from execution.domain.fill_steps import fills_apply
from execution.domain.orders import TRANSITIONS, OrderStatus
from execution.domain.positions import PositionState
from execution.domain.values import DOMAIN_CONTEXT, QUANTUM, exact, quantize
from execution.models import EventKind, Fill, Order, Position
from execution.outbox import FILL_COMMITTED, GRACE, Message, messages_publish_on_commit
from execution.services.fills import FillInput, _Locked, fill_input, fills_record
from execution.services.notify import on_commit_broadcast, on_commit_pnl_push
from execution.services.orders import order_status_set
from execution.venues.base import VenueOrderReport


@dataclass(frozen=True, slots=True)
class OrderFills:
    """The executions a venue reported for one order."""

    order_id: UUID
    fills: Sequence[FillInput]


@dataclass(slots=True)
class BulkFills:
    """What a batch recorded: new fill ids by order (orders with nothing new are absent),
    and the orders whose fills were refused, with why."""

    recorded: dict[UUID, list[int]] = field(default_factory=dict)
    refused: dict[UUID, str] = field(default_factory=dict)


# The columns of fills' locking read (execution.services.fills._Locked), for many orders.
_READ_SQL = """
SELECT o.id, o.status, o.quantity, o.filled_quantity, o.filled_notional, o.side,
       o.client_order_id, o.account_id, o.parent_id, i.symbol, i.base_currency,
       i.quote_currency, i.lot_size, i.mark_price, i.marked_at, a.owner_id, p.id, p.quantity,
       p.cost_basis, p.realized_pnl, p.fees_paid, p.mark_price, p.marked_at, p.leverage,
       p.opened_at
FROM execution_order o
JOIN execution_instrument i ON i.id = o.instrument_id
JOIN execution_account a ON a.id = o.account_id
JOIN execution_position p ON p.account_id = o.account_id AND p.instrument_id = o.instrument_id
WHERE o.id = ANY(%s::uuid[])
"""
_LOCK_ORDERS = "SELECT id FROM execution_order WHERE id = ANY(%s::uuid[]) ORDER BY id FOR UPDATE"
_LOCK_POSITIONS = """
SELECT p.id FROM execution_position p
JOIN execution_order o ON o.account_id = p.account_id AND o.instrument_id = p.instrument_id
WHERE o.id = ANY(%s::uuid[]) ORDER BY p.id FOR UPDATE OF p
"""
_SEEN_SQL = """
SELECT order_id, venue_trade_id, id FROM execution_fill
WHERE order_id = ANY(%s::uuid[]) AND venue_trade_id = ANY(%s::text[])
"""
_INSERT_FILLS = """
INSERT INTO execution_fill
    (order_id, venue_trade_id, quantity, price, fee, fee_currency, liquidity, filled_at,
     recorded_at)
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::numeric[], %s::numeric[], %s::numeric[],
                     %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])
RETURNING order_id, venue_trade_id, id
"""
_UPDATE_ORDERS = """
UPDATE execution_order AS o
SET filled_quantity = v.filled_quantity, filled_notional = v.filled_notional,
    average_fill_price = v.average_fill_price, status = v.status, updated_at = %s
FROM unnest(%s::uuid[], %s::numeric[], %s::numeric[], %s::numeric[], %s::text[])
    AS v(id, filled_quantity, filled_notional, average_fill_price, status)
WHERE o.id = v.id
"""
_UPDATE_POSITIONS = """
UPDATE execution_position AS p
SET quantity = v.quantity, cost_basis = v.cost_basis,
    average_entry_price = v.average_entry_price, realized_pnl = v.realized_pnl,
    fees_paid = v.fees_paid, unrealized_pnl = v.unrealized_pnl, mark_price = v.mark_price,
    marked_at = v.marked_at, margin = v.margin, opened_at = v.opened_at,
    stop_loss_price = CASE WHEN v.exits_cleared THEN NULL ELSE p.stop_loss_price END,
    take_profit_price = CASE WHEN v.exits_cleared THEN NULL ELSE p.take_profit_price END,
    updated_at = %s
FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[],
            %s::numeric[], %s::numeric[], %s::numeric[], %s::timestamptz[], %s::numeric[],
            %s::timestamptz[], %s::boolean[])
    AS v(id, quantity, cost_basis, average_entry_price, realized_pnl, fees_paid,
         unrealized_pnl, mark_price, marked_at, margin, opened_at, exits_cleared)
WHERE p.id = v.id
"""
# Each new fill's FILL_COMMITTED message (execution.outbox), in the fills' transaction.
_INSERT_MESSAGES = """
INSERT INTO execution_outboxmessage
    (topic, object_id, payload, created_at, next_attempt_at, attempts, last_error)
SELECT %s, v.fill_id, v.payload::jsonb, %s, %s, 0, ''
FROM unnest(%s::bigint[], %s::text[]) AS v(fill_id, payload)
RETURNING id, object_id
"""
_EVENT_COLUMNS = ("created_at", "kind", "actor", "account_id", "order_id", "message", "data")


@dataclass(slots=True)
class _PositionWork:
    """A position as the batch moves it: the state after each order's fills so far."""

    locked: _Locked  # as read (mark, leverage): the first order's read of the position
    state: PositionState
    opened_at: datetime | None
    exits_cleared: bool = False


@dataclass(slots=True)
class _OrderWork:
    order_id: UUID
    locked: _Locked
    status: OrderStatus
    filled_quantity: Decimal
    filled_notional: Decimal
    fills: list[list[Any]]  # execution_fill rows
    events: list[tuple[Any, ...]]
    pushes: list[dict[str, Any]]


def order_reports_apply(
    *, reports: Sequence[tuple[UUID, VenueOrderReport]], actor: str = "venue"
) -> dict[UUID, str]:
    """order_report_apply for many orders: every report's fills in one fills_record_bulk,
    the venue order ids in one statement, then the status moves a report makes beyond its
    fills (an IOC's unfilled rest cancelled) one order_status_set each, as one call per
    order would. Returns the orders whose report was refused, with why; the others are
    applied whatever became of those."""
    refused: dict[UUID, str] = {}
    batch = []
    for order_id, report in reports:
        try:
            batch.append(OrderFills(order_id, [fill_input(f) for f in report.fills]))
        except DomainError as error:
            refused[order_id] = str(error)
    refused.update(fills_record_bulk(batch=batch, actor=actor).refused)
    applied = [(order_id, report) for order_id, report in reports if order_id not in refused]
    named = [(str(order_id), r.venue_order_id) for order_id, r in applied if r.venue_order_id]
    if named and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_NAME_ORDERS, [timezone.now(), *map(list, zip(*named, strict=True))])
    elif named:
        for order_pk, venue_order_id in named:
            Order.objects.filter(pk=order_pk).exclude(venue_order_id=venue_order_id).update(
                venue_order_id=venue_order_id, updated_at=timezone.now()
            )
    statuses = dict(
        Order.objects.filter(pk__in=[order_id for order_id, _ in applied]).values_list(
            "pk", "status"
        )
    )
    for order_id, report in applied:
        current, target = OrderStatus(statuses[order_id]), report.status
        if target in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED):
            target = OrderStatus.SUBMITTED  # fill statuses follow from recorded fills
        if target == current or target not in TRANSITIONS[current]:
            continue  # a report never moves an order backwards
        try:
            order_status_set(
                order_id=order_id, status=target, reason=report.reason or "", actor=actor
            )
        except DomainError as error:
            refused[order_id] = str(error)
    return refused


_NAME_ORDERS = """
UPDATE execution_order AS o SET venue_order_id = v.venue_order_id, updated_at = %s
FROM unnest(%s::uuid[], %s::text[]) AS v(id, venue_order_id)
WHERE o.id = v.id AND o.venue_order_id <> v.venue_order_id
"""


def fills_record_bulk(*, batch: Sequence[OrderFills], actor: str = "venue") -> BulkFills:
    """Record the fills of many orders in one transaction, as fills_record would one order
    at a time in batch order. An order given twice has its fills taken together."""
    merged: dict[UUID, list[FillInput]] = {}
    for item in batch:
        merged.setdefault(item.order_id, []).extend(item.fills)
    merged = {order_id: fills for order_id, fills in merged.items() if fills}
    if not merged:
        return BulkFills()
    if connection.vendor != "postgresql":
        return _one_by_one(merged, actor)
    with transaction.atomic():
        return _record(merged, actor)


def _one_by_one(merged: dict[UUID, list[FillInput]], actor: str) -> BulkFills:
    """The embedded default (SQLite, one writer at a time): fills_record per order."""
    result = BulkFills()
    for order_id, fills in merged.items():
        try:
            with transaction.atomic():
                seen = set(
                    Fill.objects.filter(
                        order_id=order_id, venue_trade_id__in=[f.venue_trade_id for f in fills]
                    ).values_list("pk", flat=True)
                )
                recorded = fills_record(order_id=order_id, fills=fills, actor=actor)
        except DomainError as error:
            result.refused[order_id] = str(error)
            continue
        new = list(dict.fromkeys(f.pk for f in recorded if f.pk not in seen))
        if new:
            result.recorded[order_id] = new
    return result


def _record(merged: dict[UUID, list[FillInput]], actor: str) -> BulkFills:
    result = BulkFills()
    ids = [str(order_id) for order_id in merged]
    _positions_ensure(ids)
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_ORDERS, [ids])
        cursor.execute(_LOCK_POSITIONS, [ids])
        cursor.execute(_READ_SQL, [ids])
        locked = {row[0]: _Locked.from_row(row[1:]) for row in cursor.fetchall()}
        trade_ids = list({f.venue_trade_id for fills in merged.values() for f in fills})
        cursor.execute(_SEEN_SQL, [ids, trade_ids])
        seen = {(order_id, trade_id) for order_id, trade_id, _ in cursor.fetchall()}

    now = timezone.now()
    positions: dict[int, _PositionWork] = {}
    work: list[_OrderWork] = []
    for order_id, fills in merged.items():
        order = locked.get(order_id)
        if order is None:
            result.refused[order_id] = f"order {order_id} does not exist"
            continue
        new: dict[str, FillInput] = {}
        for fill in fills:
            if (order_id, fill.venue_trade_id) not in seen:
                new.setdefault(fill.venue_trade_id, fill)
        if not new:
            continue
        position = positions.get(order.position_id) or _PositionWork(
            locked=order, state=order.position, opened_at=order.opened_at
        )
        try:
            done, moved = _apply(order_id, order, position, list(new.values()), now, actor)
        except DomainError as error:  # this order's fills only, as its own transaction
            result.refused[order_id] = str(error)
            continue
        positions[order.position_id] = moved
        work.append(done)
    if work:
        result.recorded = _write(work, positions, now)
    return result


def _positions_ensure(order_ids: list[str]) -> None:
    """Open the flat position rows the orders' fills need (two writers at once is fine)."""
    pairs = set(Order.objects.filter(pk__in=order_ids).values_list("account_id", "instrument_id"))
    have = set(
        Position.objects.filter(
            account_id__in={a for a, _ in pairs}, instrument_id__in={i for _, i in pairs}
        ).values_list("account_id", "instrument_id")
    )
    missing = pairs - have
    if missing:
        Position.objects.bulk_create(
            [Position(account_id=a, instrument_id=i) for a, i in sorted(missing)],
            ignore_conflicts=True,
        )


def _apply(
    order_id: UUID,
    order: _Locked,
    position: _PositionWork,
    fills: list[FillInput],
    now: datetime,
    actor: str,
) -> tuple[_OrderWork, _PositionWork]:
    """One order's new fills through the pure domain, as fills_record applies them; raises
    DomainError (and changes nothing) when one is refused."""
    applied = fills_apply(
        fills=fills, side=order.side, quantity=order.quantity,
        base_currency=order.base_currency, quote_currency=order.quote_currency,
        lot_size=order.lot_size, status=order.status, filled_quantity=order.filled_quantity,
        filled_notional=order.filled_notional, position=position.state,
        opened_at=position.opened_at, exits_cleared=position.exits_cleared, now=now,
    )  # fmt: skip
    done = _OrderWork(
        order_id, order, applied.status, applied.filled_quantity, applied.filled_notional,
        [], [], [],
    )  # fmt: skip
    for step in applied.steps:
        fill, after = step.fill, step.effect.after
        done.fills.append([
            str(order_id), fill.venue_trade_id, fill.quantity, fill.price, fill.fee,
            step.fee_currency, fill.liquidity.value, step.filled_at, now,
        ])  # fmt: skip
        done.events.append((
            now, EventKind.FILL_RECORDED.value, actor, order.account_id, order_id,
            f"{order.side} {fill.quantity} {order.symbol} @ {fill.price} ({fill.liquidity}); "
            f"order {step.status_from} -> {step.status_to}; position {after.quantity}",
            json.dumps({
                "venue_trade_id": fill.venue_trade_id, "quantity": fill.quantity,
                "price": fill.price, "fee": fill.fee, "fee_currency": step.fee_currency,
                "realized_pnl": step.effect.realized_pnl, "position": after.quantity,
                "status_from": step.status_from, "status_to": step.status_to,
            }, cls=DjangoJSONEncoder),
        ))  # fmt: skip
        done.pushes.append({
            "order_id": str(order_id), "client_order_id": order.client_order_id,
            "symbol": order.symbol, "side": order.side, "quantity": str(fill.quantity),
            "price": str(fill.price), "status": step.status_to,
            "position": str(after.quantity),
        })  # fmt: skip
    moved = _PositionWork(
        position.locked, _as_stored(applied.position), applied.opened_at, applied.exits_cleared
    )
    return done, moved


def _as_stored(state: PositionState) -> PositionState:
    """The position as the next order's fills_record would read it back: its columns hold
    18 decimal places, rounded half away from zero (PostgreSQL's numeric). Carrying more
    places from one order to the next moved a realized P&L in its 19th."""

    def stored(value: Decimal) -> Decimal:
        return value.quantize(QUANTUM, rounding=ROUND_HALF_UP, context=DOMAIN_CONTEXT)

    return PositionState(
        quantity=stored(state.quantity), cost_basis=stored(state.cost_basis),
        realized_pnl=stored(state.realized_pnl), fees_paid=stored(state.fees_paid),
    )  # fmt: skip


def _write(
    work: list[_OrderWork], positions: dict[int, _PositionWork], now: datetime
) -> dict[UUID, list[int]]:
    """The batch's fills, orders, positions and events in four statements; the
    notifications after commit. Returns the new fill ids by order."""
    fill_rows = [row for done in work for row in done.fills]
    order_rows = []
    for done in work:
        with exact():
            average = quantize(done.filled_notional / done.filled_quantity)
        order_rows.append((
            str(done.order_id), done.filled_quantity, done.filled_notional, average,
            done.status.value,
        ))  # fmt: skip
    position_rows = []
    for position_id, moved in positions.items():
        read, state = moved.locked, moved.state
        # A new position starts at the instrument's latest mark.
        mark = read.position_mark or read.instrument_mark
        marked_at = read.position_marked_at if read.position_mark else read.instrument_marked_at
        with exact():
            unrealized = state.unrealized_pnl(mark) if mark is not None else Decimal(0)
            margin = quantize(abs(state.cost_basis) / read.leverage)
        position_rows.append((
            position_id, state.quantity, state.cost_basis, state.average_entry_price,
            state.realized_pnl, state.fees_paid, unrealized, mark, marked_at, margin,
            moved.opened_at, moved.exits_cleared,
        ))  # fmt: skip
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.execute(_INSERT_FILLS, [list(column) for column in zip(*fill_rows, strict=True)])
        inserted = cursor.fetchall()
        cursor.execute(
            _UPDATE_ORDERS, [now, *(list(column) for column in zip(*order_rows, strict=True))]
        )
        cursor.execute(
            _UPDATE_POSITIONS,
            [now, *(list(column) for column in zip(*position_rows, strict=True))],
        )
        columns = ", ".join(_EVENT_COLUMNS)
        with cursor.copy(f"COPY execution_executionevent ({columns}) FROM STDIN") as copy:
            for done in work:
                for event in done.events:
                    copy.write_row(event)

        new_ids: dict[tuple[UUID, str], int] = {
            (order_id, trade_id): pk for order_id, trade_id, pk in inserted
        }
        recorded: dict[UUID, list[int]] = {}
        news: dict[int, dict[str, Any]] = {}  # by fill id, as fills_record words them
        for done in work:
            order = done.locked
            ids = recorded[done.order_id] = [new_ids[(done.order_id, row[1])] for row in done.fills]
            about = {
                "order_id": str(done.order_id), "account_id": order.account_id,
                "parent_id": order.parent_id,
            }  # fmt: skip
            news.update((fill_id, about) for fill_id in ids)
        cursor.execute(
            _INSERT_MESSAGES,
            [FILL_COMMITTED, now, now + GRACE, list(news),
             [json.dumps(about, cls=DjangoJSONEncoder) for about in news.values()]],
        )  # fmt: skip
        message_ids = {fill_id: message_id for message_id, fill_id in cursor.fetchall()}

    # Published after commit in fill order (one UPDATE marks them sent); a broker down then
    # leaves them to the relay, never lost.
    messages_publish_on_commit([
        Message(message_ids[fill_id], FILL_COMMITTED, fill_id, about)
        for fill_id, about in news.items()
    ])  # fmt: skip
    accounts: dict[int, None] = {}
    for done in work:
        order = done.locked
        for payload in done.pushes:
            on_commit_broadcast(owner_id=order.owner_id, kind="fill", payload=payload)
        accounts[order.account_id] = None
    for account_id in accounts:
        on_commit_pnl_push(account_id=account_id)  # valued after the commit, coalesced
    return recorded
