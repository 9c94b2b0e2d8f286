"""Loaders by name: ``backtesting:EURUSD``, ``arch:sp500``, ``bokeh:MSFT`` (packages),
``csv:/path/file.csv`` (a file of one's own) and ``ccxt:okx:BTC/USDT`` (an exchange)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from execution.domain.values import InstrumentSpec
from execution.marketdata.base import (
    BookBatch,
    CandleBatch,
    Loader,
    MarketDataError,
    Problem,
    TradeBatch,
)
from execution.marketdata.exchange import CcxtBooks, CcxtCandles, CcxtTrades, ccxt_client
from execution.marketdata.files import csv_loader
from execution.marketdata.packages import SERIES

Kind = Literal["candles", "trades", "books"]
AnyLoader = Loader[CandleBatch] | Loader[TradeBatch] | Loader[BookBatch]

CCXT_DEFAULT_INTERVAL = "1m"


def _refuse(name: str, column: str, message: str) -> MarketDataError:
    return MarketDataError(name, [Problem("the request", column, message)])


def _millis(when: datetime) -> int:
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def loader_for(
    name: str,
    *,
    kind: Kind = "candles",
    symbol: str | None = None,
    interval: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    instrument: InstrumentSpec | None = None,
    depth: int = 20,
    snapshots: int = 1,
    every: float = 1.0,
) -> AnyLoader:
    """The loader ``name`` stands for; options a source has no use for are refused rather than
    ignored, so that a mistyped command does not quietly import something else."""
    source, _, rest = name.partition(":")
    if source in ("backtesting", "arch", "bokeh"):
        series = SERIES.get(name)
        if series is None:
            known = ", ".join(n for n in SERIES if n.startswith(source + ":"))
            raise _refuse(name, "name", f"no such series (there are {known})")
        if kind != "candles" or symbol or interval or since or until or instrument:
            raise _refuse(name, "options", "a package series takes no options: it is all candles")
        return series
    if source == "csv":
        if not rest or not symbol:
            raise _refuse(name, "symbol", "csv:PATH needs a path and --symbol")
        if kind == "books":
            raise _refuse(name, "kind", "a CSV file holds candles or trades, not books")
        return csv_loader(
            Path(rest), symbol=symbol, kind=kind, interval=interval, instrument=instrument
        )
    if source == "ccxt":
        exchange_id, _, market = rest.partition(":")
        if not exchange_id or not market:
            raise _refuse(name, "name", "expected ccxt:EXCHANGE:SYMBOL, e.g. ccxt:okx:BTC/USDT")
        if symbol or instrument:
            raise _refuse(name, "symbol", "the exchange names its market and grid itself")
        client = ccxt_client(market, exchange_id=exchange_id)
        if kind == "books":
            return CcxtBooks(client, depth=depth, snapshots=snapshots, every=every)
        if since is None:
            raise _refuse(name, "since", f"history from an exchange needs --since ({kind})")
        until_ms = None if until is None else _millis(until)
        if kind == "trades":
            return CcxtTrades(client, since=_millis(since), until=until_ms)
        return CcxtCandles(
            client, interval=interval or CCXT_DEFAULT_INTERVAL, since=_millis(since), until=until_ms
        )
    raise _refuse(name, "name", "expected backtesting:, arch:, bokeh:, csv: or ccxt: first")
