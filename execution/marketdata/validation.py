"""The rules every batch passes, whatever its source: one function per kind of data turns a
table of raw values (text from a file, or numbers from a package or an exchange) into a batch,
or raises MarketDataError listing each problem with its row and column.

Refused: missing columns, values that are not numbers or times (wrong types), missing values,
NaN or infinite numbers, prices that are not positive, negative volumes, bars whose high is
below their open or close (or low above), timestamps out of order, and repeated timestamps
(candles) or trade ids (trades). Times without a zone are UTC; a column of whole numbers is
epoch milliseconds, as exchanges send them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information

from execution.marketdata.base import (
    MAX_LISTED_PROBLEMS,
    BookBatch,
    CandleBatch,
    Floats,
    MarketDataError,
    Problem,
    Times,
    TradeBatch,
)

Table = Any  # a pandas DataFrame
Bools = npt.NDArray[np.bool_]

# Our column -> the names a table may give it (compared stripped and lower-cased). A CSV
# written by pandas names its index column "" (read back as "Unnamed: 0").
CANDLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "time": ("time", "open_time", "timestamp", "date", "datetime", "", "unnamed: 0"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume", "vol"),
}
TRADE_COLUMNS: dict[str, tuple[str, ...]] = {
    "time": ("time", "traded_at", "timestamp", "datetime", "date"),
    "price": ("price", "px"),
    "size": ("size", "amount", "qty", "quantity", "sz"),
    "side": ("side", "aggressor_side", "taker_side"),
    "trade_id": ("trade_id", "venue_trade_id", "id", "tradeid"),
}


@dataclass(frozen=True, slots=True)
class Rows:
    """How problems name rows: "line 7" of a file whose header is line 1, or "row 3"."""

    word: str = "row"
    first: int = 1  # the number of the first data row
    header: str = "the header"

    def name(self, index: int) -> str:
        return f"{self.word} {self.first + index}"

    def after(self, count: int) -> Rows:
        """The rows of the next chunk, once ``count`` rows were read."""
        return replace(self, first=self.first + count)


FILE_ROWS = Rows(word="line", first=2, header="line 1")


class _Collector:
    """Problems in row order; each check lists its first few and counts the rest."""

    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.found: list[tuple[int, Problem]] = []
        self.unlisted = 0

    def add(
        self, indexes: npt.NDArray[np.intp], column: str, message: Callable[[int], str]
    ) -> None:
        for index in indexes[:MAX_LISTED_PROBLEMS]:
            i = int(index)
            self.found.append((i, Problem(self.rows.name(i), column, message(i))))
        self.unlisted += max(0, len(indexes) - MAX_LISTED_PROBLEMS)

    def header(self, column: str, message: str) -> None:
        self.found.append((-1, Problem(self.rows.header, column, message)))

    def raise_if_any(self, source: str) -> None:
        if not self.found:
            return
        problems = [problem for _, problem in sorted(self.found, key=lambda item: item[0])]
        raise MarketDataError(source, problems, unlisted=self.unlisted)


def resolve_columns(
    header: Sequence[object],
    wanted: Mapping[str, tuple[str, ...]],
    *,
    source: str,
    rows: Rows,
) -> dict[str, object]:
    """Our column name -> the table's; raises naming every missing column."""
    by_name = {str(name).strip().lower(): name for name in header}
    found: dict[str, object] = {}
    problems = _Collector(rows)
    for column, aliases in wanted.items():
        match = next((by_name[alias] for alias in aliases if alias in by_name), None)
        if match is None:
            shown = ", ".join(repr(str(name)) for name in header) or "none"
            problems.header(column, f"missing (the columns are {shown})")
        else:
            found[column] = match
    problems.raise_if_any(source)
    return found


def _text(series: Any) -> npt.NDArray[np.object_]:
    return np.asarray(series.astype(str).str.strip().to_numpy(dtype=object))


def _numbers(series: Any, column: str, problems: _Collector) -> Floats:
    """Finite float64 values; NaN where a problem was recorded."""
    raw = series.to_numpy()
    text: npt.NDArray[np.object_] | None = None
    if raw.dtype.kind in "iuf":
        values = raw.astype(np.float64)
    else:
        text = _text(series)
        parsed = pd.to_numeric(pd.Series(text), errors="coerce")
        values = parsed.to_numpy(dtype=np.float64, na_value=np.nan)

    def message(i: int) -> str:
        shown = "" if text is None else str(text[i])
        if text is not None and shown == "":
            return "missing value"
        if np.isnan(values[i]) and shown.lower() not in ("nan", "+nan", "-nan", ""):
            return f"{shown!r} is not a number"
        return "NaN (not a number)" if np.isnan(values[i]) else f"{values[i]} is not finite"

    problems.add(np.flatnonzero(~np.isfinite(values)), column, message)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(values), values, np.nan)


