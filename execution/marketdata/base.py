"""The loader interface and the columnar batches every source yields.

Times are ``datetime64[us]`` in UTC; prices and sizes float64 (market history is read in bulk
for features and charts; ``Decimal(str(price))`` recovers a price's decimal text).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from execution.domain.errors import DomainError
from execution.domain.values import InstrumentSpec

Times = npt.NDArray[np.datetime64]
Floats = npt.NDArray[np.float64]

# How many problems an error spells out; the rest are counted.
MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the input, where it is: ``row`` such as "line 7" and a column."""

    row: str
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.row}, column {self.column!r}: {self.message}"


class MarketDataError(DomainError):
    """Input refused; ``problems`` lists every problem found, each naming its row and column."""

    def __init__(self, source: str, problems: Sequence[Problem], *, unlisted: int = 0) -> None:
        """``unlisted``: further problems that were counted but not described."""
        self.source = source
        self.problems = tuple(problems)
        listed = [f"  {problem}" for problem in self.problems[:MAX_LISTED_PROBLEMS]]
        hidden = len(self.problems) - len(listed) + unlisted
        if hidden:
            listed.append(f"  ... and {hidden} more")
        count = len(self.problems) + unlisted
        super().__init__(
            f"{source}: {count} problem{'s' if count != 1 else ''}\n" + "\n".join(listed)
        )


@dataclass(frozen=True, slots=True)
class CandleBatch:
    """OHLCV bars of one interval, strictly increasing ``open_time``."""

    interval: str
    open_time: Times
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats

    def __len__(self) -> int:
        return len(self.open_time)


@dataclass(frozen=True, slots=True)
class TradeBatch:
    """Trades printed on a venue, in time order (several may share a time); ``aggressor_side``
    holds "buy" or "sell", ``venue_trade_id`` the venue's id, unique per instrument."""

    traded_at: Times
    price: Floats
    size: Floats
    aggressor_side: npt.NDArray[np.str_]
    venue_trade_id: npt.NDArray[np.str_]

    def __len__(self) -> int:
        return len(self.traded_at)


@dataclass(frozen=True, slots=True)
class BookBatch:
    """L2 snapshots with ``depth`` levels a side: ``bids`` and ``asks`` have the shape
    (snapshots, depth, 2) of [price, size], best first."""

    taken_at: Times
    bids: Floats
    asks: Floats

    @property
    def depth(self) -> int:
        return int(self.bids.shape[1])

    def __len__(self) -> int:
        return len(self.taken_at)


BatchT_co = TypeVar("BatchT_co", CandleBatch, TradeBatch, BookBatch, covariant=True)


class Loader(Protocol[BatchT_co]):
    """A source of market data for one instrument.

    ``batches`` validates as it goes and raises MarketDataError at the first bad batch; the
    caller writes batches in one transaction, so a refused source leaves nothing behind.
    """

    @property
    def name(self) -> str:
        """What the data is, e.g. ``backtesting:EURUSD``."""
        ...

    @property
    def symbol(self) -> str:
        """The instrument the data belongs to."""
        ...

    @property
    def instrument(self) -> InstrumentSpec | None:
        """The grid to create the instrument with if it does not exist yet (None: it must)."""
        ...

    def batches(self) -> Iterator[BatchT_co]: ...
