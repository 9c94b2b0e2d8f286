"""Any ccxt exchange (OKX by default): historical candles and trades, page by page, and live
L2 book snapshots. Public endpoints only: no API key.

ccxt's own rate limiter spaces the requests; a request refused for its rate or lost on the
network is retried a few times with growing pauses before the import gives up. Every page
passes the same validation as a file. The candle still forming is left out: it would be
stored with figures that later change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ccxt
import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information

from execution.domain.errors import DomainError
from execution.domain.values import InstrumentSpec
from execution.marketdata.base import BookBatch, CandleBatch, MarketDataError, Problem, TradeBatch
from execution.marketdata.validation import (
    CANDLE_COLUMNS,
    Rows,
    books_from_levels,
    candles_from_table,
    trades_from_table,
)

DEFAULT_EXCHANGE = "okx"
CANDLES_PER_PAGE = 100  # OKX's most for history candles
TRADES_PER_PAGE = 100  # OKX's most for history trades
RETRIES = 4
# Windows of candles with nothing in them (the market was shut, or not listed yet) in a row
# before the import stops looking further.
MAX_EMPTY_PAGES = 10

Sleep = Callable[[float], None]


def public_exchange(exchange_id: str = DEFAULT_EXCHANGE) -> Any:
    """A ccxt exchange for public market data, its rate limiter on; no network call yet."""
    exchange_class = getattr(ccxt, exchange_id, None)
    if not (isinstance(exchange_class, type) and issubclass(exchange_class, ccxt.Exchange)):
        raise MarketDataError(
            f"ccxt:{exchange_id}", [Problem("the request", "exchange", "not an exchange ccxt has")]
        )
    exchange = exchange_class({"enableRateLimit": True, "timeout": 10_000})
    if exchange_id == "okx":
        # OKX lists thousands of options otherwise.
        exchange.options["fetchMarkets"] = {"types": ["spot", "swap"]}
    return exchange


@dataclass
class _Client:
    """One exchange, one market: calls with retries, and refusals as MarketDataError."""

    exchange: Any
    symbol: str  # ccxt's unified symbol, e.g. BTC/USDT
    sleep: Sleep = time.sleep
    _market: dict[str, Any] | None = field(default=None, init=False)

    @property
    def name(self) -> str:
        return f"ccxt:{self.exchange.id}:{self.symbol}"

    def refuse(self, column: str, message: str) -> MarketDataError:
        return MarketDataError(self.name, [Problem("the request", column, message)])

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(RETRIES + 1):
            try:
                return getattr(self.exchange, method)(*args, **kwargs)
            except ccxt.NetworkError as error:  # rate limits and timeouts among them
                if attempt == RETRIES:
                    message = f"{method} failed {RETRIES + 1} times: {error}"
                    raise self.refuse("*", message) from None
                self.sleep(max(self.exchange.rateLimit / 1000, 1.0) * 2**attempt)
            except ccxt.BadSymbol:
                message = f"{self.exchange.id} has no market {self.symbol}"
                raise self.refuse("symbol", message) from None
            except ccxt.BaseError as error:
                raise self.refuse("*", f"{method}: {error}") from None
        raise AssertionError("unreachable")

    @property
    def market(self) -> dict[str, Any]:
        if self._market is None:
            self.call("load_markets")
            if self.symbol not in self.exchange.markets:
                raise self.refuse("symbol", f"{self.exchange.id} has no market {self.symbol}")
            self._market = self.exchange.markets[self.symbol]
        return self._market

    def instrument(self) -> InstrumentSpec:
        """The market's grid, as the exchange publishes it."""
        market = self.market
        precision = market["precision"]
        if self.exchange.precisionMode == ccxt.TICK_SIZE:
            tick, lot = Decimal(str(precision["price"])), Decimal(str(precision["amount"]))
        else:  # decimal places
            tick = Decimal(1).scaleb(-int(precision["price"]))
            lot = Decimal(1).scaleb(-int(precision["amount"]))
        smallest = (market.get("limits") or {}).get("amount", {}).get("min")
        try:
            return InstrumentSpec(
                symbol=market["id"],
                base=market["base"],
                quote=market["quote"],
                tick_size=tick.normalize(),
                lot_size=lot.normalize(),
                min_quantity=Decimal(str(smallest)).normalize() if smallest else lot.normalize(),
            )
        except DomainError as error:
            raise self.refuse("symbol", f"the market's grid is unusable: {error}") from None


@dataclass
class _ClientSource:
    """What every ccxt loader says of itself, from its client."""

    client: _Client

    @property
    def name(self) -> str:
        return self.client.name

    @property
    def symbol(self) -> str:
        return str(self.client.market["id"])

    @property
    def instrument(self) -> InstrumentSpec:
        return self.client.instrument()


