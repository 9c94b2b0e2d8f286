"""Recording fills: idempotent on (order, venue trade id), exact to the last decimal place.

fill_record is the hottest write of the platform, so it talks SQL directly: one statement
locks the order and its position and tells whether the trade id was seen, four plain
statements write the fill, the order, the position and the audit event. Every decision (status,
overfill, position accounting) is still made by the pure domain. Through the ORM the same work
took several times longer (bench/bench_fills.py).
"""

from __future__ import annotations

import json
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
from execution.domain.orders import FillEvent, OrderStatus, status_after_fill
from execution.domain.positions import PositionState, apply_fill
from execution.domain.values import Liquidity, Side, exact, quantize, to_decimal, to_positive
from execution.models import EventKind, Fill, Order, Position
from execution.services.notify import on_commit_broadcast
from execution.signals import fill_committed


def fee_in_quote(
    *, fee: Decimal, fee_currency: str, base: str, quote: str, price: Decimal
) -> Decimal:
    """P&L is kept in the quote currency; a fee charged in the base converts at the fill price."""
    if fee_currency == quote:
        return fee
    if fee_currency == base:
        with exact():
            return quantize(fee * price)
    raise DomainError(
        f"fee currency {fee_currency!r} is neither the base {base!r} nor the quote {quote!r}"
    )


def position_ensure(*, account_id: int, instrument_id: int) -> None:
    """Create the flat position row if it is missing; two writers doing it at once is fine."""
    Position.objects.bulk_create(
        [Position(account_id=account_id, instrument_id=instrument_id)], ignore_conflicts=True
    )


# --- reading and locking ------------------------------------------------------------------

_LOCK_SQL = """
SELECT o.status, o.quantity, o.filled_quantity, o.filled_notional, o.side, o.client_order_id,
       o.account_id, i.symbol, i.base_currency, i.quote_currency, i.lot_size, i.mark_price,
       i.marked_at, a.owner_id, p.id, p.quantity, p.cost_basis, p.realized_pnl, p.fees_paid,
       p.mark_price, p.marked_at, p.leverage, p.opened_at,
       (SELECT f.id FROM execution_fill f WHERE f.order_id = o.id AND f.venue_trade_id = %s)
FROM execution_order o
JOIN execution_instrument i ON i.id = o.instrument_id
JOIN execution_account a ON a.id = o.account_id
JOIN execution_position p ON p.account_id = o.account_id AND p.instrument_id = o.instrument_id
WHERE o.id = %s
"""
# Locks the order row, then the position row: the order every writer takes them in.
_LOCK_CLAUSE = " FOR UPDATE OF o, p"


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
    existing_fill_id: int | None


def _lock(order_pk: Any, venue_trade_id: str) -> _Locked | None:
    sql = _LOCK_SQL + (_LOCK_CLAUSE if connection.features.has_select_for_update_of else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, [venue_trade_id, order_pk])
        row = cursor.fetchone()
    if row is None:
        return None
    return _Locked(
        status=OrderStatus(row[0]),
        quantity=_decimal(row[1]),
        filled_quantity=_decimal(row[2]),
        filled_notional=_decimal(row[3]),
        side=Side(row[4]),
        client_order_id=row[5],
        account_id=row[6],
        symbol=row[7],
        base_currency=row[8],
        quote_currency=row[9],
        lot_size=_decimal(row[10]),
        instrument_mark=_optional_decimal(row[11]),
        instrument_marked_at=_datetime(row[12]),
        owner_id=row[13],
        position_id=row[14],
        position=PositionState(
            quantity=_decimal(row[15]),
            cost_basis=_decimal(row[16]),
            realized_pnl=_decimal(row[17]),
            fees_paid=_decimal(row[18]),
        ),
        position_mark=_optional_decimal(row[19]),
        position_marked_at=_datetime(row[20]),
        leverage=_decimal(row[21]),
        opened_at=_datetime(row[22]),
        existing_fill_id=row[23],
    )


def _lock_creating_position(order_pk: Any, order_id: object, venue_trade_id: str) -> _Locked:
    locked = _lock(order_pk, venue_trade_id)
    if locked is None:
        # Either no such order, or its position row does not exist yet.
        ids = Order.objects.filter(pk=order_pk).values_list("account_id", "instrument_id").first()
        if ids is None:
            raise DomainError(f"order {order_id} does not exist")
        position_ensure(account_id=ids[0], instrument_id=ids[1])
        locked = _lock(order_pk, venue_trade_id)
        assert locked is not None
    return locked


# --- writing --------------------------------------------------------------------------------

_INSERT_FILL = """
INSERT INTO execution_fill
    (order_id, venue_trade_id, quantity, price, fee, fee_currency, liquidity, filled_at,
     recorded_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
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
_INSERT_EVENT = """
INSERT INTO execution_executionevent
    (created_at, kind, actor, account_id, order_id, message, data)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""


