"""Market data into the paper exchange: each snapshot reaches every paper account's engine,
the fills it causes are recorded, and positions are marked at the new mid."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from execution.models import Order
from execution.services.fills import fill_record
from execution.services.positions import positions_mark
from execution.services.venues import paper_venues
from execution.venues.base import VenueFill

Level = tuple[Decimal, Decimal]


def _record(fills: Sequence[VenueFill]) -> None:
    if not fills:
        return
    orders = dict(
        Order.objects.filter(client_order_id__in={f.client_order_id for f in fills}).values_list(
            "client_order_id", "pk"
        )
    )
    for fill in fills:
        fill_record(
            order_id=orders[fill.client_order_id],
            venue_trade_id=fill.venue_trade_id,
            quantity=fill.quantity,
            price=fill.price,
            fee=fill.fee,
            fee_currency=fill.fee_currency,
            liquidity=fill.liquidity,
            filled_at=fill.timestamp,
            actor="venue:paper",
        )


_feed_lock = threading.Lock()


def paper_book_update(
    *, symbol: str, bids: Sequence[Level], asks: Sequence[Level], at: datetime | None = None
) -> list[Order]:
    """Apply one L2 snapshot; returns any protective exit orders the new mark triggered."""
    at = at or timezone.now()
    with _feed_lock:  # snapshots of one process apply in order
        for venue in paper_venues(latest_book=(symbol, bids, asks, at)):
            _record(venue.update_book(symbol, bids, asks, at))
    mid = (bids[0][0] + asks[0][0]) / 2
    return positions_mark(symbol=symbol, mark_price=mid, marked_at=at, actor="market:paper")
