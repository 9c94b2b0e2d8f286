"""What features are computed from: per-bar candles, and optionally the bar's volume, its trade
flow (buyer- and seller-initiated volume, split at a large-order size) and the L2 book at the
bar's close. ``FeatureInputs`` holds a series (numpy columns), ``FeatureRow`` one live row.

Both are checked when made (finite numbers, positive prices, high >= low, books best first and
not crossed, times strictly increasing), so that bad data fails here with the column and row
named, not later as a silent NaN in a feature.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from execution.domain.errors import DomainError
from mlmodels.features.primitives import FloatArray, IntArray

_Checked = TypeVar("_Checked")


class InvalidFeatureInputs(DomainError):
    """Input data a feature cannot be computed from; the message names the column and row."""


class InputBundle(StrEnum):
    """Columns that come (or are missing) together."""

    CANDLES = "candles"  # time, open, high, low, close: always present
    VOLUME = "volume"  # traded volume of the bar
    TRADES = "trades"  # trade flow of the bar (TradeFlowSeries)
    BOOK = "book"  # the L2 book at the bar's close (OrderBookSeries)


INPUT_BUNDLES: dict[str, InputBundle] = {
    **dict.fromkeys(("time", "open", "high", "low", "close"), InputBundle.CANDLES),
    "volume": InputBundle.VOLUME,
    **dict.fromkeys(
        ("buy_volume", "sell_volume", "trade_count", "large_buy_volume", "large_sell_volume"),
        InputBundle.TRADES,
    ),
    **dict.fromkeys(("bid_prices", "bid_sizes", "ask_prices", "ask_sizes"), InputBundle.BOOK),
}


def _column(values: npt.ArrayLike, name: str, rows: int | None = None) -> FloatArray:
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise InvalidFeatureInputs(f"{name} must be one value per row, got shape {array.shape}")
    if rows is not None and len(array) != rows:
        raise InvalidFeatureInputs(f"{name} has {len(array)} rows, the candles have {rows}")
    _require(np.isfinite(array), name, "is not a finite number")
    return array


def _require(ok: npt.NDArray[np.bool_], name: str, problem: str, *, offset: int = 0) -> None:
    """Raise naming the first row where ``ok`` fails (``offset``: ok[0] is about that row)."""
    if not ok.all():
        row = int(np.argmin(ok.reshape(len(ok), -1).all(axis=1))) + offset
        raise InvalidFeatureInputs(f"{name} at row {row} {problem}")


@dataclass(frozen=True, slots=True)
class TradeFlowSeries:
    """Trade flow per bar: volume that bought at the ask (buyer-initiated) and sold at the bid,
    the number of trades, and the part of each side in trades of at least the large-order size
    (see ``trade_flow_bars``)."""

    buy_volume: FloatArray
    sell_volume: FloatArray
    trade_count: FloatArray
    large_buy_volume: FloatArray
    large_sell_volume: FloatArray

    def __post_init__(self) -> None:
        rows = len(np.asarray(self.buy_volume))
        for name in (
            "buy_volume",
            "sell_volume",
            "trade_count",
            "large_buy_volume",
            "large_sell_volume",
        ):
            column = _column(getattr(self, name), name, rows)
            _require(column >= 0, name, "is negative")
            object.__setattr__(self, name, column)
        _require(self.large_buy_volume <= self.buy_volume, "large_buy_volume", "exceeds buy_volume")
        _require(
            self.large_sell_volume <= self.sell_volume, "large_sell_volume", "exceeds sell_volume"
        )

    def __len__(self) -> int:
        return len(self.buy_volume)

    def rows(self, start: int, stop: int) -> TradeFlowSeries:
        return _unchecked(TradeFlowSeries, *(getattr(self, f)[start:stop] for f in _TRADE_FIELDS))


_TRADE_FIELDS = (
    "buy_volume",
    "sell_volume",
    "trade_count",
    "large_buy_volume",
    "large_sell_volume",
)


@dataclass(frozen=True, slots=True)
class OrderBookSeries:
    """The L2 book at each bar's close: prices and sizes as [rows, levels], best level first,
    every level present with a positive size."""

    bid_prices: FloatArray
    bid_sizes: FloatArray
    ask_prices: FloatArray
    ask_sizes: FloatArray

    def __post_init__(self) -> None:
        shape = np.shape(self.bid_prices)
        for name in ("bid_prices", "bid_sizes", "ask_prices", "ask_sizes"):
            # Column-major: the features read a level at a time, which is then contiguous.
            array = np.asfortranarray(getattr(self, name), dtype=np.float64)
            if array.ndim != 2 or array.shape != shape or shape[1] < 1:
                raise InvalidFeatureInputs(
                    f"{name} must be [rows, levels] like bid_prices {shape}, got {array.shape}"
                )
            _require(np.isfinite(array), name, "is not a finite number")
            _require(array > 0, name, "is not positive")
            object.__setattr__(self, name, array)
        _require(np.diff(self.bid_prices, axis=1) < 0, "bid_prices", "are not best (highest) first")
        _require(np.diff(self.ask_prices, axis=1) > 0, "ask_prices", "are not best (lowest) first")
        _require(self.bid_prices[:, 0] < self.ask_prices[:, 0], "bid_prices", "cross the best ask")

    def __len__(self) -> int:
        return len(self.bid_prices)

    @property
    def levels(self) -> int:
        return int(self.bid_prices.shape[1])

    def rows(self, start: int, stop: int) -> OrderBookSeries:
        return _unchecked(
            OrderBookSeries,
            self.bid_prices[start:stop],
            self.bid_sizes[start:stop],
            self.ask_prices[start:stop],
            self.ask_sizes[start:stop],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureInputs:
    """A series of bars. ``time`` is the bar's close in ns since the epoch, strictly
    increasing; a feature at a row uses that row and earlier ones only."""

    time: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray | None = None
    trades: TradeFlowSeries | None = None
    book: OrderBookSeries | None = None

    def __post_init__(self) -> None:
        time = np.ascontiguousarray(self.time)
        if time.ndim != 1 or not np.issubdtype(time.dtype, np.integer):
            raise InvalidFeatureInputs("time must be integer nanoseconds, one per row")
        time = time.astype(np.int64, copy=False)
        _require(np.diff(time) > 0, "time", "is not after the row before it", offset=1)
        object.__setattr__(self, "time", time)
        rows = len(time)
        for name in ("open", "high", "low", "close"):
            column = _column(getattr(self, name), name, rows)
            _require(column > 0, name, "is not positive")
            object.__setattr__(self, name, column)
        _require(self.high >= np.maximum(self.open, self.close), "high", "is below open or close")
        _require(self.low <= np.minimum(self.open, self.close), "low", "is above open or close")
        if self.volume is not None:
            volume = _column(self.volume, "volume", rows)
            _require(volume >= 0, "volume", "is negative")
            object.__setattr__(self, "volume", volume)
        for name, part in (("trades", self.trades), ("book", self.book)):
            if part is not None and len(part) != rows:
                raise InvalidFeatureInputs(f"{name} has {len(part)} rows, the candles have {rows}")

    def __len__(self) -> int:
        return len(self.time)

    @property
    def bundles(self) -> frozenset[InputBundle]:
        """The bundles present."""
        present = {InputBundle.CANDLES}
        if self.volume is not None:
            present.add(InputBundle.VOLUME)
        if self.trades is not None:
            present.add(InputBundle.TRADES)
        if self.book is not None:
            present.add(InputBundle.BOOK)
        return frozenset(present)

    def rows(self, start: int, stop: int) -> FeatureInputs:
        """Rows [start, stop) (already checked, so not checked again)."""
        return _unchecked(
            FeatureInputs,
            time=self.time[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=None if self.volume is None else self.volume[start:stop],
            trades=None if self.trades is None else self.trades.rows(start, stop),
            book=None if self.book is None else self.book.rows(start, stop),
        )

    def row(self, index: int) -> FeatureRow:
        """One row as live data arrives."""
        trades = self.trades
        book = self.book
        return FeatureRow(
            time=int(self.time[index]),
            open=float(self.open[index]),
            high=float(self.high[index]),
            low=float(self.low[index]),
            close=float(self.close[index]),
            volume=None if self.volume is None else float(self.volume[index]),
            trades=None
            if trades is None
            else TradeFlow(*(float(getattr(trades, f)[index]) for f in _TRADE_FIELDS)),
            book=None
            if book is None
            else BookSnapshot(
                tuple(book.bid_prices[index].tolist()),
                tuple(book.bid_sizes[index].tolist()),
                tuple(book.ask_prices[index].tolist()),
                tuple(book.ask_sizes[index].tolist()),
            ),
        )


def _unchecked(kind: type[_Checked], *args: object, **kwargs: object) -> _Checked:
    """An instance of a checked dataclass without checking again: slices of a checked series."""
    instance = object.__new__(kind)
    names = [f.name for f in dataclasses.fields(kind)]  # type: ignore[arg-type]
    for name, value in [*zip(names, args, strict=False), *kwargs.items()]:
        object.__setattr__(instance, name, value)
    return instance


# -- one live row --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TradeFlow:
    """One bar's trade flow (see ``TradeFlowSeries``)."""

    buy_volume: float
    sell_volume: float
    trade_count: float
    large_buy_volume: float
    large_sell_volume: float

    def __post_init__(self) -> None:
        for name in _TRADE_FIELDS:
            value = getattr(self, name)
            if not (isinstance(value, float | int) and math.isfinite(value) and value >= 0):
                raise InvalidFeatureInputs(f"{name} must be a finite number >= 0, got {value!r}")
        if self.large_buy_volume > self.buy_volume:
            raise InvalidFeatureInputs("large_buy_volume exceeds buy_volume")
        if self.large_sell_volume > self.sell_volume:
            raise InvalidFeatureInputs("large_sell_volume exceeds sell_volume")


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """One L2 book (see ``OrderBookSeries``): prices and sizes per level, best first."""

    bid_prices: tuple[float, ...]
    bid_sizes: tuple[float, ...]
    ask_prices: tuple[float, ...]
    ask_sizes: tuple[float, ...]

    def __post_init__(self) -> None:
        levels = len(self.bid_prices)
        for name in ("bid_prices", "bid_sizes", "ask_prices", "ask_sizes"):
            values = getattr(self, name)
            if len(values) != levels or levels < 1:
                raise InvalidFeatureInputs(f"{name} must have the {levels} levels of bid_prices")
            for value in values:
                if not (isinstance(value, float | int) and math.isfinite(value) and value > 0):
                    raise InvalidFeatureInputs(f"{name} must be finite and > 0, got {value!r}")
        bids, asks = self.bid_prices, self.ask_prices
        for level in range(1, levels):
            if not bids[level] < bids[level - 1]:
                raise InvalidFeatureInputs("bid_prices are not best (highest) first")
            if not asks[level] > asks[level - 1]:
                raise InvalidFeatureInputs("ask_prices are not best (lowest) first")
        if not bids[0] < asks[0]:
            raise InvalidFeatureInputs(f"crossed book: best bid {bids[0]} >= best ask {asks[0]}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureRow:
    """The newest bar, live: the same columns as one row of ``FeatureInputs``."""

    time: int
    open: float
    high: float
    low: float
    close: float
    volume: float | None = None
    trades: TradeFlow | None = None
    book: BookSnapshot | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.time, int):
            raise InvalidFeatureInputs(f"time must be integer nanoseconds, got {self.time!r}")
        for name in ("open", "high", "low", "close"):
            value = getattr(self, name)
            if not (isinstance(value, float | int) and math.isfinite(value) and value > 0):
                raise InvalidFeatureInputs(f"{name} must be finite and > 0, got {value!r}")
        if not self.high >= max(self.open, self.close) or not self.low <= min(
            self.open, self.close
        ):
            raise InvalidFeatureInputs(
                f"high {self.high} and low {self.low} must bracket open {self.open} and "
                f"close {self.close}"
            )
        volume = self.volume
        if volume is not None and not (
            isinstance(volume, float | int) and math.isfinite(volume) and volume >= 0
        ):
            raise InvalidFeatureInputs(f"volume must be a finite number >= 0, got {volume!r}")

    @property
    def bundles(self) -> frozenset[InputBundle]:
        present = {InputBundle.CANDLES}
        if self.volume is not None:
            present.add(InputBundle.VOLUME)
        if self.trades is not None:
            present.add(InputBundle.TRADES)
        if self.book is not None:
            present.add(InputBundle.BOOK)
        return frozenset(present)


