"""Placing, sending, cancelling and amending orders.

Save before send (DESIGN.md): an order has its row and client order id before any venue call.
A timeout after sending leaves it unknown until a query by client order id settles it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from execution.domain.errors import DomainError, OrderRefused
from execution.domain.orders import (
    CLIENT_ORDER_ID,
    TRANSITIONS,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
    check_transition,
)
from execution.domain.risk import check_order
from execution.domain.values import exact, plain, to_decimal
from execution.models import Account, EventKind, Instrument, Order, ParentOrder
from execution.selectors import account_risk
from execution.services.accounts import account_day_open, account_loss_limit_breach
from execution.services.events import event_append
from execution.services.fills import fill_input, fills_record
from execution.services.notify import on_commit_broadcast
from execution.services.venues import paper_venue_elsewhere, venue_for_account
from execution.signals import order_status_committed
from execution.venues.base import Venue, VenueError, VenueOrderReport, VenueTimeout

logger = logging.getLogger(__name__)


def new_client_order_id() -> str:
    return uuid.uuid4().hex


def _get_order(order_id: UUID | str, *, lock: bool = False) -> Order:
    rows = Order.objects.select_related("instrument", "account")
    if lock:
        rows = rows.select_for_update(of=("self",))
    try:
        return rows.get(pk=order_id)
    except (Order.DoesNotExist, ValidationError):  # ValidationError: not a UUID at all
        raise DomainError(f"order {order_id} does not exist") from None


def _broadcast_order(order: Order) -> None:
    on_commit_broadcast(
        owner_id=order.account.owner_id,
        kind="order",
        payload={
            "order_id": str(order.pk),
            "client_order_id": order.client_order_id,
            "symbol": order.instrument.symbol,
            "side": order.side,
            "status": order.status,
            "quantity": str(order.quantity),
            "filled_quantity": str(order.filled_quantity),
        },
    )


def order_place(
    *,
    account_id: int,
    symbol: str,
    side: str,
    order_type: str,
    quantity: object,
    price: object = None,
    stop_price: object = None,
    time_in_force: str = TimeInForce.GTC,
    reduce_only: bool = False,
    client_order_id: str | None = None,
    parent_id: str | None = None,
    strategy_id: int | None = None,
    actor: str = "system",
    submit: bool = True,
) -> Order:
    """Validate, risk-check and save an order, then send it to the venue on commit.

    Bad input raises DomainError and writes nothing. A risk refusal raises OrderRefused with
    every failed check and writes one audit event. The same client order id with the same
    terms returns the existing order, so a retried request never places a second one.
    """
    if client_order_id is not None and not CLIENT_ORDER_ID.fullmatch(client_order_id):
        raise DomainError("client order id must be 1 to 32 letters or digits")
    instrument = Instrument.objects.filter(symbol=symbol, is_active=True).first()
    if instrument is None:
        raise DomainError(f"unknown instrument {symbol!r}")
    request = OrderRequest.build(
        instrument.spec(),
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=price,
        stop_price=stop_price,
        time_in_force=time_in_force,
        reduce_only=reduce_only,
        reference_price=instrument.mark_price,
    )
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        raise DomainError(f"account {account_id} does not exist")
    if instrument.quote_currency != account.base_currency:
        raise DomainError(
            f"{symbol} is quoted in {instrument.quote_currency}, account {account.name!r} holds "
            f"{account.base_currency}"
        )
    if (
        parent_id is not None
        and not ParentOrder.objects.filter(pk=parent_id, account=account).exists()
    ):
        raise DomainError(f"parent order {parent_id} is not a parent order of this account")
    cid = client_order_id or new_client_order_id()
    if client_order_id is not None:
        # A retry answers before anything is written (checked again under the lock below).
        existing = (
            Order.objects.filter(client_order_id=cid)
            .select_related("instrument", "account")
            .first()
        )
        if existing is not None:
            return _same_order(existing, account, request)
    day = account_day_open(account=account)

    with transaction.atomic():
        # One order at a time per account: two orders must not both spend the same balance.
        account = Account.objects.select_for_update().get(pk=account.pk)
        existing = (
            Order.objects.filter(client_order_id=cid)
            .select_related("instrument", "account")
            .first()
        )
        if existing is not None:
            return _same_order(existing, account, request)
        day.refresh_from_db()
        risk = account_risk(account, instrument, day)
        decision = check_order(request, account.risk_limits(), risk)
        if decision.loss_limit_breached_now:
            account_loss_limit_breach(day=day, equity=risk.equity, actor="risk")
        if not decision.accepted:
            event_append(
                kind=EventKind.ORDER_REFUSED,
                actor=actor,
                account=account,
                message="; ".join(v.message for v in decision.violations),
                data={
                    "request": _request_data(request, cid),
                    "violations": [v.as_dict() for v in decision.violations],
                },
            )
        else:
            try:
                with transaction.atomic():
                    order = Order.objects.create(
                        client_order_id=cid,
                        account=account,
                        instrument=instrument,
                        parent_id=parent_id,
                        strategy_id=strategy_id,
                        side=request.side,
                        order_type=request.order_type,
                        time_in_force=request.time_in_force,
                        quantity=request.quantity,
                        price=request.price,
                        stop_price=request.stop_price,
                        reduce_only=request.reduce_only,
                    )
            except IntegrityError:
                raise DomainError(f"client order id {cid} is already used") from None
            event_append(
                kind=EventKind.ORDER_CREATED,
                actor=actor,
                order=order,
                account=account,
                message=f"{request.side} {request.quantity} {symbol} {request.order_type}"
                + (f" @ {request.price}" if request.price else ""),
                data=_request_data(request, cid),
            )
            _broadcast_order(order)
            if submit:
                order_id = str(order.pk)
                transaction.on_commit(lambda: _submit_later(order_id))
            return order
    raise OrderRefused(decision.violations)


def _submit_later(order_id: str) -> None:
    """Queue the submit task of an order just saved. A broker that refuses it (down, being
    restarted) fails nothing: the order is saved, and the unsent-order sweep sends it."""
    from execution.tasks import submit_order  # tasks imports this module

    try:
        submit_order.delay(order_id)
    except KombuOperationalError as error:
        logger.warning(
            "order %s saved, its submit not queued (%s): the sweep sends it", order_id, error
        )


def _request_data(request: OrderRequest, cid: str) -> dict[str, Any]:
    return {
        "client_order_id": cid,
        "symbol": request.symbol,
        "side": request.side,
        "order_type": request.order_type,
        "quantity": request.quantity,
        "price": request.price,
        "stop_price": request.stop_price,
        "time_in_force": request.time_in_force,
        "reduce_only": request.reduce_only,
    }


def _same_order(existing: Order, account: Account, request: OrderRequest) -> Order:
    if existing.account_id == account.pk and existing.as_request() == request:
        return existing
    raise DomainError(
        f"client order id {existing.client_order_id} is already used by a different order"
    )


def order_submit(*, order_id: UUID | str, actor: str = "system") -> Order:
    """Send a new order to its venue once. Calling it again never sends it twice."""
    # The venue first: one created now restores orders already marked sent, and this order
    # must not be one of them.
    venue = venue_for_account(_get_order(order_id).account)
    with transaction.atomic():
        order = _get_order(order_id, lock=True)
        if order.status != OrderStatus.NEW or order.sent_at is not None:
            return order  # already sent (or settled): a repeated task is a no-op
        order.sent_at = timezone.now()
        order.save(update_fields=["sent_at", "updated_at"])
        event_append(
            kind=EventKind.ORDER_SENT,
            actor=actor,
            order=order,
            message=f"sent to the {order.account.mode} venue",
        )
    try:
        report = venue.submit(order.as_request(), client_order_id=order.client_order_id)
    except VenueTimeout as error:
        return order_status_set(
            order_id=order.pk,
            status=OrderStatus.UNKNOWN,
            reason=f"no answer from the venue: {error}",
            actor=actor,
        )
    except VenueError as error:
        return order_status_set(
            order_id=order.pk, status=OrderStatus.REJECTED, reason=str(error), actor=actor
        )
    return order_report_apply(order_id=order.pk, report=report, actor=actor)


@transaction.atomic
def order_status_set(
    *, order_id: UUID | str, status: OrderStatus, reason: str = "", actor: str = "system"
) -> Order:
    """Move an order to a status the transition table allows, with an audit event."""
    order = _get_order(order_id, lock=True)
    previous = OrderStatus(order.status)
    if previous == status:
        return order
    check_transition(previous, status)
    order.status = status
    if reason:
        order.error = reason
    order.save(update_fields=["status", "error", "updated_at"])
    transaction.on_commit(
        partial(order_status_committed.send, sender=Order, order_id=order.pk,
                parent_id=order.parent_id, status=status)
    )  # fmt: skip
    event_append(
        kind=EventKind.ORDER_STATUS_CHANGED,
        actor=actor,
        order=order,
        message=f"{previous} -> {status}" + (f": {reason}" if reason else ""),
        data={"from": previous, "to": status, "reason": reason},
    )
    _broadcast_order(order)
    return order


def order_report_apply(
    *, order_id: UUID | str, report: VenueOrderReport, actor: str = "venue"
) -> Order:
    """Bring an order in line with what its venue reports: fills first, then the status."""
    fills_record(order_id=order_id, fills=[fill_input(f) for f in report.fills], actor=actor)
    with transaction.atomic():
        order = _get_order(order_id, lock=True)
        if report.venue_order_id and order.venue_order_id != report.venue_order_id:
            order.venue_order_id = report.venue_order_id
            order.save(update_fields=["venue_order_id", "updated_at"])
        current, target = OrderStatus(order.status), report.status
        if target in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED):
            # Fill statuses follow from recorded fills; an open order the venue has seen is
            # at least submitted.
            target = OrderStatus.SUBMITTED
        if target == current or target not in TRANSITIONS[current]:
            # A report can lag behind fills already recorded (submitted after partially
            # filled): it never moves an order backwards.
            return order
    return order_status_set(
        order_id=order.pk, status=target, reason=report.reason or "", actor=actor
    )


# An order saved but never sent this long after it was created lost its submit task (a worker
# died, a broker message was dropped): it is sent now, still once (order_submit).
UNSENT_AFTER = timedelta(seconds=10)


def orders_unsent_submit(*, now: datetime | None = None, actor: str = "sweeper") -> int:
    """Send every new order whose submit task was lost; returns how many were sent."""
    now = now or timezone.now()
    unsent = Order.objects.filter(
        status=OrderStatus.NEW, sent_at__isnull=True, created_at__lte=now - UNSENT_AFTER
    ).values_list("pk", flat=True)
    sent = 0
    for order_id in unsent:
        try:
            order = order_submit(order_id=order_id, actor=actor)
        except DomainError as error:  # one account's venue failing stops no other
            logger.error("unsent order %s could not be sent: %s", order_id, error)
            continue
        sent += order.sent_at is not None
    return sent


# An order the venue has not heard of may still be on its way for this long after sending.
NOT_FOUND_GRACE = timedelta(seconds=60)


def order_reconcile(
    *,
    order_id: UUID | str,
    actor: str = "reconciliation",
    now: datetime | None = None,
    venue: Venue | None = None,
) -> Order:
    """Settle a sent order whose fate is not known by asking the venue for it by client order
    id; it is never sent again. One the venue does not find is closed as rejected only once
    NOT_FOUND_GRACE has passed since sending, and never when it already has fills."""
    order = _get_order(order_id)
    if order.sent_at is None or OrderStatus(order.status).is_terminal:
        return order
    now = now or timezone.now()
    report = (venue or venue_for_account(order.account)).fetch_order(order.client_order_id)
    if report is not None:
        return order_report_apply(order_id=order.pk, report=report, actor=actor)
    if now - order.sent_at < NOT_FOUND_GRACE:
        return order  # may still be on its way: ask again next time
    if order.filled_quantity:
        logger.warning(
            "order %s has fills but the venue no longer finds it; left %s",
            order.client_order_id,
            order.status,
        )
        return order
    return order_status_set(
        order_id=order.pk,
        status=OrderStatus.REJECTED,
        reason="the venue never received this order (not found by client order id)",
        actor=actor,
    )


def order_cancel(*, order_id: UUID | str, actor: str = "system") -> Order:
    with transaction.atomic():
        order = _get_order(order_id, lock=True)
        status = OrderStatus(order.status)
        if not status.is_open:
            raise DomainError(f"order {order.client_order_id} is {status} and cannot be cancelled")
        if order.sent_at is None:
            # Never left us: cancelling is a local change.
            return order_status_set(
                order_id=order.pk,
                status=OrderStatus.CANCELLED,
                reason="cancelled before it was sent",
                actor=actor,
            )
        event_append(
            kind=EventKind.ORDER_CANCEL_REQUESTED,
            actor=actor,
            order=order,
            message="cancel requested at the venue",
        )
        if paper_venue_elsewhere(order.account):
            # The paper exchange's process cancels it; its answer comes as an order push.
            from execution.tasks import cancel_order_at_venue  # tasks imports this module

            order_pk = str(order.pk)
            transaction.on_commit(lambda: cancel_order_at_venue.delay(order_pk, actor))
            return order
    return order_cancel_at_venue(order_id=order.pk, actor=actor)


def order_cancel_at_venue(*, order_id: UUID | str, actor: str = "system") -> Order:
    """The venue's half of ``order_cancel``, in the process that holds the venue."""
    order = _get_order(order_id)
    try:
        report = venue_for_account(order.account).cancel(order.client_order_id)
    except VenueError as error:
        raise DomainError(f"the venue refused to cancel {order.client_order_id}: {error}") from None
    return order_report_apply(order_id=order.pk, report=report, actor=actor)


