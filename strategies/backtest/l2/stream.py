"""An instrument's L2 market data as one time-ordered stream of integer columns.

Book snapshots and trade prints are kept in ticks and lots (the matching engine's units) and
microseconds since the Unix epoch, so the backtester's event loop and the vectorised
strategies read them without Decimal arithmetic; Decimal appears only at the edges
(``from_events`` in, ``price``/``quantity`` out).

Order: events sort by time; at the same time a snapshot comes before trades, and otherwise
the input order is kept (``simulate_events`` yields a snapshot, then the trades after it).
A snapshot level with zero lots is no level: shallower books pad their rows with zeros.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from execution.domain.errors import DomainError
from execution.domain.marketsim import BookSnapshot, MarketEvent, Trade
from execution.domain.matching import Grid
from execution.domain.values import DOMAIN_CONTEXT, InstrumentSpec, Side

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BOOK = 0  # event kinds
TRADE = 1


def to_datetime(microseconds: int) -> datetime:
    return EPOCH + timedelta(microseconds=microseconds)


def to_microseconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise DomainError(f"time {moment.isoformat()} has no time zone")
    return (moment - EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True, eq=False)
class L2Stream:
    """Snapshots ([S, levels] per side, best level first) and trades of one instrument."""

    spec: InstrumentSpec
    book_us: IntArray
    bid_ticks: IntArray
    bid_lots: IntArray
    ask_ticks: IntArray
    ask_lots: IntArray
    trade_us: IntArray
    trade_ticks: IntArray
    trade_lots: IntArray
    trade_buy: BoolArray  # the aggressor bought
    # The merged stream, derived: per event its time, kind and row in its own arrays.
    times: IntArray = field(init=False)
    kinds: npt.NDArray[np.int8] = field(init=False)
    rows: IntArray = field(init=False)
    last_book: IntArray = field(init=False)  # per event, the event index of the latest snapshot

    def __post_init__(self) -> None:
        books, trades = len(self.book_us), len(self.trade_us)
        shape = self.bid_ticks.shape
        if len(shape) != 2 or shape[0] != books or shape[1] < 1:
            raise DomainError(f"bid_ticks must be [snapshots, levels], got shape {shape}")
        for name in ("bid_lots", "ask_ticks", "ask_lots"):
            if getattr(self, name).shape != shape:
                raise DomainError(f"{name} has shape {getattr(self, name).shape}, not {shape}")
        for name in ("trade_ticks", "trade_lots", "trade_buy"):
            if len(getattr(self, name)) != trades:
                raise DomainError(f"{name} has {len(getattr(self, name))} values, not {trades}")
        if books == 0:
            raise DomainError("an L2 stream needs at least one book snapshot")
        for name, times in (("book_us", self.book_us), ("trade_us", self.trade_us)):
            if len(times) > 1 and bool(np.any(np.diff(times) < 0)):
                raise DomainError(f"{name}: times must not decrease")
        _check_books(self)
        if trades and (bool(np.any(self.trade_ticks <= 0)) or bool(np.any(self.trade_lots <= 0))):
            raise DomainError("every trade needs a positive price and size")
        times = np.concatenate((self.book_us, self.trade_us))
        order = np.argsort(times, kind="stable")  # snapshots first at equal times
        kinds = np.concatenate((np.full(books, BOOK, np.int8), np.full(trades, TRADE, np.int8)))
        rows = np.concatenate((np.arange(books), np.arange(trades)))
        merged_kinds = kinds[order]
        positions = np.where(merged_kinds == BOOK, np.arange(len(order)), -1)
        object.__setattr__(self, "times", times[order])
        object.__setattr__(self, "kinds", merged_kinds)
        object.__setattr__(self, "rows", rows[order].astype(np.int64))
        object.__setattr__(self, "last_book", np.maximum.accumulate(positions))

    def __len__(self) -> int:
        return len(self.times)

    @property
    def mid_ticks(self) -> FloatArray:
        """Each snapshot's mid in ticks (a half tick when the spread is odd)."""
        mids: FloatArray = (self.bid_ticks[:, 0] + self.ask_ticks[:, 0]) / 2.0
        return mids

    def price(self, ticks: int) -> Decimal:
        return DOMAIN_CONTEXT.multiply(ticks, self.spec.tick_size)

    def mid(self, snapshot: int) -> Decimal:
        """A snapshot's mid price, exactly."""
        total = int(self.bid_ticks[snapshot, 0] + self.ask_ticks[snapshot, 0])
        return DOMAIN_CONTEXT.divide(DOMAIN_CONTEXT.multiply(total, self.spec.tick_size), 2)

    def levels(self, snapshot: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """A snapshot's (ticks, lots) bids and asks, best first, as the engine takes them."""
        return (
            _side(self.bid_ticks[snapshot].tolist(), self.bid_lots[snapshot].tolist()),
            _side(self.ask_ticks[snapshot].tolist(), self.ask_lots[snapshot].tolist()),
        )

    @classmethod
    def from_events(cls, events: Iterable[MarketEvent], spec: InstrumentSpec) -> L2Stream:
        """A stream from ``BookSnapshot`` and ``Trade`` values (the simulator's, or stored
        rows turned into them); a price off the tick or a size off the lot raises."""
        grid = Grid(spec)
        ticks: dict[Decimal, int] = {}
        lots: dict[Decimal, int] = {}

        def tick(price: Decimal) -> int:
            value = ticks.get(price)
            if value is None:
                value = ticks[price] = grid.ticks(price)
            return value

        def lot(size: Decimal) -> int:
            value = lots.get(size)
            if value is None:
                value = lots[size] = grid.lots(size, field="size")
            return value

        book_us: list[int] = []
        sides: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]] = []
        trade_us: list[int] = []
        trade_rows: list[tuple[int, int, bool]] = []
        for event in events:
            if isinstance(event, BookSnapshot):
                book_us.append(to_microseconds(event.at))
                sides.append(
                    (
                        [(tick(p), lot(s)) for p, s in event.bids],
                        [(tick(p), lot(s)) for p, s in event.asks],
                    )
                )
            elif isinstance(event, Trade):
                trade_us.append(to_microseconds(event.at))
                trade_rows.append((tick(event.price), lot(event.size), event.aggressor is Side.BUY))
            else:
                raise DomainError(f"not a market event: {event!r}")
        depth = max((max(len(b), len(a)) for b, a in sides), default=1)
        arrays = np.zeros((4, len(sides), depth), dtype=np.int64)
        for row, (bids, asks) in enumerate(sides):
            for column, levels in ((0, bids), (2, asks)):
                if levels:
                    arrays[column : column + 2, row, : len(levels)] = np.array(levels).T
        trade_array = np.array(trade_rows, dtype=np.int64).reshape(-1, 3)
        return cls(
            spec=spec,
            book_us=np.array(book_us, dtype=np.int64),
            bid_ticks=arrays[0],
            bid_lots=arrays[1],
            ask_ticks=arrays[2],
            ask_lots=arrays[3],
            trade_us=np.array(trade_us, dtype=np.int64),
            trade_ticks=trade_array[:, 0].copy(),
            trade_lots=trade_array[:, 1].copy(),
            trade_buy=trade_array[:, 2].astype(np.bool_),
        )


