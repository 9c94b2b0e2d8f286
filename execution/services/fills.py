"""Recording fills: idempotent on (order, venue trade id), exact to the last decimal place.

The hottest write of the platform, so it talks SQL directly. One transaction records every
fill of one venue report (a market order walking a book arrives as one report with several
fills): a locking read of the order and its position plus the trade ids already seen, then
one statement each for the fills, the order, the position and the audit events. On
PostgreSQL each phase is one pipelined round trip. Every decision (status, overfill, position
accounting) is made by the pure domain. Measured in bench/bench_fills.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from execution.domain.errors import DomainError
from execution.domain.fill_steps import fills_apply
from execution.domain.orders import OrderStatus
from execution.domain.positions import PositionState
from execution.domain.values import Liquidity, Side, exact, quantize, to_decimal, to_positive
from execution.models import EventKind, Fill, Order, Position
from execution.outbox import (
    FILL_COMMITTED,
    Message,
    fill_messages_statement,
    messages_publish_on_commit,
)
from execution.services.notify import on_commit_broadcast, on_commit_pnl_push
from execution.venues.base import VenueFill


@dataclass(frozen=True, slots=True)
class FillInput:
    """One execution as a venue reports it, validated."""

    venue_trade_id: str
    quantity: Decimal
    price: Decimal
    fee: Decimal = Decimal(0)
    fee_currency: str | None = None  # None: the instrument's quote currency
    liquidity: Liquidity = Liquidity.TAKER
    filled_at: datetime | None = None  # None: now

    @classmethod
    def parse(
        cls,
        *,
        venue_trade_id: str,
        quantity: object,
        price: object,
        fee: object = Decimal(0),
        fee_currency: str | None = None,
        liquidity: Liquidity | str = Liquidity.TAKER,
        filled_at: datetime | None = None,
    ) -> FillInput:
        trade_id = (venue_trade_id or "").strip()
        if not trade_id:
            raise DomainError("a fill needs the venue's trade id")
        try:
            liquidity = Liquidity(liquidity)
        except ValueError:
            raise DomainError(f"liquidity {liquidity!r} is not maker or taker") from None
        return cls(
            venue_trade_id=trade_id,
            quantity=to_positive(quantity, field="fill quantity"),
            price=to_positive(price, field="fill price"),
            fee=to_decimal(fee, field="fee"),
            fee_currency=fee_currency,
            liquidity=liquidity,
            filled_at=filled_at,
        )


def fill_input(fill: VenueFill) -> FillInput:
    """A venue's fill report as input to fills_record (validated like any other input)."""
    return FillInput.parse(
        venue_trade_id=fill.venue_trade_id, quantity=fill.quantity, price=fill.price,
        fee=fill.fee, fee_currency=fill.fee_currency, liquidity=fill.liquidity,
        filled_at=fill.timestamp,
    )  # fmt: skip


def position_ensure(*, account_id: int, instrument_id: int) -> None:
    """Create the flat position row if it is missing; two writers doing it at once is fine."""
    Position.objects.bulk_create(
        [Position(account_id=account_id, instrument_id=instrument_id)], ignore_conflicts=True
    )


