"""Which venue an account trades on, and the paper exchange's state in this process."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from execution.domain.errors import DomainError
from execution.models import Account, AccountMode, Instrument
from execution.venues.base import Venue
from execution.venues.paper import PaperVenue

Level = tuple[Decimal, Decimal]
Book = tuple[str, Sequence[Level], Sequence[Level], datetime]

_lock = threading.RLock()
_paper_venues: dict[int, PaperVenue] = {}
_latest_books: dict[str, Book] = {}


def venue_for_account(account: Account) -> Venue:
    """The venue of an account.

    A paper account has its own matching engine (its resting orders and fills) fed with the
    same market data as every other; it lives in this process, which is why `make run` runs
    tasks in-process.
    """
    if account.mode != AccountMode.PAPER:
        raise DomainError(
            f"account {account.name!r} is a live account; no live venue is configured yet"
        )
    with _lock:
        venue = _paper_venues.get(account.pk)
        if venue is None:
            venue = PaperVenue(
                instruments=[i.spec() for i in Instrument.objects.filter(is_active=True)],
                maker_fee_rate=Decimal(settings.PAPER_MAKER_FEE_RATE),
                taker_fee_rate=Decimal(settings.PAPER_TAKER_FEE_RATE),
                seed=account.pk,
                clock=timezone.now,
            )
            for symbol, bids, asks, at in _latest_books.values():
                venue.update_book(symbol, bids, asks, at)
            _paper_venues[account.pk] = venue
    return venue


def paper_venues(*, latest_book: Book | None = None) -> list[PaperVenue]:
    """Every paper venue of this process, after remembering ``latest_book`` for new ones."""
    with _lock:
        if latest_book is not None:
            _latest_books[latest_book[0]] = latest_book
        return list(_paper_venues.values())


def paper_reset() -> None:
    """Forget every paper venue and book of this process (tests start from a clean market)."""
    with _lock:
        _paper_venues.clear()
        _latest_books.clear()