def order_amend(
    *,
    order_id: UUID | str,
    quantity: object = None,
    price: object = None,
    actor: str = "system",
) -> Order:
    """Change the quantity or limit price of an open order, checked like a new one."""
    if quantity is None and price is None:
        raise DomainError("an amendment needs a new quantity or a new price")
    order = _get_order(order_id)
    status = OrderStatus(order.status)
    if not status.is_open:
        raise DomainError(f"order {order.client_order_id} is {status} and cannot be amended")
    new_quantity = order.quantity if quantity is None else to_decimal(quantity, field="quantity")
    new_price = order.price if price is None else to_decimal(price, field="price")
    if price is not None and not OrderType(order.order_type).has_limit_price:
        raise DomainError(f"a {order.order_type} order has no limit price to amend")
    if new_quantity <= order.filled_quantity:
        raise DomainError(
            f"new quantity {new_quantity} must be above the {plain(order.filled_quantity)} "
            "already filled"
        )
    instrument = order.instrument
    request = OrderRequest.build(
        instrument.spec(),
        side=order.side,
        order_type=order.order_type,
        quantity=new_quantity,
        price=new_price,
        stop_price=order.stop_price,
        time_in_force=order.time_in_force,
        reduce_only=order.reduce_only,
        reference_price=instrument.mark_price,
    )
    day = account_day_open(account=order.account)
    with transaction.atomic():
        Account.objects.select_for_update().get(pk=order.account_id)
        order = _get_order(order_id, lock=True)
        if not OrderStatus(order.status).is_open:
            raise DomainError(
                f"order {order.client_order_id} is {order.status} and cannot be amended"
            )
        risk = account_risk(order.account, instrument, day)
        # This order's own reservation is released by the amendment.
        with exact():
            freed = (order.quantity - order.filled_quantity) * (
                order.price or order.stop_price or instrument.mark_price or 0
            )
        decision = check_order(
            request,
            order.account.risk_limits(),
            replace(risk, available_balance=risk.available_balance + freed),
        )
        if not decision.accepted:
            event_append(
                kind=EventKind.ORDER_REFUSED,
                actor=actor,
                order=order,
                message="amendment refused: " + "; ".join(v.message for v in decision.violations),
                data={"violations": [v.as_dict() for v in decision.violations]},
            )
    if not decision.accepted:
        raise OrderRefused(decision.violations)
    changes = {
        "quantity": None if quantity is None else str(new_quantity),
        "price": None if price is None else str(new_price),
    }
    if order.sent_at is not None and paper_venue_elsewhere(order.account):
        # Checked here; the paper exchange's process amends it (its answer: an order push).
        from execution.tasks import amend_order_at_venue  # tasks imports this module

        amend_order_at_venue.delay(str(order.pk), changes, actor)
        return order
    return order_amend_at_venue(order_id=order.pk, changes=changes, actor=actor)


