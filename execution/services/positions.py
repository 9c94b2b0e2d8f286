"""Marking positions to market, protective exits, and the daily loss limit on every mark."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F, Q, Value
from django.utils import timezone

from execution.domain.errors import DomainError, OrderRefused
from execution.domain.orders import OrderType
from execution.domain.positions import check_exit_levels, exit_trigger
from execution.domain.risk import daily_loss_breached
from execution.domain.values import Side, to_decimal, to_positive
from execution.models import Account, EventKind, Instrument, Order, Position
from execution.selectors import account_valuation
from execution.services.accounts import account_day_open, account_loss_limit_breach
from execution.services.events import event_append
from execution.services.notify import on_commit_broadcast
from execution.services.orders import order_place


def positions_mark(
    *, symbol: str, mark_price: object, marked_at: datetime | None = None, actor: str = "market"
) -> list[Order]:
    """Mark every position in an instrument; place exits whose stop or target the mark hit.

    Returns the exit orders placed. The same mark twice places nothing new: an exit's client
    order id is derived from the position it closes.
    """
    mark = to_positive(mark_price, field="mark price")
    at = marked_at or timezone.now()
    with transaction.atomic():
        instrument = Instrument.objects.select_for_update().filter(symbol=symbol).first()
        if instrument is None:
            raise DomainError(f"unknown instrument {symbol!r}")
        if instrument.marked_at is not None and at < instrument.marked_at:
            return []  # an older mark arriving late must not overwrite a newer one
        instrument.mark_price, instrument.marked_at = mark, at
        instrument.save(update_fields=["mark_price", "marked_at"])
        # One statement for every position: unrealized = quantity x mark - cost basis.
        Position.objects.filter(instrument=instrument).update(
            mark_price=mark,
            marked_at=at,
            unrealized_pnl=F("quantity") * Value(mark) - F("cost_basis"),
        )
        owners = dict(
            Account.objects.filter(positions__instrument=instrument)
            .exclude(positions__quantity=0)
            .values_list("pk", "owner_id")
        )
        for owner_id in set(owners.values()):
            on_commit_broadcast(
                owner_id=owner_id,
                kind="mark",
                payload={"symbol": symbol, "mark_price": str(mark), "marked_at": at.isoformat()},
            )

    for account in Account.objects.filter(pk__in=owners):
        _check_daily_loss(account, actor=actor)
    return _trigger_exits(instrument, mark, actor=actor)


def _check_daily_loss(account: Account, *, actor: str) -> None:
    day = account_day_open(account=account)
    if day.loss_limit_breached_at is not None:
        return
    equity = account_valuation(account).equity
    if daily_loss_breached(
        limit=account.daily_loss_limit, start_equity=day.loss_baseline, equity=equity
    ):
        account_loss_limit_breach(day=day, equity=equity, actor=actor)


def _trigger_exits(instrument: Instrument, mark: object, *, actor: str) -> list[Order]:
    long_hit = Q(quantity__gt=0) & (Q(stop_loss_price__gte=mark) | Q(take_profit_price__lte=mark))
    short_hit = Q(quantity__lt=0) & (Q(stop_loss_price__lte=mark) | Q(take_profit_price__gte=mark))
    placed = []
    for position in Position.objects.filter(Q(instrument=instrument) & (long_hit | short_hit)):
        reason = exit_trigger(
            quantity=position.quantity,
            stop_loss_price=position.stop_loss_price,
            take_profit_price=position.take_profit_price,
            low=to_decimal(mark, field="mark"),
        )
        if reason is None or position.opened_at is None:
            continue
        # One exit per opening of the position: a repeated mark finds the same order.
        client_order_id = f"x{position.pk}t{int(position.opened_at.timestamp() * 1000)}"
        already = Order.objects.filter(client_order_id=client_order_id).exists()
        side = Side.SELL if position.quantity > 0 else Side.BUY
        try:
            order = order_place(
                account_id=position.account_id,
                symbol=instrument.symbol,
                side=side,
                order_type=OrderType.MARKET,
                quantity=abs(position.quantity),
                reduce_only=True,
                client_order_id=client_order_id,
                actor=f"exit:{reason}",
            )
        except (DomainError, OrderRefused) as error:
            event_append(
                kind=EventKind.EXIT_TRIGGERED,
                actor=actor,
                account=position.account,
                message=f"{reason} hit at {mark} but the exit was refused: {error}",
                data={"position_id": position.pk, "reason": reason, "mark": mark},
            )
            continue
        if not already:
            event_append(
                kind=EventKind.EXIT_TRIGGERED,
                actor=actor,
                order=order,
                message=f"{reason} hit at {mark}: closing {position.quantity} {instrument.symbol}",
                data={"position_id": position.pk, "reason": reason, "mark": mark},
            )
            placed.append(order)
    return placed


@transaction.atomic
def position_exits_set(
    *,
    position_id: int,
    stop_loss_price: object = None,
    take_profit_price: object = None,
    actor: str = "system",
) -> Position:
    """Set (or clear, with None) the stop loss and take profit of an open position."""
    position = (
        Position.objects.select_for_update()
        .select_related("instrument", "account")
        .filter(pk=position_id)
        .first()
    )
    if position is None:
        raise DomainError(f"position {position_id} does not exist")
    if not position.quantity or position.average_entry_price is None:
        raise DomainError("a flat position has nothing to protect")
    spec = position.instrument.spec()
    stop = (
        None
        if stop_loss_price is None
        else spec.check_price(to_decimal(stop_loss_price, field="stop loss"), field="stop loss")
    )
    target = (
        None
        if take_profit_price is None
        else spec.check_price(
            to_decimal(take_profit_price, field="take profit"), field="take profit"
        )
    )
    check_exit_levels(
        side=Side.BUY if position.quantity > 0 else Side.SELL,
        entry_price=position.average_entry_price,
        stop_loss_price=stop,
        take_profit_price=target,
    )
    position.stop_loss_price, position.take_profit_price = stop, target
    position.save(update_fields=["stop_loss_price", "take_profit_price", "updated_at"])
    event_append(
        kind=EventKind.POSITION_EXITS_SET,
        actor=actor,
        account=position.account,
        message=f"{position.instrument.symbol}: stop loss {stop}, take profit {target}",
        data={"position_id": position.pk, "stop_loss_price": stop, "take_profit_price": target},
    )
    return position
