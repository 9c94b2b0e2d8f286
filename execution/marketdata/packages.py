"""Real market data shipped inside packages from PyPI, read from the installed package at run
time (never copied into this repository: backtesting's files are AGPL-3.0).

- backtesting:EURUSD, :GOOG, :BTCUSD: backtesting (AGPL-3.0); 5,000 hourly, 2,148 daily and
  156 monthly bars.
- arch:sp500, arch:nasdaq: arch (NCSA); the S&P 500 and the NASDAQ Composite, 5,031 daily bars
  each, 1999-2018.
- bokeh:AAPL, :IBM, :MSFT, :GOOG, :FB: bokeh-sampledata (the data is public domain: Quandl's
  WIKI prices); daily bars to March 2013.

Daily bars open at midnight UTC of their trading day (the session's own hours are not in the
files); hourly EURUSD times are taken as UTC. backtesting labels a monthly bar by its last day:
it is stored at the first day of that month, when it opened. bokeh-sampledata's prices are
unadjusted, so AAPL (2:1 in 2000 and 2005) and MSFT (2:1 in 2003) jump at their splits: they
are split-adjusted here (prices before a split divided by its ratio, volumes multiplied), found
where the file's adjusted close steps against its close; dividends are left alone.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information

from execution.domain.values import InstrumentSpec
from execution.marketdata.base import CandleBatch, MarketDataError, Problem, Times
from execution.marketdata.validation import FILE_ROWS, Rows, candles_from_table

# A day's adjusted close moves against its close by a dividend's percent or two; a split moves
# it by its ratio. Anything beyond these bounds is a split.
_SPLIT_STEP_ABOVE = 1.25
_SPLIT_STEP_BELOW = 0.8


def _stock(symbol: str) -> InstrumentSpec:
    # US shares: cents and whole shares.
    return InstrumentSpec(
        symbol=symbol,
        base=symbol,
        quote="USD",
        tick_size=Decimal("0.01"),
        lot_size=Decimal(1),
        min_quantity=Decimal(1),
    )


# The grids of instruments an import creates (an existing instrument keeps its own).
EURUSD = InstrumentSpec(
    # Quoted to the fifth decimal (a tenth of a pip), as in the file; traded in micro lots.
    symbol="EURUSD",
    base="EUR",
    quote="USD",
    tick_size=Decimal("0.00001"),
    lot_size=Decimal(1000),
    min_quantity=Decimal(1000),
)
BTCUSD = InstrumentSpec(
    symbol="BTCUSD",
    base="BTC",
    quote="USD",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.00000001"),  # one satoshi
    min_quantity=Decimal("0.00000001"),
)
# Indices are not traded: their grids only serve charts and backtests of index-like products.
SPX = InstrumentSpec(
    symbol="SPX",
    base="SPX",
    quote="USD",
    tick_size=Decimal("0.01"),
    lot_size=Decimal(1),
    min_quantity=Decimal(1),
)
IXIC = InstrumentSpec(
    symbol="IXIC",
    base="IXIC",
    quote="USD",
    tick_size=Decimal("0.01"),
    lot_size=Decimal(1),
    min_quantity=Decimal(1),
)


@dataclass(frozen=True, slots=True)
class PackageSeries:
    """One series a package ships, as a Loader of candles."""

    name: str
    instrument: InstrumentSpec
    interval: str
    distribution: str  # the package on PyPI
    licence: str
    read: Callable[[PackageSeries], CandleBatch]

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    def batches(self) -> Iterator[CandleBatch]:
        yield self.read(self)


def _package_dir(distribution: str, module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MarketDataError(
            distribution,
            [Problem("the package", "*", f"not installed: pip install {distribution}")],
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _month_start(labels: Times) -> Times:
    start: Times = labels.astype("datetime64[M]").astype("datetime64[us]")
    return start


def _read_backtesting(series: PackageSeries) -> CandleBatch:
    # Found without importing backtesting (which loads bokeh and its plotting stack).
    path = _package_dir("backtesting", "backtesting") / "test" / f"{series.instrument.symbol}.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    return candles_from_table(
        table,
        interval=series.interval,
        source=f"{series.name} ({path})",
        rows=FILE_ROWS,
        open_time_of=_month_start if series.interval == "1M" else None,
    )


def _read_arch(series: PackageSeries) -> CandleBatch:
    _package_dir("arch", "arch")
    module = importlib.import_module(f"arch.data.{series.name.split(':')[1]}")
    return candles_from_table(
        module.load().reset_index(), interval=series.interval, source=series.name, rows=Rows()
    )


def split_adjusted(table: Any) -> Any:
    """Daily bars with their stock splits undone, from a table with open, high, low, close,
    volume and adj_close columns (unadjusted prices and the source's adjusted close).

    Across a split the ratio adj_close / close steps by the split's ratio; a dividend moves it
    by a percent or two. Prices before each split are divided by its ratio and volumes
    multiplied by it; dividends are not adjusted.
    """
    factor = (table["adj_close"] / table["close"]).to_numpy(dtype=np.float64)
    step = np.ones(len(factor))
    step[1:] = factor[1:] / factor[:-1]
    ratio = np.ones(len(factor))
    at = np.flatnonzero((step > _SPLIT_STEP_ABOVE) | (step < _SPLIT_STEP_BELOW))
    for i in at:
        ratio[i] = float(Fraction(float(step[i])).limit_denominator(10))
    # Each bar is divided by the ratios of every split after it.
    later = np.cumprod(ratio[::-1])[::-1]
    after_bar = np.ones(len(factor))
    after_bar[:-1] = later[1:]
    adjusted = table.copy()
    for column in ("open", "high", "low", "close"):
        adjusted[column] = table[column].to_numpy(dtype=np.float64) / after_bar
    adjusted["volume"] = table["volume"].to_numpy(dtype=np.float64) * after_bar
    return adjusted


def _read_bokeh(series: PackageSeries) -> CandleBatch:
    _package_dir("bokeh-sampledata", "bokeh_sampledata")
    stocks = importlib.import_module("bokeh_sampledata.stocks")
    table = pd.DataFrame(getattr(stocks, series.instrument.symbol))
    return candles_from_table(
        split_adjusted(table), interval=series.interval, source=series.name, rows=Rows()
    )


_BACKTESTING = ("backtesting", "AGPL-3.0 (read from the installed package, never copied)")
_ARCH = ("arch", "NCSA")
_BOKEH = ("bokeh-sampledata", "public domain (Quandl WIKI prices)")

SERIES: dict[str, PackageSeries] = {
    series.name: series
    for series in (
        PackageSeries("backtesting:EURUSD", EURUSD, "1h", *_BACKTESTING, _read_backtesting),
        PackageSeries("backtesting:GOOG", _stock("GOOG"), "1d", *_BACKTESTING, _read_backtesting),
        PackageSeries("backtesting:BTCUSD", BTCUSD, "1M", *_BACKTESTING, _read_backtesting),
        PackageSeries("arch:sp500", SPX, "1d", *_ARCH, _read_arch),
        PackageSeries("arch:nasdaq", IXIC, "1d", *_ARCH, _read_arch),
        *(
            PackageSeries(f"bokeh:{symbol}", _stock(symbol), "1d", *_BOKEH, _read_bokeh)
            for symbol in ("AAPL", "IBM", "MSFT", "GOOG", "FB")
        ),
    )
}
