"""Market data into the paper exchange: each snapshot reaches every paper account's engine,
the fills it causes are recorded, and positions are marked at the new mid."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

from execution.domain.values import exact
from execution.models import Order
from execution.services.positions import positions_mark
from execution.services.venues import Level, paper_venues, venue_fills_record

_feed_lock = threading.Lock()


def paper_book_update(
    *, symbol: str, bids: Sequence[Level], asks: Sequence[Level], at: datetime | None = None
) -> list[Order]:
    """Apply one L2 snapshot; returns any protective exit orders the new mark triggered."""
    at = at or timezone.now()
    with _feed_lock:  # snapshots of one process apply in order
        for venue in paper_venues(latest_book=(symbol, bids, asks, at)):
            venue_fills_record(venue.update_book(symbol, bids, asks, at), actor="venue:paper")
    with exact():
        mid = (bids[0][0] + asks[0][0]) / 2
    return positions_mark(symbol=symbol, mark_price=mid, marked_at=at, actor="market:paper")