def _side(ticks: list[int], lots: list[int]) -> list[tuple[int, int]]:
    return [(price, size) for price, size in zip(ticks, lots, strict=True) if size]


def _check_books(stream: L2Stream) -> None:
    """Every snapshot two-sided, its levels on the grid of ticks and sorted best first, and
    not crossed (the engine refuses such books; better to say so before the run)."""
    for name, ticks, lots, better in (
        ("bid", stream.bid_ticks, stream.bid_lots, -1),
        ("ask", stream.ask_ticks, stream.ask_lots, 1),
    ):
        present = lots > 0
        if bool(np.any(lots < 0)) or bool(np.any(present & (ticks <= 0))):
            raise DomainError(f"{name} levels need positive prices and sizes")
        if not bool(np.all(present[:, 0])):
            row = int(np.flatnonzero(~present[:, 0])[0])
            raise DomainError(f"snapshot {row} has no {name}: a backtest needs two-sided books")
        if bool(np.any(present[:, 1:] & ~present[:, :-1])):
            raise DomainError(f"{name} levels must be contiguous from the best (zero lots last)")
        steps = (ticks[:, 1:] - ticks[:, :-1]) * better
        unsorted = np.any(present[:, 1:] & (steps <= 0), axis=1)
        if bool(np.any(unsorted)):
            row = int(np.flatnonzero(unsorted)[0])
            raise DomainError(
                f"snapshot {row}: {name}s must be sorted best first with one level per price"
            )
    crossed = stream.bid_ticks[:, 0] >= stream.ask_ticks[:, 0]
    if bool(np.any(crossed)):
        row = int(np.flatnonzero(crossed)[0])
        raise DomainError(f"snapshot {row} is crossed: best bid at or above best ask")