def _times(series: Any, column: str, problems: _Collector) -> Times:
    """UTC datetime64[us]; NaT where a problem was recorded."""
    if series.dtype.kind == "M" or isinstance(series.dtype, pd.DatetimeTZDtype):
        parsed = pd.to_datetime(series, utc=True)
        text = _text(series)
    else:
        text = _text(series)
        strings = pd.Series(text)
        whole = strings.str.fullmatch(r"\d+").to_numpy(dtype=bool)
        parsed = pd.to_datetime(strings.where(~whole), utc=True, format="ISO8601", errors="coerce")
        if whole.any():
            millis = pd.to_numeric(strings.where(whole), errors="coerce")
            from_millis = pd.to_datetime(millis, unit="ms", utc=True, errors="coerce")
            parsed = parsed.where(~whole, from_millis)
    times: Times = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")

    def message(i: int) -> str:
        return "missing value" if text[i] in ("", "nan", "NaT") else f"{text[i]!r} is not a time"

    problems.add(np.flatnonzero(np.isnat(times)), column, message)
    return times


def _when(time: np.datetime64) -> str:
    return str(np.datetime_as_string(time, unit="s")).replace("T", " ")


def _shown(value: np.float64 | float) -> str:
    return repr(float(value))


def _positive(values: Floats, column: str, problems: _Collector) -> None:
    with np.errstate(invalid="ignore"):  # NaN marks rows already refused
        bad = np.flatnonzero(values <= 0)
    problems.add(bad, column, lambda i: f"{_shown(values[i])} is not positive")


def _time_order(
    times: Times,
    problems: _Collector,
    *,
    strict: bool,
    after: np.datetime64 | None,
) -> None:
    """Times rise (strictly for candles); ``after`` is the previous chunk's last time."""
    known = np.flatnonzero(~np.isnat(times))
    values = times[known]
    previous = values[:-1]
    current = values[1:]
    at = known[1:]
    before = known[:-1]
    if after is not None and len(known):
        previous = np.concatenate([[after], previous])
        current = values
        at = known
        before = np.concatenate([[-1], known[:-1]])

    def earlier(i: int) -> str:
        return "the previous chunk" if i < 0 else problems.rows.name(i)

    repeats = np.flatnonzero(current == previous) if strict else np.array([], dtype=np.intp)
    problems.add(
        at[repeats],
        "time",
        lambda i: f"{_when(times[i])} repeats {earlier(int(before[np.searchsorted(at, i)]))}",
    )
    backwards = np.flatnonzero(current < previous)
    problems.add(
        at[backwards],
        "time",
        lambda i: (
            f"{_when(times[i])} is earlier than {earlier(int(before[np.searchsorted(at, i)]))}: "
            "rows must be in time order"
        ),
    )


def candles_from_table(
    table: Table,
    *,
    interval: str,
    source: str,
    rows: Rows = Rows(),
    columns: Mapping[str, object] | None = None,
    open_time_of: Callable[[Times], Times] | None = None,
    after: np.datetime64 | None = None,
) -> CandleBatch:
    """A CandleBatch from a table with time, open, high, low, close and volume columns.

    ``columns`` maps our names to the table's (found by ``resolve_columns`` if not given);
    ``open_time_of`` turns the table's time labels into open times (e.g. month ends into
    month starts) before their order is checked.
    """
    if columns is None:
        columns = resolve_columns(list(table.columns), CANDLE_COLUMNS, source=source, rows=rows)
    problems = _Collector(rows)
    times = _times(table[columns["time"]], "time", problems)
    if open_time_of is not None:
        times = open_time_of(times)
    prices = {
        name: _numbers(table[columns[name]], name, problems)
        for name in ("open", "high", "low", "close", "volume")
    }
    open_, high, low, close = (prices[name] for name in ("open", "high", "low", "close"))
    volume = prices["volume"]
    for name in ("open", "high", "low", "close"):
        _positive(prices[name], name, problems)
    with np.errstate(invalid="ignore"):  # NaN marks rows already refused
        problems.add(
            np.flatnonzero(volume < 0), "volume", lambda i: f"{_shown(volume[i])} is negative"
        )
        # Only rows whose four prices passed: a bad price would be blamed twice.
        priced = (open_ > 0) & (high > 0) & (low > 0) & (close > 0)
        top = np.maximum(open_, close)
        bottom = np.minimum(open_, close)
        problems.add(
            np.flatnonzero(priced & (high < top)),
            "high",
            lambda i: f"{_shown(high[i])} is below the open or close ({_shown(top[i])})",
        )
        problems.add(
            np.flatnonzero(priced & (low > bottom)),
            "low",
            lambda i: f"{_shown(low[i])} is above the open or close ({_shown(bottom[i])})",
        )
    _time_order(times, problems, strict=True, after=after)
    problems.raise_if_any(source)
    return CandleBatch(
        interval=interval,
        open_time=times,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
    )