def _write(returning: tuple[str, list[Any]], *statements: tuple[str, list[Any]]) -> int:
    """Run the first statement (which returns an id) and the others; return that id.

    On PostgreSQL they go out in one pipeline: one round trip instead of one each, which was
    most of fill_record's time.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(*returning)
            new_id = int(cursor.fetchone()[0])
            for sql, params in statements:
                cursor.execute(sql, params)
        return new_id
    connection.ensure_connection()
    raw = connection.connection
    with connection.wrap_database_errors, raw.pipeline():
        first = raw.cursor()
        first.execute(*returning)
        rest = raw.cursor()
        for sql, params in statements:
            rest.execute(sql, params)
    row = first.fetchone()
    assert row is not None
    return int(row[0])


@transaction.atomic
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
    venue_trade_id = (venue_trade_id or "").strip()
    if not venue_trade_id:
        raise DomainError("a fill needs the venue's trade id")
    qty = to_positive(quantity, field="fill quantity")
    fill_price = to_positive(price, field="fill price")
    fee_amount = to_decimal(fee, field="fee")
    try:
        liquidity = Liquidity(liquidity)
    except ValueError:
        raise DomainError(f"liquidity {liquidity!r} is not maker or taker") from None
    try:
        order_pk = Order._meta.pk.get_db_prep_value(order_id, connection)
    except ValidationError:
        raise DomainError(f"order {order_id} does not exist") from None

    locked = _lock_creating_position(order_pk, order_id, venue_trade_id)
    if locked.existing_fill_id is not None:
        return Fill.objects.get(pk=locked.existing_fill_id)  # a replay is a no-op

    fee_currency = fee_currency or locked.quote_currency
    fee_quote = fee_in_quote(
        fee=fee_amount,
        fee_currency=fee_currency,
        base=locked.base_currency,
        quote=locked.quote_currency,
        price=fill_price,
    )
    if qty % locked.lot_size:
        raise DomainError(
            f"fill quantity {qty} is not a multiple of the lot size {locked.lot_size.normalize()}"
        )
    status = status_after_fill(
        status=locked.status,
        quantity=locked.quantity,
        filled_quantity=locked.filled_quantity,
        fill_quantity=qty,
    )
    effect = apply_fill(
        locked.position,
        FillEvent(
            fill_id=venue_trade_id,
            side=locked.side,
            quantity=qty,
            price=fill_price,
            fee=fee_quote,
            liquidity=liquidity,
        ),
    )
    after = effect.after
    now = timezone.now()
    filled_at = filled_at or now
    # A new position starts at the instrument's latest mark.
    mark = locked.position_mark or locked.instrument_mark
    marked_at = locked.position_marked_at if locked.position_mark else locked.instrument_marked_at
    with exact():
        filled_quantity = locked.filled_quantity + qty
        filled_notional = locked.filled_notional + qty * fill_price
        average_fill_price = quantize(filled_notional / filled_quantity)
        unrealized = after.unrealized_pnl(mark) if mark is not None else Decimal(0)
        margin = quantize(abs(after.cost_basis) / locked.leverage)
    # Exits belong to the position they protect: a close or a flip clears them.
    closed_or_flipped = effect.opened or after.quantity == 0
    opened_at = filled_at if effect.opened else (None if not after.quantity else locked.opened_at)

    at = connection.ops.adapt_datetimefield_value
    event_data = {
        "venue_trade_id": venue_trade_id,
        "quantity": qty,
        "price": fill_price,
        "fee": fee_amount,
        "fee_currency": fee_currency,
        "realized_pnl": effect.realized_pnl,
        "position": after.quantity,
        "status_from": locked.status,
        "status_to": status,
    }
    fill_id = _write(
        (
            _INSERT_FILL,
            [
                order_pk,
                venue_trade_id,
                qty,
                fill_price,
                fee_amount,
                fee_currency,
                liquidity,
                at(filled_at),
                at(now),
            ],
        ),
        (
            _UPDATE_ORDER,
            [filled_quantity, filled_notional, average_fill_price, status, at(now), order_pk],
        ),
        (
            _UPDATE_POSITION,
            [
                after.quantity,
                after.cost_basis,
                after.average_entry_price,
                after.realized_pnl,
                after.fees_paid,
                unrealized,
                mark,
                at(marked_at),
                margin,
                at(opened_at),
                closed_or_flipped,
                closed_or_flipped,
                at(now),
                locked.position_id,
            ],
        ),
        (
            _INSERT_EVENT,
            [
                at(now),
                EventKind.FILL_RECORDED,
                actor,
                locked.account_id,
                order_pk,
                f"{locked.side} {qty} {locked.symbol} @ {fill_price} ({liquidity}); "
                f"order {locked.status} -> {status}; position {after.quantity}",
                json.dumps(event_data, cls=DjangoJSONEncoder),
            ],
        ),
    )

    order_uuid = order_id if isinstance(order_id, UUID) else UUID(str(order_id))
    account_id = locked.account_id
    transaction.on_commit(
        lambda: fill_committed.send(
            sender=Fill, fill_id=fill_id, order_id=order_uuid, account_id=account_id
        )
    )
    on_commit_broadcast(
        owner_id=locked.owner_id,
        kind="fill",
        payload={
            "order_id": str(order_uuid),
            "client_order_id": locked.client_order_id,
            "symbol": locked.symbol,
            "side": locked.side,
            "quantity": str(qty),
            "price": str(fill_price),
            "status": status,
            "position": str(after.quantity),
        },
    )
    fill = Fill(
        id=fill_id,
        order_id=order_uuid,
        venue_trade_id=venue_trade_id,
        quantity=qty,
        price=fill_price,
        fee=fee_amount,
        fee_currency=fee_currency,
        liquidity=liquidity,
        filled_at=filled_at,
        recorded_at=now,
    )
    fill._state.adding = False
    fill._state.db = connection.alias
    return fill