@dataclass
class CcxtCandles(_ClientSource):
    """Candles from ``since`` up to ``until`` (epoch milliseconds; until defaults to now)."""

    interval: str
    since: int
    until: int | None = None

    def batches(self) -> Iterator[CandleBatch]:
        exchange = self.client.exchange
        if self.interval not in (exchange.timeframes or {}):
            raise self.client.refuse("interval", f"{exchange.id} has no {self.interval} candles")
        step = exchange.parse_timeframe(self.interval) * 1000
        now = exchange.milliseconds()
        end = min(self.until or now, now)
        cursor, page, empty = self.since, 0, 0
        while cursor < end and empty < MAX_EMPTY_PAGES:
            page += 1
            candles = self.client.call(
                "fetch_ohlcv",
                self.client.symbol,
                self.interval,
                since=cursor,
                limit=CANDLES_PER_PAGE,
                # The history endpoint holds every candle, the recent one only the latest.
                params={"type": "HistoryCandles"} if exchange.id == "okx" else {},
            )
            # Finished bars only: the one forming opened less than a step ago.
            rows = [c for c in candles if cursor <= c[0] < end and c[0] + step <= now]
            empty = 0 if candles else empty + 1
            # Past the page's last bar; past the whole window when the page was empty.
            last = candles[-1][0] + step if candles else cursor + CANDLES_PER_PAGE * step
            cursor = max(last, cursor + step)
            if rows:
                yield candles_from_table(
                    pd.DataFrame(rows, columns=list(CANDLE_COLUMNS)),
                    interval=self.interval,
                    source=self.name,
                    rows=Rows(word=f"page {page} row"),
                )


@dataclass
class CcxtTrades(_ClientSource):
    """Trades from ``since`` up to ``until`` (epoch milliseconds; until defaults to now).

    On OKX the history endpoint is paged backwards from the newest trade by trade id; on
    other exchanges forwards from ``since`` by time.
    """

    since: int
    until: int | None = None

    def _batch(self, trades: list[dict[str, Any]], page: int) -> TradeBatch:
        table = pd.DataFrame(
            {
                "time": [t["timestamp"] for t in trades],
                "price": [t["price"] for t in trades],
                "size": [t["amount"] for t in trades],
                "side": [t["side"] for t in trades],
                "trade_id": [t["id"] for t in trades],
            }
        )
        return trades_from_table(table, source=self.name, rows=Rows(word=f"page {page} row"))

    def batches(self) -> Iterator[TradeBatch]:
        end = self.until or self.client.exchange.milliseconds()
        pages = self._okx_pages() if self.client.exchange.id == "okx" else self._pages()
        for page, trades in enumerate(pages, start=1):
            wanted = [t for t in trades if self.since <= t["timestamp"] < end]
            if wanted:
                yield self._batch(wanted, page)

    def _okx_pages(self) -> Iterator[list[dict[str, Any]]]:
        params: dict[str, Any] = {"method": "publicGetMarketHistoryTrades", "type": "1"}
        while True:
            trades = self.client.call(
                "fetch_trades", self.client.symbol, limit=TRADES_PER_PAGE, params=params
            )
            if not trades:
                return
            yield trades
            oldest = min(trades, key=lambda t: (t["timestamp"], int(t["id"])))
            if oldest["timestamp"] < self.since or len(trades) < TRADES_PER_PAGE:
                return
            params = {**params, "after": oldest["id"]}  # the trades before this one

    def _pages(self) -> Iterator[list[dict[str, Any]]]:
        cursor, seen = self.since, set[str]()
        end = self.until or self.client.exchange.milliseconds()
        while cursor < end:
            trades = self.client.call(
                "fetch_trades", self.client.symbol, since=cursor, limit=TRADES_PER_PAGE
            )
            fresh = [t for t in trades if t["id"] not in seen]
            if not fresh:
                return
            seen.update(t["id"] for t in fresh)
            yield fresh
            cursor = max(t["timestamp"] for t in fresh)


@dataclass
class CcxtBooks(_ClientSource):
    """``snapshots`` L2 snapshots of the top ``depth`` levels, ``every`` seconds apart."""

    depth: int = 20
    snapshots: int = 1
    every: float = 1.0

    def batches(self) -> Iterator[BookBatch]:
        for number in range(1, self.snapshots + 1):
            if number > 1:
                self.client.sleep(self.every)
            book = self.client.call("fetch_order_book", self.client.symbol, limit=self.depth)
            taken_at = book.get("timestamp") or self.client.exchange.milliseconds()
            yield books_from_levels(
                [taken_at],
                [book["bids"]],
                [book["asks"]],
                depth=self.depth,
                source=self.name,
                rows=Rows(word="snapshot", first=number),
            )


def ccxt_client(
    symbol: str,
    *,
    exchange: Any | None = None,
    exchange_id: str = DEFAULT_EXCHANGE,
    sleep: Sleep = time.sleep,
) -> _Client:
    """The market ``symbol`` (ccxt's unified form, e.g. BTC/USDT) on an exchange; tests pass
    their own ``exchange``."""
    return _Client(
        exchange=exchange if exchange is not None else public_exchange(exchange_id),
        symbol=symbol,
        sleep=sleep,
    )