def trades_from_table(
    table: Table,
    *,
    source: str,
    rows: Rows = Rows(),
    columns: Mapping[str, object] | None = None,
    after: np.datetime64 | None = None,
) -> TradeBatch:
    """A TradeBatch from a table with time, price, size, side and trade_id columns."""
    if columns is None:
        columns = resolve_columns(list(table.columns), TRADE_COLUMNS, source=source, rows=rows)
    problems = _Collector(rows)
    times = _times(table[columns["time"]], "time", problems)
    price = _numbers(table[columns["price"]], "price", problems)
    size = _numbers(table[columns["size"]], "size", problems)
    _positive(price, "price", problems)
    _positive(size, "size", problems)
    side = np.char.lower(_text(table[columns["side"]]).astype(str))
    problems.add(
        np.flatnonzero(~np.isin(side, ["buy", "sell"])),
        "side",
        lambda i: f"{str(side[i])!r} is neither buy nor sell",
    )
    ids = _text(table[columns["trade_id"]]).astype(str)
    problems.add(np.flatnonzero(ids == ""), "trade_id", lambda i: "missing value")
    first_seen = pd.Series(np.arange(len(ids))).groupby(ids).transform("min").to_numpy()
    problems.add(
        np.flatnonzero((first_seen != np.arange(len(ids))) & (ids != "")),
        "trade_id",
        lambda i: f"{str(ids[i])!r} repeats {problems.rows.name(int(first_seen[i]))}",
    )
    _time_order(times, problems, strict=False, after=after)
    problems.raise_if_any(source)
    return TradeBatch(
        traded_at=times, price=price, size=size, aggressor_side=side, venue_trade_id=ids
    )


def _book_side(name: str, levels: Floats, problems: _Collector) -> None:
    """Positive finite prices and sizes, best first (bids falling, asks rising)."""
    complete = ~np.isnan(levels).all(axis=(1, 2))  # short books were refused already
    with np.errstate(invalid="ignore"):
        bad = complete & ~(np.isfinite(levels) & (levels > 0)).all(axis=(1, 2))
        steps = np.diff(levels[:, :, 0], axis=1)
        wrong_way = (steps >= 0) if name == "bids" else (steps <= 0)
    problems.add(np.flatnonzero(bad), name, lambda _: "a price or size is not a positive number")
    problems.add(
        np.flatnonzero(complete & ~bad & wrong_way.any(axis=1)),
        name,
        lambda _: "levels are not in price order, best first",
    )


def books_from_levels(
    taken_at: Sequence[int],
    bids: Sequence[Sequence[Sequence[float]]],
    asks: Sequence[Sequence[Sequence[float]]],
    *,
    depth: int,
    source: str,
    rows: Rows = Rows(word="snapshot"),
) -> BookBatch:
    """A BookBatch from snapshots as exchanges send them: epoch milliseconds and [price, size]
    levels best first; the top ``depth`` levels a side are kept."""
    if depth <= 0:
        raise MarketDataError(source, [Problem("the request", "depth", f"{depth} is not > 0")])
    problems = _Collector(rows)
    count = len(taken_at)
    sides = {"bids": np.full((count, depth, 2), np.nan), "asks": np.full((count, depth, 2), np.nan)}
    for name, books in (("bids", bids), ("asks", asks)):
        short = []
        for i, book in enumerate(books):
            top = [level[:2] for level in book[:depth]]
            if len(top) < depth:
                short.append(i)
            else:
                sides[name][i] = np.asarray(top, dtype=np.float64)
        problems.add(np.array(short, dtype=np.intp), name, lambda _: f"fewer than {depth} levels")
    times = np.asarray(taken_at, dtype=np.int64).astype("datetime64[ms]").astype("datetime64[us]")
    for name, levels in sides.items():
        _book_side(name, levels, problems)
    with np.errstate(invalid="ignore"):
        crossed = np.flatnonzero(sides["bids"][:, 0, 0] >= sides["asks"][:, 0, 0])
    problems.add(crossed, "bids", lambda _: "the best bid is not below the best ask")
    _time_order(times, problems, strict=True, after=None)
    problems.raise_if_any(source)
    return BookBatch(taken_at=times, bids=sides["bids"], asks=sides["asks"])
