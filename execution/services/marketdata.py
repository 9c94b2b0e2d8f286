"""Market data into the paper exchange: each snapshot reaches every paper account's engine,
the fills it causes are recorded, the instrument's spread breaker sees its stability, and
positions are marked at the new mid."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

from execution.domain.urgency import book_features
from execution.domain.values import exact
from execution.models import Instrument, Order
from execution.services.breakers import instrument_spread_observe
from execution.services.positions import positions_mark
from execution.services.venues import Level, paper_book, paper_venues, venue_fills_record

_feed_lock = threading.Lock()


def paper_book_update(
    *, symbol: str, bids: Sequence[Level], asks: Sequence[Level], at: datetime | None = None
) -> list[Order]:
    """Apply one L2 snapshot; returns any protective exit orders the new mark triggered."""
    at = at or timezone.now()
    with _feed_lock:  # snapshots of one process apply in order
        for venue in paper_venues(latest_book=(symbol, bids, asks, at)):
            venue_fills_record(venue.update_book(symbol, bids, asks, at), actor="venue:paper")
        market = paper_book(symbol)
    instrument = Instrument.objects.filter(symbol=symbol).first()
    if market is not None and instrument is not None and bids and asks:
        features = book_features(bids=bids, asks=asks, now=at, history=market[1])
        instrument_spread_observe(
            instrument=instrument, stability=features.spread_stability_norm_100, at=at
        )
    with exact():
        mid = (bids[0][0] + asks[0][0]) / 2
    return positions_mark(symbol=symbol, mark_price=mid, marked_at=at, actor="market:paper")
