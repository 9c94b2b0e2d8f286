"""Writing market data history: candles, trades and L2 book snapshots from any Loader.

One import is one transaction: a batch refused anywhere (by validation, or by a database
check) leaves nothing of the import behind. Importing the same data again adds nothing: rows
already stored (same instrument, interval and open time; same venue trade id; same snapshot
time) are kept as they are.

On PostgreSQL candles travel by binary COPY (built by numpy, no Python object per value) into
a temporary table, then into the table with ON CONFLICT DO NOTHING; trades by text COPY the
same way. Elsewhere (SQLite) new rows are found first and written with bulk_create, so that
the database's checks still apply (SQLite's INSERT OR IGNORE would skip failing checks too).
Measured in bench/bench_marketdata.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.db import connection, transaction

from execution.marketdata import pgbinary
from execution.marketdata.base import (
    BookBatch,
    CandleBatch,
    MarketDataError,
    Problem,
    Times,
    TradeBatch,
)
from execution.marketdata.sources import AnyLoader
from execution.models import BookSnapshot, Candle, Instrument, MarketTrade

_CANDLE_FLOATS = ("open", "high", "low", "close", "volume")
_IN_QUERY_CHUNK = 500  # trade ids per IN (...) lookup on SQLite


@dataclass(frozen=True, slots=True)
class ImportSummary:
    name: str
    symbol: str
    kind: str  # candles, trades or books
    interval: str
    read: int
    added: int
    first: datetime | None
    last: datetime | None
    instrument_created: bool

    @property
    def already_stored(self) -> int:
        return self.read - self.added

    def __str__(self) -> str:
        what = f"{self.symbol} {self.interval} {self.kind}".replace("  ", " ")
        span = ""
        if self.first is not None and self.last is not None:
            span = f", {self.first:%Y-%m-%d %H:%M} to {self.last:%Y-%m-%d %H:%M} UTC"
        created = f" (instrument {self.symbol} created)" if self.instrument_created else ""
        return (
            f"{self.name} -> {what}: {self.read:,} read, {self.added:,} added, "
            f"{self.already_stored:,} already stored{span}{created}"
        )


def _aware(times: Times) -> list[datetime]:
    return [t.replace(tzinfo=UTC) for t in times.astype("datetime64[us]").tolist()]


def _instrument(loader: AnyLoader) -> tuple[Instrument, bool]:
    symbol = loader.symbol
    instrument = Instrument.objects.filter(symbol=symbol).first()
    if instrument is not None:
        return instrument, False
    spec = loader.instrument
    if spec is None:
        raise MarketDataError(
            loader.name,
            [
                Problem(
                    "the request",
                    "symbol",
                    f"there is no instrument {symbol}: create it first, or give its grid "
                    "(tick size and lot size)",
                )
            ],
        )
    instrument = Instrument.objects.create(
        symbol=symbol,
        base_currency=spec.base,
        quote_currency=spec.quote,
        tick_size=spec.tick_size,
        lot_size=spec.lot_size,
        min_quantity=spec.min_quantity,
        min_notional=spec.min_notional,
    )
    return instrument, True


@transaction.atomic
def market_history_import(*, loader: AnyLoader) -> ImportSummary:
    """Store every batch of ``loader``, creating its instrument if it does not exist."""
    instrument, created = _instrument(loader)
    kind, interval, read, added = "candles", "", 0, 0
    first: np.datetime64 | None = None
    last: np.datetime64 | None = None
    for batch in loader.batches():
        if not len(batch):
            continue
        if isinstance(batch, CandleBatch):
            interval, times = batch.interval, batch.open_time
            added += _candles_write(instrument.pk, batch)
        elif isinstance(batch, TradeBatch):
            kind, times = "trades", batch.traded_at
            added += _trades_write(instrument.pk, batch)
        else:
            kind, times = "books", batch.taken_at
            added += _books_write(instrument.pk, batch)
        read += len(batch)
        first = times.min() if first is None else min(first, times.min())
        last = times.max() if last is None else max(last, times.max())
    return ImportSummary(
        name=loader.name,
        symbol=instrument.symbol,
        kind=kind,
        interval=interval,
        read=read,
        added=added,
        first=None if first is None else _aware(np.array([first]))[0],
        last=None if last is None else _aware(np.array([last]))[0],
        instrument_created=created,
    )


# --- candles ----------------------------------------------------------------------------------


def _candles_write(instrument_id: int, batch: CandleBatch) -> int:
    if connection.vendor == "postgresql":
        return _candles_copy(instrument_id, batch)
    return _candles_bulk_create(instrument_id, batch)


def _candles_copy(instrument_id: int, batch: CandleBatch) -> int:
    table = Candle._meta.db_table
    with connection.cursor() as cursor:
        # Per connection; emptied at every commit and before every batch.
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS market_candle_in (open_time timestamptz NOT NULL, "
            "open float8 NOT NULL, high float8 NOT NULL, low float8 NOT NULL, "
            "close float8 NOT NULL, volume float8 NOT NULL) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE market_candle_in")
        columns = ", ".join(("open_time", *_CANDLE_FLOATS))
        statement = f"COPY market_candle_in ({columns}) FROM STDIN (FORMAT BINARY)"
        floats = {name: getattr(batch, name) for name in _CANDLE_FLOATS}
        with cursor.cursor.copy(statement) as copy:
            copy.write(pgbinary.copy_rows(batch.open_time, floats))
        cursor.execute(
            f"INSERT INTO {table} (instrument_id, interval, {columns}) "  # nosec B608: names from the code, values bound
            f"SELECT %s, %s, {columns} FROM market_candle_in "
            "ON CONFLICT (instrument_id, interval, open_time) DO NOTHING",
            [instrument_id, batch.interval],
        )
        return int(cursor.rowcount)


def _candles_bulk_create(instrument_id: int, batch: CandleBatch) -> int:
    times = _aware(batch.open_time)
    stored = set(
        Candle.objects.filter(
            instrument_id=instrument_id,
            interval=batch.interval,
            open_time__gte=times[0],
            open_time__lte=times[-1],
        ).values_list("open_time", flat=True)
    )
    columns = zip(
        times,
        batch.open.tolist(),
        batch.high.tolist(),
        batch.low.tolist(),
        batch.close.tolist(),
        batch.volume.tolist(),
        strict=True,
    )
    new = [
        Candle(
            instrument_id=instrument_id,
            interval=batch.interval,
            open_time=time,
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=volume,
        )
        for time, open_, high, low, close, volume in columns
        if time not in stored
    ]
    Candle.objects.bulk_create(new)
    return len(new)


# --- trades -----------------------------------------------------------------------------------


def _trades_write(instrument_id: int, batch: TradeBatch) -> int:
    if connection.vendor == "postgresql":
        return _trades_copy(instrument_id, batch)
    return _trades_bulk_create(instrument_id, batch)


def _trades_copy(instrument_id: int, batch: TradeBatch) -> int:
    table = MarketTrade._meta.db_table
    columns = "venue_trade_id, traded_at, price, size, aggressor_side"
    times = np.datetime_as_string(batch.traded_at, unit="us").tolist()
    rows = zip(
        batch.venue_trade_id.tolist(),
        (f"{t}Z" for t in times),
        batch.price.tolist(),
        batch.size.tolist(),
        batch.aggressor_side.tolist(),
        strict=True,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS market_trade_in (venue_trade_id text NOT NULL, "
            "traded_at timestamptz NOT NULL, price float8 NOT NULL, size float8 NOT NULL, "
            "aggressor_side text NOT NULL) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE market_trade_in")
        with cursor.cursor.copy(f"COPY market_trade_in ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} (instrument_id, {columns}) "  # nosec B608: names from the code, values bound
            f"SELECT %s, {columns} FROM market_trade_in "
            "ON CONFLICT (instrument_id, venue_trade_id) DO NOTHING",
            [instrument_id],
        )
        return int(cursor.rowcount)


def _trades_bulk_create(instrument_id: int, batch: TradeBatch) -> int:
    ids = batch.venue_trade_id.tolist()
    stored: set[str] = set()
    for start in range(0, len(ids), _IN_QUERY_CHUNK):
        stored.update(
            MarketTrade.objects.filter(
                instrument_id=instrument_id, venue_trade_id__in=ids[start : start + _IN_QUERY_CHUNK]
            ).values_list("venue_trade_id", flat=True)
        )
    rows = zip(
        ids,
        _aware(batch.traded_at),
        batch.price.tolist(),
        batch.size.tolist(),
        batch.aggressor_side.tolist(),
        strict=True,
    )
    new = [
        MarketTrade(
            instrument_id=instrument_id,
            venue_trade_id=trade_id,
            traded_at=time,
            price=price,
            size=size,
            aggressor_side=side,
        )
        for trade_id, time, price, size, side in rows
        if trade_id not in stored
    ]
    MarketTrade.objects.bulk_create(new)
    return len(new)


# --- book snapshots ---------------------------------------------------------------------------


def _books_write(instrument_id: int, batch: BookBatch) -> int:
    # Snapshots come a few at a time: the ORM is fast enough.
    times = _aware(batch.taken_at)
    stored = set(
        BookSnapshot.objects.filter(
            instrument_id=instrument_id, taken_at__gte=min(times), taken_at__lte=max(times)
        ).values_list("taken_at", flat=True)
    )
    levels: list[Any] = [batch.bids.tolist(), batch.asks.tolist()]
    new = [
        BookSnapshot(
            instrument_id=instrument_id,
            taken_at=time,
            depth=batch.depth,
            bids=levels[0][i],
            asks=levels[1][i],
        )
        for i, time in enumerate(times)
        if time not in stored
    ]
    BookSnapshot.objects.bulk_create(new)
    return len(new)