def order_amend_at_venue(
    *, order_id: UUID | str, changes: dict[str, str | None], actor: str = "system"
) -> Order:
    """The venue's half of ``order_amend`` (``changes``: the new quantity and price as text,
    None for unchanged), in the process that holds the venue; the order keeps its terms if
    the venue refuses."""
    order = _get_order(order_id)
    if not OrderStatus(order.status).is_open:
        raise DomainError(f"order {order.client_order_id} is {order.status} and cannot be amended")
    quantity, price = changes["quantity"], changes["price"]
    new_quantity = order.quantity if quantity is None else to_decimal(quantity, field="quantity")
    new_price = order.price if price is None else to_decimal(price, field="price")
    old = {"quantity": order.quantity, "price": order.price}
    if order.sent_at is not None:
        try:
            report = venue_for_account(order.account).amend(
                order.client_order_id,
                quantity=new_quantity if quantity is not None else None,
                price=new_price if price is not None else None,
            )
        except VenueError as error:
            raise DomainError(
                f"the venue refused to amend {order.client_order_id}: {error}"
            ) from None
    with transaction.atomic():
        order = _get_order(order_id, lock=True)
        order.quantity = new_quantity
        order.price = new_price
        order.save(update_fields=["quantity", "price", "updated_at"])
        event_append(
            kind=EventKind.ORDER_AMENDED,
            actor=actor,
            order=order,
            message=f"amended: quantity {old['quantity']} -> {new_quantity}, "
            f"price {old['price']} -> {new_price}",
            data={"from": old, "to": {"quantity": new_quantity, "price": new_price}},
        )
        _broadcast_order(order)
    if order.sent_at is not None:
        return order_report_apply(order_id=order.pk, report=report, actor=actor)
    return order
