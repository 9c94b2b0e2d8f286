"""Market data history: bulk import (rows/s) and loading a window of candles (ms).

Runs on the database DATABASE_URL names (PostgreSQL for the figures that matter) in a
throwaway test database, with one-minute candles generated from seed 7. Rows:

- import: the service's path (binary COPY through a staging table on PostgreSQL) beside
  bulk_create, the ORM path SQLite uses, on the same rows;
- window: 100,000 candles out of 1,000,000 stored, through the selector (one bytea packed by
  the server, read by numpy) and, as the baseline, through the ORM (values_list into numpy);
- the storage decision (PostgreSQL only): the same rows copied into a numeric(38,18) table,
  the house type for amounts: its INSERT ... SELECT time and its window beside float8's.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from bench.common import Result

STORED = 1_000_000
WINDOW = 100_000
BULK_CREATE_ROWS = 100_000  # bulk_create is slow: fewer rows, the rate is what counts
BATCH = 100_000
REPEATS = 5
START = datetime(2020, 1, 1, tzinfo=UTC)


class _Generated:
    """A loader of ``count`` one-minute candles: a seeded random walk, as the market gives."""

    name = "bench:generated"
    instrument = None

    def __init__(self, symbol: str, count: int) -> None:
        self.symbol, self.count = symbol, count

    def batches(self) -> Any:
        from execution.marketdata.base import CandleBatch

        rng = np.random.default_rng(7)
        close = np.round(20_000 * np.exp(np.cumsum(rng.normal(0, 1e-3, self.count))), 1)
        open_ = np.concatenate([[close[0]], close[:-1]])
        first = np.datetime64(START.replace(tzinfo=None), "us")
        times = first + np.arange(self.count) * np.timedelta64(60, "s")
        for at in range(0, self.count, BATCH):
            part = slice(at, at + BATCH)
            yield CandleBatch(
                interval="1m",
                open_time=times[part],
                open=open_[part],
                high=np.maximum(open_[part], close[part]) + 0.5,
                low=np.minimum(open_[part], close[part]) - 0.5,
                close=close[part],
                volume=np.round(rng.gamma(2.0, 3.0, len(close[part])), 8),
            )


def _instrument(symbol: str) -> int:
    from execution.models import Instrument

    return Instrument.objects.create(
        symbol=symbol, base_currency=symbol, quote_currency="USD", tick_size=Decimal("0.1"),
        lot_size=Decimal("0.00000001"),
    ).pk  # fmt: skip


def _best_ms(load: Any) -> tuple[float, int]:
    """The median of REPEATS loads, in ms, and the rows loaded."""
    times, rows = [], 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        rows = load()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), rows


def _orm_window(symbol: str, start: datetime, end: datetime) -> int:
    """The baseline: what a plain ORM selector would do."""
    from execution.models import Candle

    rows = list(
        Candle.objects.filter(
            instrument__symbol=symbol, interval="1m", open_time__gte=start, open_time__lt=end
        )
        .order_by("open_time")
        .values_list("open_time", "open", "high", "low", "close", "volume")
    )
    columns = np.array([row[1:] for row in rows], dtype=np.float64)
    return len(columns)


def _numeric_table(source_table: str) -> float:
    """The stored candles copied into a numeric(38,18) table: seconds for INSERT ... SELECT."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_candle_numeric (instrument_id bigint, interval varchar(4), "
            "open_time timestamptz, open numeric(38,18), high numeric(38,18), "
            "low numeric(38,18), close numeric(38,18), volume numeric(38,18), "
            "PRIMARY KEY (instrument_id, interval, open_time))"
        )
        started = time.perf_counter()
        cursor.execute(
            f"INSERT INTO bench_candle_numeric SELECT instrument_id, interval, open_time, "
            f"open, high, low, close, volume FROM {source_table}"
        )
        seconds = time.perf_counter() - started
        cursor.execute("ANALYZE bench_candle_numeric")
    return seconds