# -- from trades to bars -------------------------------------------------------------------


def trade_flow_bars(
    *,
    bar_time: npt.ArrayLike,
    trade_time: npt.ArrayLike,
    trade_size: npt.ArrayLike,
    trade_is_buy: npt.ArrayLike,
    large_order_threshold: float,
) -> TradeFlowSeries:
    """Aggregate individual trades into per-bar flow. A trade belongs to the first bar whose
    close time is at or after it (bar t covers (time[t-1], time[t]]); trades after the last
    bar's close are left out (their bar has not closed). A trade of at least
    ``large_order_threshold`` (base units) counts as large."""
    bars = np.asarray(bar_time, dtype=np.int64)
    times = np.asarray(trade_time, dtype=np.int64)
    sizes = _column(trade_size, "trade_size")
    buys = np.asarray(trade_is_buy, dtype=bool)
    if not (len(times) == len(sizes) == len(buys)):
        raise InvalidFeatureInputs("trade_time, trade_size and trade_is_buy differ in length")
    if not large_order_threshold > 0:
        raise InvalidFeatureInputs("large_order_threshold must be greater than zero")
    _require(sizes > 0, "trade_size", "is not positive")
    bar = np.searchsorted(bars, times, side="left")
    closed = bar < len(bars)
    bar, sizes, buys = bar[closed], sizes[closed], buys[closed]
    large = sizes >= large_order_threshold
    count = len(bars)

    def total(mask: npt.NDArray[np.bool_]) -> FloatArray:
        return np.bincount(bar[mask], weights=sizes[mask], minlength=count).astype(np.float64)

    return TradeFlowSeries(
        buy_volume=total(buys),
        sell_volume=total(~buys),
        trade_count=np.bincount(bar, minlength=count).astype(np.float64),
        large_buy_volume=total(buys & large),
        large_sell_volume=total(~buys & large),
    )