def _run(statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
    """Execute statements in order and return each one's rows ([] for those without).

    On PostgreSQL they go out in one pipeline: one round trip instead of one each, which was
    most of the time of a fill.
    """
    if connection.vendor != "postgresql":
        results = []
        with connection.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
                results.append(cursor.fetchall() if cursor.description else [])
        return results
    connection.ensure_connection()
    raw = connection.connection
    cursors = []
    with connection.wrap_database_errors:
        with raw.pipeline():
            for sql, params in statements:
                cursor = raw.cursor()
                cursor.execute(sql, params)
                cursors.append(cursor)
        return [c.fetchall() if c.description else [] for c in cursors]


# --- reading and locking ------------------------------------------------------------------

_LOCK_SQL = """
SELECT o.status, o.quantity, o.filled_quantity, o.filled_notional, o.side, o.client_order_id,
       o.account_id, o.parent_id, i.symbol, i.base_currency, i.quote_currency, i.lot_size,
       i.mark_price, i.marked_at, a.owner_id, p.id, p.quantity, p.cost_basis, p.realized_pnl,
       p.fees_paid, p.mark_price, p.marked_at, p.leverage, p.opened_at
FROM execution_order o
JOIN execution_instrument i ON i.id = o.instrument_id
JOIN execution_account a ON a.id = o.account_id
JOIN execution_position p ON p.account_id = o.account_id AND p.instrument_id = o.instrument_id
WHERE o.id = %s
"""
# Locks the order row, then the position row: the order every writer takes them in.
_LOCK_CLAUSE = " FOR UPDATE OF o, p"
_SEEN_SQL = (
    "SELECT venue_trade_id, id FROM execution_fill WHERE order_id = %s AND venue_trade_id IN "
)


def _decimal(value: Any) -> Decimal:
    # PostgreSQL returns Decimal; SQLite returns int or float for numeric columns.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else _decimal(value)


def _datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = parse_datetime(value)  # SQLite keeps naive UTC text
    return None if parsed is None else parsed.replace(tzinfo=UTC)


@dataclass(slots=True)
class _Locked:
    status: OrderStatus
    quantity: Decimal
    filled_quantity: Decimal
    filled_notional: Decimal
    side: Side
    client_order_id: str
    account_id: int
    parent_id: str | None
    symbol: str
    base_currency: str
    quote_currency: str
    lot_size: Decimal
    instrument_mark: Decimal | None
    instrument_marked_at: datetime | None
    owner_id: int
    position_id: int
    position: PositionState
    position_mark: Decimal | None
    position_marked_at: datetime | None
    leverage: Decimal
    opened_at: datetime | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> _Locked:
        (status, quantity, filled, notional, side, client_order_id, account_id, parent_id,
         symbol, base, quote, lot, instrument_mark, instrument_marked_at, owner_id,
         position_id, position_quantity, cost_basis, realized, fees, position_mark,
         position_marked_at, leverage, opened_at) = row  # fmt: skip
        return cls(
            status=OrderStatus(status), quantity=_decimal(quantity),
            filled_quantity=_decimal(filled), filled_notional=_decimal(notional),
            side=Side(side), client_order_id=client_order_id, account_id=account_id,
            parent_id=parent_id, symbol=symbol, base_currency=base, quote_currency=quote,
            lot_size=_decimal(lot), instrument_mark=_optional_decimal(instrument_mark),
            instrument_marked_at=_datetime(instrument_marked_at), owner_id=owner_id,
            position_id=position_id,
            position=PositionState(quantity=_decimal(position_quantity),
                                   cost_basis=_decimal(cost_basis),
                                   realized_pnl=_decimal(realized), fees_paid=_decimal(fees)),
            position_mark=_optional_decimal(position_mark),
            position_marked_at=_datetime(position_marked_at), leverage=_decimal(leverage),
            opened_at=_datetime(opened_at),
        )  # fmt: skip


def _lock(order_pk: Any, trade_ids: Sequence[str]) -> tuple[_Locked, dict[str, int]] | None:
    """Lock the order and its position; return them with the trade ids already recorded."""
    lock_sql = _LOCK_SQL + (_LOCK_CLAUSE if connection.features.has_select_for_update_of else "")
    seen_sql = _SEEN_SQL + "(" + ", ".join(["%s"] * len(trade_ids)) + ")"
    locked_rows, seen_rows = _run([(lock_sql, [order_pk]), (seen_sql, [order_pk, *trade_ids])])
    if not locked_rows:
        return None
    return _Locked.from_row(locked_rows[0]), {trade_id: pk for trade_id, pk in seen_rows}


def _lock_creating_position(
    order_pk: Any, order_id: object, trade_ids: Sequence[str]
) -> tuple[_Locked, dict[str, int]]:
    locked = _lock(order_pk, trade_ids)
    if locked is None:
        # Either no such order, or its position row does not exist yet.
        ids = Order.objects.filter(pk=order_pk).values_list("account_id", "instrument_id").first()
        if ids is None:
            raise DomainError(f"order {order_id} does not exist")
        position_ensure(account_id=ids[0], instrument_id=ids[1])
        locked = _lock(order_pk, trade_ids)
        assert locked is not None
    return locked


# --- writing --------------------------------------------------------------------------------

_INSERT_FILLS = """
INSERT INTO execution_fill
    (order_id, venue_trade_id, quantity, price, fee, fee_currency, liquidity, filled_at,
     recorded_at)
VALUES {rows} RETURNING venue_trade_id, id
"""
_UPDATE_ORDER = """
UPDATE execution_order
SET filled_quantity = %s, filled_notional = %s, average_fill_price = %s, status = %s,
    updated_at = %s
WHERE id = %s
"""
_UPDATE_POSITION = """
UPDATE execution_position
SET quantity = %s, cost_basis = %s, average_entry_price = %s, realized_pnl = %s, fees_paid = %s,
    unrealized_pnl = %s, mark_price = %s, marked_at = %s, margin = %s, opened_at = %s,
    stop_loss_price = CASE WHEN %s THEN NULL ELSE stop_loss_price END,
    take_profit_price = CASE WHEN %s THEN NULL ELSE take_profit_price END,
    updated_at = %s
WHERE id = %s
"""
_INSERT_EVENTS = """
INSERT INTO execution_executionevent (created_at, kind, actor, account_id, order_id, message, data)
VALUES {rows}
"""


def _values(rows: list[list[Any]]) -> tuple[str, list[Any]]:
    placeholders = ", ".join("(" + ", ".join(["%s"] * len(row)) + ")" for row in rows)
    return placeholders, [value for row in rows for value in row]


def fill_record(
    *,
    order_id: UUID | str,
    venue_trade_id: str,
    quantity: object,
    price: object,
    fee: object = Decimal(0),
    fee_currency: str | None = None,
    liquidity: Liquidity | str = Liquidity.TAKER,
    filled_at: datetime | None = None,
    actor: str = "venue",
) -> Fill:
    """Record one execution of an order. The same venue trade id again changes nothing."""
    fill = FillInput.parse(
        venue_trade_id=venue_trade_id, quantity=quantity, price=price, fee=fee,
        fee_currency=fee_currency, liquidity=liquidity, filled_at=filled_at,
    )  # fmt: skip
    return fills_record(order_id=order_id, fills=[fill], actor=actor)[0]


@transaction.atomic
def fills_record(
    *, order_id: UUID | str, fills: Sequence[FillInput], actor: str = "venue"
) -> list[Fill]:
    """Record executions of one order in one transaction, in the order given.

    Returns a Fill for each input; a trade id recorded before (or twice in ``fills``) returns
    the recorded fill and changes nothing. Any refused fill refuses them all.
    """
    if not fills:
        return []
    try:
        order_pk = Order._meta.pk.get_db_prep_value(order_id, connection)
    except ValidationError:
        raise DomainError(f"order {order_id} does not exist") from None
    order_uuid = order_id if isinstance(order_id, UUID) else UUID(str(order_id))

    trade_ids = list(dict.fromkeys(f.venue_trade_id for f in fills))
    locked, seen = _lock_creating_position(order_pk, order_id, trade_ids)
    new: dict[str, FillInput] = {}
    for fill in fills:
        if fill.venue_trade_id not in seen:
            new.setdefault(fill.venue_trade_id, fill)
    if not new:
        return _recorded(fills, seen)

    now = timezone.now()
    applied = fills_apply(
        fills=list(new.values()), side=locked.side, quantity=locked.quantity,
        base_currency=locked.base_currency, quote_currency=locked.quote_currency,
        lot_size=locked.lot_size, status=locked.status, filled_quantity=locked.filled_quantity,
        filled_notional=locked.filled_notional, position=locked.position,
        opened_at=locked.opened_at, exits_cleared=False, now=now,
    )  # fmt: skip
    status, filled_qty, filled_notional = (
        applied.status,
        applied.filled_quantity,
        applied.filled_notional,
    )
    state, opened_at, exits_cleared = applied.position, applied.opened_at, applied.exits_cleared
    fill_rows: list[list[Any]] = []
    event_rows: list[list[Any]] = []
    pushes: list[dict[str, Any]] = []
    at = connection.ops.adapt_datetimefield_value
    for step in applied.steps:
        executed, after = step.fill, step.effect.after
        fill_rows.append([
            order_pk, executed.venue_trade_id, executed.quantity, executed.price, executed.fee,
            step.fee_currency, executed.liquidity, at(step.filled_at), at(now),
        ])  # fmt: skip
        event_rows.append([
            at(now), EventKind.FILL_RECORDED, actor, locked.account_id, order_pk,
            f"{locked.side} {executed.quantity} {locked.symbol} @ {executed.price} "
            f"({executed.liquidity}); "
            f"order {step.status_from} -> {step.status_to}; position {after.quantity}",
            json.dumps({
                "venue_trade_id": executed.venue_trade_id, "quantity": executed.quantity,
                "price": executed.price, "fee": executed.fee, "fee_currency": step.fee_currency,
                "realized_pnl": step.effect.realized_pnl, "position": after.quantity,
                "status_from": step.status_from, "status_to": step.status_to,
            }, cls=DjangoJSONEncoder),
        ])  # fmt: skip
        pushes.append({
            "order_id": str(order_uuid), "client_order_id": locked.client_order_id,
            "symbol": locked.symbol, "side": locked.side, "quantity": str(executed.quantity),
            "price": str(executed.price), "status": step.status_to,
            "position": str(after.quantity),
        })  # fmt: skip

    # A new position starts at the instrument's latest mark.
    mark = locked.position_mark or locked.instrument_mark
    marked_at = locked.position_marked_at if locked.position_mark else locked.instrument_marked_at
    with exact():
        average_fill_price = quantize(filled_notional / filled_qty)
        unrealized = state.unrealized_pnl(mark) if mark is not None else Decimal(0)
        margin = quantize(abs(state.cost_basis) / locked.leverage)
    fill_values, fill_params = _values(fill_rows)
    event_values, event_params = _values(event_rows)
    # Copy trading and the parent order hear of each fill through the outbox: its message
    # commits with the fill, so a broker down at commit delays the news but never loses it.
    news = {
        "order_id": str(order_uuid),
        "account_id": locked.account_id,
        "parent_id": locked.parent_id,
    }
    results = _run([
        (_INSERT_FILLS.format(rows=fill_values), fill_params),
        fill_messages_statement(order_pk=order_pk, trade_ids=list(new), payload=news,
                                now=now),
        (_UPDATE_ORDER, [filled_qty, filled_notional, average_fill_price, status, at(now),
                         order_pk]),
        (_UPDATE_POSITION, [state.quantity, state.cost_basis, state.average_entry_price,
                            state.realized_pnl, state.fees_paid, unrealized, mark,
                            at(marked_at), margin, at(opened_at), exits_cleared, exits_cleared,
                            at(now), locked.position_id]),
        (_INSERT_EVENTS.format(rows=event_values), event_params),
    ])  # fmt: skip
    new_ids = {trade_id: pk for trade_id, pk in results[0]}
    message_ids = {fill_id: message_id for message_id, fill_id in results[1]}

    account_id = locked.account_id
    messages_publish_on_commit([
        Message(message_ids[new_ids[trade_id]], FILL_COMMITTED, new_ids[trade_id], news)
        for trade_id in new
    ])  # fmt: skip
    for payload in pushes:
        on_commit_broadcast(owner_id=locked.owner_id, kind="fill", payload=payload)
    on_commit_pnl_push(account_id=account_id)  # valued after the commit, coalesced

    created = {}
    for trade_id, fill in new.items():
        row = Fill(
            id=new_ids[trade_id], order_id=order_uuid, venue_trade_id=trade_id,
            quantity=fill.quantity, price=fill.price, fee=fill.fee,
            fee_currency=fill.fee_currency or locked.quote_currency, liquidity=fill.liquidity,
            filled_at=fill.filled_at or now, recorded_at=now,
        )  # fmt: skip
        row._state.adding = False
        row._state.db = connection.alias
        created[trade_id] = row
    return _recorded(fills, seen, created)


def _recorded(
    fills: Sequence[FillInput], seen: dict[str, int], created: dict[str, Fill] | None = None
) -> list[Fill]:
    """One Fill per input, in order: the one just created, else the one recorded before."""
    created = created or {}
    earlier = Fill.objects.in_bulk(
        [seen[f.venue_trade_id] for f in fills if f.venue_trade_id in seen]
    )
    return [
        created[f.venue_trade_id] if f.venue_trade_id in created
        else earlier[seen[f.venue_trade_id]]
        for f in fills
    ]  # fmt: skip
