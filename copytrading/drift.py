"""Reads for the copy-drift ledger: a subscription's copy trades over a period, with their
leader fills and follower fills, as the pure ledger's legs (copytrading.domain.drift)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from copytrading.domain.drift import CopyLeg, DriftLedger, drift_ledger
from copytrading.models import CopySubscription, CopyTrade, CopyTradeKind
from execution.domain.positions import fee_in_quote
from execution.domain.values import ZERO, Side, exact
from execution.models import Candle, Fill, Instrument


@dataclass(frozen=True, slots=True)
class DriftReport:
    subscription_id: int
    start: datetime
    end: datetime
    capital: Decimal
    end_prices: dict[str, Decimal]  # by symbol: what every leg is valued at
    ledger: DriftLedger


def end_prices(instruments: dict[int, Instrument], end: datetime) -> dict[int, Decimal | None]:
    """Each instrument's price at ``end``: its mark when ``end`` is now or later, else the
    close of its last stored candle that opened before ``end`` (the mark without one)."""
    now = timezone.now()
    prices: dict[int, Decimal | None] = {}
    for pk, instrument in instruments.items():
        price = instrument.mark_price
        if end < now:
            close = (
                Candle.objects.filter(instrument_id=pk, open_time__lt=end)
                .order_by("-open_time")
                .values_list("close", flat=True)
                .first()
            )
            if close is not None:
                price = Decimal(repr(close))
        prices[pk] = price
    return prices


def subscription_drift(
    subscription: CopySubscription, *, start: datetime, end: datetime
) -> DriftReport:
    """The ledger of the subscription's copies in [start, end): mirrors whose leader fill is
    in the period, joins and closes made in it. Positions carried in from before ``start``
    are not in it; every leg is valued at the instrument's price at ``end``."""
    trades = list(
        CopyTrade.objects.filter(subscription=subscription)
        .filter(
            Q(leader_fill__isnull=False, leader_fill__filled_at__gte=start,
              leader_fill__filled_at__lt=end)
            | Q(leader_fill__isnull=True, created_at__gte=start, created_at__lt=end)
        )
        .select_related("instrument", "leader_fill__order", "follower_order")
        .order_by("created_at", "pk")
    )  # fmt: skip
    order_ids = [t.follower_order_id for t in trades if t.follower_order_id is not None]
    fees: dict[object, Decimal] = {}
    last_fill: dict[object, datetime] = {}
    fill_rows = Fill.objects.filter(order_id__in=order_ids).values_list(
        "order_id", "fee", "fee_currency", "price", "filled_at"
    )
    by_order = {t.follower_order_id: t for t in trades}
    for order_id, fee, currency, price, at in fill_rows:
        instrument = by_order[order_id].instrument
        with exact():
            fees[order_id] = fees.get(order_id, ZERO) + fee_in_quote(
                fee=fee, fee_currency=currency, base=instrument.base_currency,
                quote=instrument.quote_currency, price=price,
            )  # fmt: skip
        last_fill[order_id] = max(at, last_fill.get(order_id, at))
    instruments = {t.instrument_id: t.instrument for t in trades}
    prices = end_prices(instruments, end)
    legs = []
    for trade in trades:
        order, fill = trade.follower_order, trade.leader_fill
        price = prices[trade.instrument_id]
        if price is None:  # never marked: valued at what it traded at
            price = trade.leader_price or (order.average_fill_price if order else None) or ZERO
            prices[trade.instrument_id] = price
        leader_fee = ZERO
        if fill is not None:
            leader_fee = fee_in_quote(
                fee=fill.fee, fee_currency=fill.fee_currency,
                base=trade.instrument.base_currency, quote=trade.instrument.quote_currency,
                price=fill.price,
            )  # fmt: skip
        legs.append(
            CopyLeg(
                side=Side(trade.side), end_price=price,
                intended_quantity=trade.intended_quantity,
                ordered_quantity=trade.quantity,
                filled_quantity=order.filled_quantity if order else ZERO,
                follower_price=order.average_fill_price if order else None,
                follower_fee=fees.get(trade.follower_order_id, ZERO),
                leader_quantity=fill.quantity if fill else None,
                leader_price=fill.price if fill else trade.leader_price,
                leader_fee=leader_fee,
                skipped=order is None,
                close=trade.kind == CopyTradeKind.CLOSE,
                leader_at=fill.filled_at if fill else None,
                follower_at=last_fill.get(trade.follower_order_id),
            )
        )  # fmt: skip
    return DriftReport(
        subscription_id=subscription.pk,
        start=start,
        end=end,
        capital=subscription.start_capital,
        end_prices={instruments[pk].symbol: p for pk, p in prices.items() if p is not None},
        ledger=drift_ledger(legs),
    )