def _float_copy_seconds(source_table: str) -> float:
    """The same INSERT ... SELECT into a float8 table like the candles'."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_candle_float (LIKE {source_table} INCLUDING ALL)")
        started = time.perf_counter()
        cursor.execute(f"INSERT INTO bench_candle_float SELECT * FROM {source_table}")
        return time.perf_counter() - started


def _numeric_window(instrument_id: int, start: datetime, end: datetime) -> int:
    """A window of the numeric table read as the selector reads float8, cast there."""
    from django.db import connection

    from execution.marketdata import pgbinary

    columns = ("open", "high", "low", "close", "volume")
    packed = pgbinary.packed_rows_sql(
        "open_time", tuple(f"{c}::float8" for c in columns), order_by="open_time"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {packed} FROM bench_candle_numeric WHERE instrument_id = %s "
            "AND interval = '1m' AND open_time >= %s AND open_time < %s",
            [instrument_id, start, end],
        )
        (data,) = cursor.fetchone()
    times, _ = pgbinary.unpack_rows(data, columns)
    return len(times)


def run() -> list[Result]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings.test")
    import django

    django.setup()
    from django.db import connection, connections, transaction
    from django.test.utils import setup_databases, teardown_databases

    from execution.models import Candle
    from execution.selectors import candle_window
    from execution.services import market_history

    config = setup_databases(verbosity=0, interactive=False)
    postgres = connection.vendor == "postgresql"
    vendor = "PostgreSQL" if postgres else connection.vendor
    results: list[Result] = []
    try:
        _instrument("BENCH")
        started = time.perf_counter()
        market_history.market_history_import(loader=_Generated("BENCH", STORED))
        imported = STORED / (time.perf_counter() - started)
        path = "binary COPY + ON CONFLICT" if postgres else "bulk_create"
        results.append(
            Result(f"candles import, service ({vendor})", imported, "rows/s",
                   note=f"{STORED:,} rows in batches of {BATCH:,}, one transaction; {path}")
        )  # fmt: skip

        if postgres:  # elsewhere the service's path is bulk_create itself
            orm_id = _instrument("ORM")
            batch = next(_Generated("ORM", BULK_CREATE_ROWS).batches())
            with transaction.atomic():
                started = time.perf_counter()
                market_history._candles_bulk_create(orm_id, batch)
                bulk = BULK_CREATE_ROWS / (time.perf_counter() - started)
            results.append(
                Result(f"candles import, bulk_create ({vendor}, baseline)", bulk, "rows/s",
                       note=f"{BULK_CREATE_ROWS:,} rows; the service is {imported / bulk:.1f}x")
            )  # fmt: skip

        again_started = time.perf_counter()
        market_history.market_history_import(loader=_Generated("BENCH", STORED))
        again = STORED / (time.perf_counter() - again_started)
        results.append(
            Result(f"candles re-import, all already stored ({vendor})", again, "rows/s",
                   note="idempotent: adds nothing")
        )  # fmt: skip

        if postgres:
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {Candle._meta.db_table}")
        start = START + timedelta(minutes=STORED // 2)
        end = start + timedelta(minutes=WINDOW)
        fast, rows = _best_ms(
            lambda: len(candle_window(symbol="BENCH", interval="1m", start=start, end=end))
        )
        assert rows == WINDOW, rows
        name = f"candle window {WINDOW:,} of {STORED:,}"
        if not postgres:
            results.append(Result(f"{name}, selector ({vendor})", fast, "ms", note="ORM"))
        else:
            orm, _ = _best_ms(lambda: _orm_window("BENCH", start, end))
            results.append(
                Result(f"{name}, selector ({vendor})", fast, "ms",
                       note=f"packed bytea into numpy; {orm / fast:.1f}x faster than the ORM")
            )  # fmt: skip
            results.append(
                Result(f"{name}, ORM ({vendor}, baseline)", orm, "ms",
                       note="values_list into numpy")
            )  # fmt: skip

        if postgres:
            table = Candle._meta.db_table
            numeric_seconds = _numeric_table(table)
            float_seconds = _float_copy_seconds(table)
            bench_id = Candle.objects.filter(instrument__symbol="BENCH").values_list(
                "instrument_id", flat=True
            )[0]
            numeric, _ = _best_ms(lambda: _numeric_window(bench_id, start, end))
            results.append(
                Result(f"storage: numeric(38,18) INSERT...SELECT of {STORED:,}", numeric_seconds,
                       "s", note=f"float8 (chosen): {float_seconds:.2f} s, "
                       f"{numeric_seconds / float_seconds:.1f}x faster")
            )  # fmt: skip
            results.append(
                Result(f"storage: numeric(38,18) window {WINDOW:,}, packed", numeric, "ms",
                       note=f"float8 (chosen): {fast:.0f} ms, {numeric / fast:.1f}x faster")
            )  # fmt: skip
    finally:
        connections.close_all()
        teardown_databases(config, verbosity=0)
    return results
