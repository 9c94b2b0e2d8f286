"""Reads for services, views, APIs and consumers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet, Sum
from django.utils import timezone

from execution.domain.orders import OPEN_STATUSES
from execution.domain.risk import AccountRisk
from execution.domain.values import ZERO, exact
from execution.models import (
    Account,
    AccountDay,
    Balance,
    ExecutionEvent,
    Fill,
    Instrument,
    Order,
    Position,
)


@dataclass(frozen=True, slots=True)
class AccountValuation:
    """An account in its base currency. Cash is deposits plus realized P&L (net of fees)."""

    currency: str
    deposited: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    margin_in_use: Decimal
    reserved_by_orders: Decimal

    @property
    def cash(self) -> Decimal:
        return self.deposited + self.realized_pnl

    @property
    def equity(self) -> Decimal:
        return self.cash + self.unrealized_pnl

    @property
    def available(self) -> Decimal:
        return self.cash - self.margin_in_use - self.reserved_by_orders


def account_valuation(account: Account) -> AccountValuation:
    deposited = (
        Balance.objects.filter(account=account, currency=account.base_currency)
        .values_list("deposited", flat=True)
        .first()
    ) or ZERO
    totals = Position.objects.filter(account=account).aggregate(
        realized=Sum("realized_pnl"), unrealized=Sum("unrealized_pnl"), margin=Sum("margin")
    )
    reserved = ZERO
    open_orders = Order.objects.filter(
        account=account, status__in=OPEN_STATUSES, reduce_only=False
    ).values_list("quantity", "filled_quantity", "price", "stop_price", "instrument__mark_price")
    with exact():
        for quantity, filled, price, stop_price, mark in open_orders:
            reference = price or stop_price or mark or ZERO
            reserved += (quantity - filled) * reference
    return AccountValuation(
        currency=account.base_currency,
        deposited=deposited,
        realized_pnl=totals["realized"] or ZERO,
        unrealized_pnl=totals["unrealized"] or ZERO,
        margin_in_use=totals["margin"] or ZERO,
        reserved_by_orders=reserved,
    )


def utc_today() -> date:
    """The calendar day the daily loss limit counts in: UTC, whatever TIME_ZONE says."""
    return timezone.now().astimezone(UTC).date()


def account_risk(account: Account, instrument: Instrument, day: AccountDay) -> AccountRisk:
    valuation = account_valuation(account)
    position_quantity = (
        Position.objects.filter(account=account, instrument=instrument)
        .values_list("quantity", flat=True)
        .first()
    ) or ZERO
    return AccountRisk(
        equity=valuation.equity,
        available_balance=valuation.available,
        start_of_day_equity=day.start_equity,
        loss_limit_breached=day.loss_limit_breached_at is not None,
        position_quantity=position_quantity,
        mid_price=instrument.mark_price,
        taker_fee_rate=Decimal(settings.PAPER_TAKER_FEE_RATE),
    )


def accounts_for_owner(owner_id: int) -> QuerySet[Account]:
    return Account.objects.filter(owner_id=owner_id)


def positions_for_owner(owner_id: int) -> QuerySet[Position]:
    return Position.objects.filter(account__owner_id=owner_id).select_related(
        "account", "instrument"
    )


def orders_for_owner(owner_id: int) -> QuerySet[Order]:
    return Order.objects.filter(account__owner_id=owner_id).select_related("account", "instrument")


def fills_for_owner(owner_id: int) -> QuerySet[Fill]:
    return Fill.objects.filter(order__account__owner_id=owner_id).select_related(
        "order", "order__instrument"
    )


def events_for_owner(owner_id: int) -> QuerySet[ExecutionEvent]:
    return ExecutionEvent.objects.filter(account__owner_id=owner_id)
