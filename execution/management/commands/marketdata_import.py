"""Import market data history: ``manage.py marketdata_import SOURCE [options]``.

    marketdata_import backtesting:EURUSD          # data shipped in packages (--list names them)
    marketdata_import arch:sp500 bokeh:MSFT       # several in one go, each its own transaction
    marketdata_import csv:/data/x.csv --symbol X --interval 1h [--tick-size 0.01 --lot-size 1]
    marketdata_import csv:/data/t.csv --symbol X --kind trades
    marketdata_import ccxt:okx:BTC/USDT --interval 1m --since 2024-01-01 [--until ...]
    marketdata_import ccxt:okx:BTC/USDT --kind trades --since 2024-01-01T12:00
    marketdata_import ccxt:okx:BTC/USDT --kind books --depth 20 --snapshots 10 --every 1

A refused source imports nothing and the command exits with an error listing each problem by
row and column; a second run of the same data adds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from execution.domain.errors import DomainError
from execution.domain.values import InstrumentSpec
from execution.marketdata.exchange import DEFAULT_EXCHANGE
from execution.marketdata.packages import SERIES
from execution.marketdata.sources import loader_for
from execution.selectors import stored_candle_history
from execution.services.market_history import market_history_import


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        message = f"{text!r} is not a date or time (use ISO 8601, e.g. 2024-01-31T12:00)"
        raise CommandError(message) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _amount(text: str | None, name: str) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise CommandError(f"--{name} {text!r} is not a number") from None


class Command(BaseCommand):
    help = "Import candles, trades or L2 book snapshots from packages, a CSV file or ccxt."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "sources",
            nargs="*",
            help="backtesting:EURUSD, arch:sp500, bokeh:MSFT, csv:PATH or ccxt:EXCHANGE:SYMBOL",
        )
        parser.add_argument("--list", action="store_true", help="what can be imported, and what is")
        parser.add_argument("--kind", choices=["candles", "trades", "books"], default="candles")
        parser.add_argument("--symbol", help="the instrument of a CSV file")
        parser.add_argument("--interval", help="candle interval: 1m, 5m, 1h, 1d, 1w, 1M")
        parser.add_argument("--since", help="ccxt: from this UTC time (ISO 8601)")
        parser.add_argument("--until", help="ccxt: up to this UTC time (default: now)")
        parser.add_argument("--tick-size", help="CSV: the grid of a new instrument")
        parser.add_argument("--lot-size", help="CSV: the grid of a new instrument")
        parser.add_argument("--quote", default="USD", help="CSV: quote currency of a new one")
        parser.add_argument("--depth", type=int, default=20, help="ccxt books: levels a side")
        parser.add_argument("--snapshots", type=int, default=1, help="ccxt books: how many")
        parser.add_argument("--every", type=float, default=1.0, help="ccxt books: seconds apart")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            self._list()
            return
        if not options["sources"]:
            raise CommandError("name a source, or --list to see them")
        for name in options["sources"]:
            try:
                loader = loader_for(
                    name,
                    kind=options["kind"],
                    symbol=options["symbol"],
                    interval=options["interval"],
                    since=_moment(options["since"]) if options["since"] else None,
                    until=_moment(options["until"]) if options["until"] else None,
                    instrument=self._new_instrument(options),
                    depth=options["depth"],
                    snapshots=options["snapshots"],
                    every=options["every"],
                )
                summary = market_history_import(loader=loader)
            except DomainError as error:
                raise CommandError(f"{error}\nNothing was imported from {name}.") from None
            self.stdout.write(str(summary))

    def _new_instrument(self, options: dict[str, Any]) -> InstrumentSpec | None:
        tick = _amount(options["tick_size"], "tick-size")
        lot = _amount(options["lot_size"], "lot-size")
        if tick is None and lot is None:
            return None
        if tick is None or lot is None or not options["symbol"]:
            raise CommandError("a new instrument needs --symbol, --tick-size and --lot-size")
        symbol = options["symbol"]
        base, _, quote = symbol.replace("/", "-").partition("-")
        return InstrumentSpec(
            symbol=symbol,
            base=base,
            quote=quote or options["quote"],
            tick_size=tick,
            lot_size=lot,
            min_quantity=lot,
        )

    def _list(self) -> None:
        self.stdout.write("From packages (read from the installed package at run time):")
        for series in SERIES.values():
            spec = series.instrument
            self.stdout.write(
                f"  {series.name:<20} {series.interval:<3} -> {spec.symbol} "
                f"(tick {spec.tick_size:f}, lot {spec.lot_size:f})  "
                f"{series.distribution}: {series.licence}"
            )
        self.stdout.write("Also: csv:PATH --symbol S [--interval I | --kind trades]")
        self.stdout.write(
            f"      ccxt:EXCHANGE:SYMBOL (e.g. ccxt:{DEFAULT_EXCHANGE}:BTC/USDT) "
            "--since T [--interval I | --kind trades | --kind books]"
        )
        stored = stored_candle_history()
        self.stdout.write("Stored candles:" if stored else "No candles stored yet.")
        for item in stored:
            self.stdout.write(
                f"  {item.symbol:<12} {item.interval:<3} {item.candles:>10,}  "
                f"{item.first:%Y-%m-%d %H:%M} to {item.last:%Y-%m-%d %H:%M} UTC"
            )
