"""The L2 book at each bar's close, from stored snapshots, for strategies that read it (a
smart_money strategy with ``book_inputs``). The live runner and the backtest read the same
rows through ``bar_books``, so a backtest over the bars the live runner saw decides the same.

The book of a bar is the last snapshot taken inside it ([open, open + interval)): the market
replay stores the one at each bar's close with its candle, and the demo's history has one per
bar (execution.services.replay).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import numpy as np

from execution.domain.errors import DomainError
from execution.models import BookSnapshot
from mlmodels.features import BookSnapshot as Book
from mlmodels.features import OrderBookSeries
from strategies.domain.base import Bar, Signal


@runtime_checkable
class BookReading(Protocol):
    """A strategy (or its live runner) that may need each bar's closing book."""

    @property
    def reads_book(self) -> bool: ...


@runtime_checkable
class LiveBookReading(BookReading, Protocol):
    def on_bar(self, bar: Bar, *, book: Book | None = None) -> Signal | None: ...


@runtime_checkable
class BacktestBookReading(BookReading, Protocol):
    def use_books(self, books: OrderBookSeries) -> None: ...


def bar_books(
    *, instrument_id: int, interval: timedelta, starts: Sequence[datetime]
) -> list[Book | None]:
    """The stored book at the close of each bar opening at ``starts`` (ascending), None for a
    bar without one."""
    books: list[Book | None] = [None] * len(starts)
    if not starts:
        return books
    rows = (
        BookSnapshot.objects.filter(
            instrument_id=instrument_id, taken_at__gte=starts[0], taken_at__lt=starts[-1] + interval
        )
        .order_by("taken_at")
        .values_list("taken_at", "bids", "asks")
    )
    for taken_at, bids, asks in rows:
        bar = bisect_right(starts, taken_at) - 1
        if bar >= 0 and taken_at < starts[bar] + interval and bids and asks:
            books[bar] = Book(
                bid_prices=tuple(float(level[0]) for level in bids),
                bid_sizes=tuple(float(level[1]) for level in bids),
                ask_prices=tuple(float(level[0]) for level in asks),
                ask_sizes=tuple(float(level[1]) for level in asks),
            )
    return books


def book_series(books: Sequence[Book | None], starts: Sequence[datetime]) -> OrderBookSeries:
    """The books as one series (the shallowest book's depth), refusing a bar without one."""
    missing = next((i for i, book in enumerate(books) if book is None), None)
    if missing is not None:
        raise DomainError(
            f"no stored L2 book at the close of the bar of {starts[missing].isoformat()}: a "
            "strategy with book_inputs needs one per bar (the market replay stores them)"
        )
    present = [book for book in books if book is not None]
    depth = min(len(book.bid_prices) for book in present)

    def levels(name: str) -> np.ndarray:
        return np.array([getattr(book, name)[:depth] for book in present], dtype=np.float64)

    return OrderBookSeries(
        bid_prices=levels("bid_prices"),
        bid_sizes=levels("bid_sizes"),
        ask_prices=levels("ask_prices"),
        ask_sizes=levels("ask_sizes"),
    )
