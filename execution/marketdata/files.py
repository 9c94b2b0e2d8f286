"""A CSV file of one's own: candles (time, open, high, low, close, volume) or trades (time,
price, size, side, trade_id), with a header line; column names are matched without regard to
case (``validation.CANDLE_COLUMNS`` and ``TRADE_COLUMNS`` list the names each may go by).

The file is read in chunks, so its size is bounded by the disk, not memory; each chunk is
validated (its order against the previous chunk's last time too) before it is yielded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information

from execution.domain.values import InstrumentSpec
from execution.marketdata.base import CandleBatch, MarketDataError, Problem, TradeBatch
from execution.marketdata.validation import (
    CANDLE_COLUMNS,
    FILE_ROWS,
    TRADE_COLUMNS,
    candles_from_table,
    resolve_columns,
    trades_from_table,
)

CHUNK_ROWS = 250_000


_OPTIONS: dict[str, Any] = {"dtype": str, "keep_default_na": False, "skip_blank_lines": False}


@contextmanager
def _reading(source: str) -> Iterator[None]:
    """File and parser errors as refusals naming where they are."""
    try:
        yield
    except FileNotFoundError:
        raise MarketDataError(source, [Problem("the file", "*", "does not exist")]) from None
    except pd.errors.EmptyDataError:
        raise MarketDataError(source, [Problem("line 1", "*", "the file is empty")]) from None
    except (pd.errors.ParserError, UnicodeDecodeError, IsADirectoryError) as error:
        raise MarketDataError(source, [Problem("the file", "*", str(error))]) from None


def _columns(path: Path, source: str, wanted: dict[str, tuple[str, ...]]) -> dict[str, object]:
    with _reading(source):
        header = pd.read_csv(path, nrows=0, **_OPTIONS)
    return resolve_columns(list(header.columns), wanted, source=source, rows=FILE_ROWS)


def _chunks(path: Path, source: str) -> Iterator[Any]:
    """The rows as text, in chunks; blank lines are kept as rows (refused as missing values)
    so that row numbers stay the file's line numbers."""
    with _reading(source):
        yield from pd.read_csv(path, chunksize=CHUNK_ROWS, **_OPTIONS)


@dataclass(frozen=True, slots=True)
class CsvCandles:
    """Candles of one instrument and interval from a CSV file (a Loader)."""

    path: Path
    symbol: str
    interval: str
    instrument: InstrumentSpec | None = None

    @property
    def name(self) -> str:
        return f"csv:{self.path}"

    def batches(self) -> Iterator[CandleBatch]:
        columns = _columns(self.path, self.name, CANDLE_COLUMNS)
        rows, last = FILE_ROWS, None
        for table in _chunks(self.path, self.name):
            batch = candles_from_table(
                table,
                interval=self.interval,
                source=self.name,
                rows=rows,
                columns=columns,
                after=last,
            )
            if len(batch):
                yield batch
                last = batch.open_time[-1]
            rows = rows.after(len(table))


@dataclass(frozen=True, slots=True)
class CsvTrades:
    """Trades of one instrument from a CSV file (a Loader)."""

    path: Path
    symbol: str
    instrument: InstrumentSpec | None = None

    @property
    def name(self) -> str:
        return f"csv:{self.path}"

    def batches(self) -> Iterator[TradeBatch]:
        columns = _columns(self.path, self.name, TRADE_COLUMNS)
        rows, last = FILE_ROWS, None
        for table in _chunks(self.path, self.name):
            batch = trades_from_table(
                table, source=self.name, rows=rows, columns=columns, after=last
            )
            if len(batch):
                yield batch
                last = np.max(batch.traded_at)
            rows = rows.after(len(table))


def csv_loader(
    path: Path,
    *,
    symbol: str,
    kind: Literal["candles", "trades"],
    interval: str | None = None,
    instrument: InstrumentSpec | None = None,
) -> CsvCandles | CsvTrades:
    if kind == "trades":
        return CsvTrades(path=path, symbol=symbol, instrument=instrument)
    if not interval:
        raise MarketDataError(f"csv:{path}", [Problem("the request", "interval", "missing")])
    return CsvCandles(path=path, symbol=symbol, interval=interval, instrument=instrument)
