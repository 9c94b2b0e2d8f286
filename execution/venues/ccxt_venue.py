"""A live exchange account through ccxt: the ``Venue`` protocol over a ccxt exchange object.

Units are ccxt's: quantities are in base currency for spot and in contracts for derivatives, so
an ``InstrumentSpec`` for a swap gives its lot size in contracts, and positions come back in
contracts with ``cost_basis`` = contracts x entry price.

What goes out is checked, what comes in is recorded as it is. A request whose quantity or price
is off the instrument's grid (ours or the exchange's) is refused before any call, because ccxt
would silently round it. A fill the exchange reports is converted exactly (``str`` of ccxt's
number, never a float kept) and never refused: money that moved is not dropped.

Errors: ccxt's network errors (timeouts, exchange unavailable, DDoS protection) raise
``VenueTimeout``: the request may or may not have acted, and the caller settles the order with
``fetch_order`` by client order id, never by resending. Every other ccxt error raises
``VenueError`` with the exchange's own message. No message or log record carries credentials:
ccxt logs request headers (OKX sends the key and passphrase there) at debug level, so the
exchange's logger is replaced by one that redacts them.

Limits, kept out on purpose: market and limit orders only (stop orders go through OKX's
separate algo endpoints), and ``submit`` returns the exchange's acknowledgement (OKX answers with
ids only: status ``submitted``, no fills); fills arrive through ``fetch_order``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import ccxt

from execution.domain.errors import DomainError
from execution.domain.orders import (
    CLIENT_ORDER_ID,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from execution.domain.positions import PositionState
from execution.domain.values import ZERO, InstrumentSpec, Liquidity, Side, exact, plain, to_decimal
from execution.venues.base import VenueError, VenueFill, VenueOrderReport, VenueTimeout

logger = logging.getLogger(__name__)

# The request parameter that carries our client order id; ccxt's unified name elsewhere.
_CLIENT_ORDER_ID_PARAM = {"okx": "clOrdId", "myokx": "clOrdId", "okxus": "clOrdId"}
_UNIFIED_CLIENT_ORDER_ID = "clientOrderId"
_OKX_FILLS_PAGE = 100  # OKX's page size for /trade/fills-history
_MAX_FILL_PAGES = 100
_CREDENTIAL_ATTRIBUTES = ("apiKey", "secret", "password", "uid", "privateKey", "token")
_SENSITIVE_HEADER_PARTS = ("key", "sign", "passphrase", "secret", "token", "auth")
_REDACTED = "***"


def ccxt_exchange(
    exchange_id: str = "okx",
    *,
    api_key: str,
    secret: str,
    password: str | None = None,
    sandbox: bool = False,
    timeout_ms: int = 10_000,
    market_types: Sequence[str] = ("spot", "swap"),
) -> Any:
    """Build a ccxt exchange with its own rate limiter on; no network call happens here.

    OKX needs the API key's passphrase as ``password``. ``sandbox`` switches to the exchange's
    demo trading. ``market_types`` limits which markets ``load_markets`` fetches (OKX lists
    thousands of options otherwise).
    """
    exchange_class = getattr(ccxt, exchange_id, None)
    if not (isinstance(exchange_class, type) and issubclass(exchange_class, ccxt.Exchange)):
        raise VenueError(f"ccxt has no exchange called {exchange_id!r}")
    if timeout_ms <= 0:
        raise VenueError(f"timeout_ms must be positive, got {timeout_ms}")
    exchange = exchange_class(
        {
            "apiKey": api_key,
            "secret": secret,
            "password": password or "",
            "enableRateLimit": True,
            "timeout": timeout_ms,
            "verbose": False,
        }
    )
    if exchange.requiredCredentials.get("password") and not password:
        raise VenueError(f"{exchange_id} needs the API key's passphrase (password)")
    if exchange_id in _CLIENT_ORDER_ID_PARAM:
        exchange.options["fetchMarkets"] = {"types": list(market_types)}
    if sandbox:
        exchange.set_sandbox_mode(True)
    guard_logging(exchange)
    return exchange


class _RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """ccxt's logger, minus the credentials: ccxt logs every request's headers at debug."""

    def __init__(self, exchange: Any) -> None:
        super().__init__(logging.getLogger("ccxt.base.exchange"), {})
        self._exchange = exchange

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % tuple(_redact_headers(arg) for arg in args) if args else str(msg)
        self.logger.log(level, "%s", redact(text, self._exchange), **kwargs)


def guard_logging(exchange: Any) -> None:
    """Route the exchange's log records through the redacting logger (idempotent)."""
    if not isinstance(exchange.logger, _RedactingLogger):
        exchange.logger = _RedactingLogger(exchange)


def redact(text: str, exchange: Any) -> str:
    """The text with every credential the exchange holds replaced by ``***``."""
    for attribute in _CREDENTIAL_ATTRIBUTES:
        value = getattr(exchange, attribute, None)
        if isinstance(value, str) and value:
            text = text.replace(value, _REDACTED)
    return text


def _redact_headers(value: object) -> object:
    if not isinstance(value, Mapping):
        return value
    return {
        key: _REDACTED
        if any(part in str(key).lower() for part in _SENSITIVE_HEADER_PARTS)
        else item
        for key, item in value.items()
    }


class CcxtVenue:
    """One exchange account through an already-built ccxt exchange (see ``ccxt_exchange``).

    ``symbols`` maps our symbols ("BTC-USDT") to ccxt's unified ones ("BTC/USDT"); every
    instrument needs an entry. Cancel, amend and fetch take only a client order id, but the
    exchange wants the instrument too: it comes from ``order_symbol`` (wire it to the order
    table), else from orders this object submitted, else each configured instrument is asked in
    turn.
    """

    def __init__(
        self,
        *,
        exchange: Any,
        instruments: Iterable[InstrumentSpec],
        symbols: Mapping[str, str],
        clock: Callable[[], datetime] | None = None,
        order_symbol: Callable[[str], str | None] | None = None,
    ) -> None:
        if not isinstance(exchange, ccxt.Exchange):
            raise VenueError(f"expected a ccxt exchange, got {type(exchange).__name__}")
        if exchange.verbose:
            raise VenueError("ccxt's verbose mode prints request headers with credentials")
        self._exchange = exchange
        self._name = str(exchange.id)
        self._specs = {spec.symbol: spec for spec in instruments}
        missing = sorted(set(self._specs) - set(symbols))
        if missing:
            raise VenueError(f"no ccxt symbol given for {', '.join(missing)}")
        self._to_ccxt = {ours: symbols[ours] for ours in self._specs}
        self._from_ccxt = {theirs: ours for ours, theirs in self._to_ccxt.items()}
        self._clock = clock or (lambda: datetime.now(UTC))
        self._order_symbol = order_symbol
        self._known_symbols: dict[str, str] = {}
        guard_logging(exchange)

    # -- Venue ---------------------------------------------------------------------------------

    def submit(self, request: OrderRequest, *, client_order_id: str) -> VenueOrderReport:
        if not CLIENT_ORDER_ID.fullmatch(client_order_id):
            raise VenueError(f"client order id {client_order_id!r} must be 1-32 letters and digits")
        spec = self._spec(request.symbol)
        ccxt_symbol = self._to_ccxt[spec.symbol]
        with self._translated(f"submitting order {client_order_id}", client_order_id):
            market = self._market(ccxt_symbol)
            amount, price, params = self._order_arguments(request, spec, market)
            params[self._client_id_param()] = client_order_id
            self._known_symbols[client_order_id] = spec.symbol
            order = self._exchange.create_order(
                ccxt_symbol, str(request.order_type), str(request.side), amount, price, params
            )
        return self._report(order, client_order_id, spec.symbol, (), fallback=request.quantity)

    def cancel(self, client_order_id: str) -> VenueOrderReport:
        symbol = self._symbol_of(client_order_id)
        ccxt_symbol = self._to_ccxt[symbol]
        with self._translated(f"cancelling order {client_order_id}", client_order_id):
            self._exchange.cancel_order(None, ccxt_symbol, self._by_client_id(client_order_id))
        return self._fetched(client_order_id, symbol)

    def amend(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
    ) -> VenueOrderReport:
        if quantity is None and price is None:
            raise VenueError(f"amending order {client_order_id}: give a new quantity or price")
        if self._exchange.has.get("editOrder") is not True:
            raise VenueError(
                f"{self._name} cannot amend orders: cancel the order and submit a new one"
            )
        symbol = self._symbol_of(client_order_id)
        spec, ccxt_symbol = self._specs[symbol], self._to_ccxt[symbol]
        with self._translated(f"amending order {client_order_id}", client_order_id):
            current = self._fetch(client_order_id, ccxt_symbol)
            if current is None:
                raise VenueError(f"unknown order {client_order_id}: {self._name} does not have it")
            new_amount = None if quantity is None else self._amount(spec, ccxt_symbol, quantity)
            new_price = None if price is None else self._price(spec, ccxt_symbol, price)
            self._exchange.edit_order(
                current.get("id"),
                ccxt_symbol,
                current.get("type") or "limit",
                current.get("side"),
                new_amount,
                new_price,
                self._by_client_id(client_order_id),
            )
        return self._fetched(client_order_id, symbol)

    def fetch_order(self, client_order_id: str) -> VenueOrderReport | None:
        symbol = self._lookup_symbol(client_order_id)
        candidates = [symbol] if symbol is not None else list(self._to_ccxt)
        for candidate in candidates:
            report = self._fetched_or_none(client_order_id, candidate, with_fills=True)
            if report is not None:
                self._known_symbols[client_order_id] = candidate
                return report
        return None

    def open_orders(self, symbol: str | None = None) -> list[VenueOrderReport]:
        ccxt_symbol = None if symbol is None else self._to_ccxt[self._spec(symbol).symbol]
        with self._translated("listing open orders"):
            orders = self._exchange.fetch_open_orders(ccxt_symbol)
        reports = []
        for order in orders:
            ours = self._from_ccxt.get(order.get("symbol"))
            client_order_id = order.get("clientOrderId")
            if ours is None or not client_order_id:
                # Placed outside this platform (or on an instrument it does not trade):
                # reconciliation sees it in the balances; it has no client order id to report.
                logger.warning(
                    "%s open order %s (%s) is not one of ours; left out",
                    self._name,
                    order.get("id"),
                    order.get("symbol"),
                )
                continue
            self._known_symbols[client_order_id] = ours
            reports.append(self._report(order, client_order_id, ours, ()))
        return reports

    def balances(self) -> dict[str, Decimal]:
        """Each currency's total (free + in open orders), as the exchange reports it."""
        with self._translated("fetching balances"):
            totals = self._exchange.fetch_balance().get("total") or {}
        return {
            currency: _decimal(amount, f"{currency} balance")
            for currency, amount in totals.items()
            if amount is not None
        }

    def positions(self) -> dict[str, PositionState]:
        """Open derivative positions (spot holdings are balances, not positions).

        Quantity is signed, in contracts; cost basis is quantity x the exchange's average entry
        price. Realized P&L and fees are the platform's own record (from fills), left at zero.
        """
        with self._translated("fetching positions"):
            markets = self._exchange.load_markets()
            contracts = [s for s in self._from_ccxt if markets.get(s, {}).get("contract")]
            if not contracts:
                return {}
            rows = self._exchange.fetch_positions(contracts)
        positions: dict[str, PositionState] = {}
        for row in rows:
            ours = self._from_ccxt.get(row.get("symbol"))
            size = _decimal(row.get("contracts") or 0, "position size")
            if ours is None or not size:
                continue
            quantity = -size if row.get("side") == "short" else size
            entry = _decimal(row.get("entryPrice") or 0, "entry price")
            with exact():
                positions[ours] = PositionState(quantity=quantity, cost_basis=quantity * entry)
        return positions

    # -- internals -----------------------------------------------------------------------------

    def _order_arguments(
        self, request: OrderRequest, spec: InstrumentSpec, market: Mapping[str, Any]
    ) -> tuple[str, str | None, dict[str, Any]]:
        ccxt_symbol = self._to_ccxt[spec.symbol]
        if request.order_type not in (OrderType.MARKET, OrderType.LIMIT):
            raise VenueError(
                f"{self._name} venue sends market and limit orders only, not {request.order_type}"
            )
        params: dict[str, Any] = {}
        if request.time_in_force is TimeInForce.POST_ONLY:
            params["postOnly"] = True
        elif request.time_in_force is not TimeInForce.GTC:
            params["timeInForce"] = request.time_in_force.upper()
        if request.reduce_only:
            if not market.get("contract"):
                raise VenueError(
                    f"reduce-only applies to derivatives; {spec.symbol} is spot and holds "
                    "no position to reduce"
                )
            params["reduceOnly"] = True
        amount = self._amount(spec, ccxt_symbol, request.quantity)
        price = None
        if request.order_type is OrderType.LIMIT:
            if request.price is None:
                raise VenueError("a limit order needs a price")
            price = self._price(spec, ccxt_symbol, request.price)
        return amount, price, params

    def _amount(self, spec: InstrumentSpec, ccxt_symbol: str, quantity: Decimal) -> str:
        try:
            spec.check_quantity(quantity)
        except DomainError as error:
            raise VenueError(str(error)) from error
        text = str(plain(quantity))
        exchange_text = self._exchange.amount_to_precision(ccxt_symbol, text)
        if Decimal(exchange_text) != quantity:
            raise VenueError(
                f"quantity {text} is not on {self._name}'s amount grid for {spec.symbol} "
                f"(it would send {exchange_text}): update the instrument's lot size"
            )
        return text

    def _price(self, spec: InstrumentSpec, ccxt_symbol: str, price: Decimal) -> str:
        try:
            spec.check_price(price)
        except DomainError as error:
            raise VenueError(str(error)) from error
        text = str(plain(price))
        exchange_text = self._exchange.price_to_precision(ccxt_symbol, text)
        if Decimal(exchange_text) != price:
            raise VenueError(
                f"price {text} is not on {self._name}'s price grid for {spec.symbol} "
                f"(it would send {exchange_text}): update the instrument's tick size"
            )
        return text

    def _market(self, ccxt_symbol: str) -> Mapping[str, Any]:
        market = self._exchange.load_markets().get(ccxt_symbol)
        if market is None:
            raise VenueError(
                f"{self._name} does not list {ccxt_symbol}: check the venue's symbol map"
            )
        return cast(Mapping[str, Any], market)

    def _client_id_param(self) -> str:
        return _CLIENT_ORDER_ID_PARAM.get(self._name, _UNIFIED_CLIENT_ORDER_ID)

    def _by_client_id(self, client_order_id: str) -> dict[str, Any]:
        return {self._client_id_param(): client_order_id}

    def _spec(self, symbol: str) -> InstrumentSpec:
        spec = self._specs.get(symbol)
        if spec is None:
            known = ", ".join(sorted(self._specs)) or "nothing"
            raise VenueError(f"unknown symbol {symbol!r}: this venue trades {known}")
        return spec

    def _lookup_symbol(self, client_order_id: str) -> str | None:
        symbol = self._known_symbols.get(client_order_id)
        if symbol is None and self._order_symbol is not None:
            symbol = self._order_symbol(client_order_id)
        return None if symbol is None else self._spec(symbol).symbol

    def _symbol_of(self, client_order_id: str) -> str:
        symbol = self._lookup_symbol(client_order_id)
        if symbol is not None:
            return symbol
        report = self.fetch_order(client_order_id)
        if report is None:
            raise VenueError(f"unknown order {client_order_id}: {self._name} does not have it")
        return report.symbol

    def _fetch(self, client_order_id: str, ccxt_symbol: str) -> dict[str, Any] | None:
        """The exchange's order, or None when it says there is no such order."""
        try:
            return cast(
                dict[str, Any],
                self._exchange.fetch_order(None, ccxt_symbol, self._by_client_id(client_order_id)),
            )
        except ccxt.OrderNotFound:
            return None

    def _fetched(self, client_order_id: str, symbol: str) -> VenueOrderReport:
        """The order's state after a cancel or amend (no fills: the call caused none)."""
        report = self._fetched_or_none(client_order_id, symbol, with_fills=False)
        if report is None:
            raise VenueError(f"unknown order {client_order_id}: {self._name} does not have it")
        return report

    def _fetched_or_none(
        self, client_order_id: str, symbol: str, *, with_fills: bool
    ) -> VenueOrderReport | None:
        ccxt_symbol = self._to_ccxt[symbol]
        with self._translated(f"fetching order {client_order_id}", client_order_id):
            order = self._fetch(client_order_id, ccxt_symbol)
            if order is None:
                return None
            filled = order.get("filled")
            trades = self._order_trades(order, ccxt_symbol) if with_fills and filled else []
        fills = tuple(self._fill(trade, client_order_id, symbol) for trade in trades)
        return self._report(order, client_order_id, symbol, fills)

    def _order_trades(self, order: Mapping[str, Any], ccxt_symbol: str) -> list[dict[str, Any]]:
        """Every fill of the order, oldest first, one per venue trade id."""
        order_id = order.get("id")
        exchange = self._exchange
        if not exchange.has.get("fetchOrderTrades"):
            trades = exchange.fetch_my_trades(ccxt_symbol, order.get("timestamp"))
            return [trade for trade in trades if trade.get("order") == order_id]
        by_id: dict[str, dict[str, Any]] = {}
        params: dict[str, Any] = {}
        for _ in range(_MAX_FILL_PAGES):
            page = exchange.fetch_order_trades(order_id, ccxt_symbol, None, None, params)
            for trade in page:
                by_id.setdefault(str(trade.get("id")), trade)
            # OKX pages newest first by bill id; other exchanges answer in one page here.
            if self._client_id_param() != "clOrdId" or len(page) < _OKX_FILLS_PAGE:
                break
            oldest = min(page, key=lambda trade: int(trade["info"]["billId"]))
            params = {"after": oldest["info"]["billId"]}
        return sorted(by_id.values(), key=lambda trade: trade.get("timestamp") or 0)

    def _fill(self, trade: Mapping[str, Any], client_order_id: str, symbol: str) -> VenueFill:
        fee = trade.get("fee") or {}
        cost = fee.get("cost")
        taker_or_maker = trade.get("takerOrMaker")
        return VenueFill(
            venue_trade_id=str(trade["id"]),
            client_order_id=client_order_id,
            symbol=symbol,
            side=Side(trade["side"]),
            quantity=_decimal(trade["amount"], "fill quantity"),
            price=_decimal(trade["price"], "fill price"),
            # ccxt's fee cost is what was charged (OKX's negative fee flipped); < 0 is a rebate.
            fee=ZERO if cost is None else _decimal(cost, "fee"),
            fee_currency=str(fee.get("currency") or self._specs[symbol].quote),
            # Liquidity unknown counts as taker: the costlier assumption.
            liquidity=Liquidity.MAKER if taker_or_maker == "maker" else Liquidity.TAKER,
            timestamp=_from_ms(trade.get("timestamp")) or self._clock(),
        )

    def _report(
        self,
        order: Mapping[str, Any],
        client_order_id: str,
        symbol: str,
        fills: tuple[VenueFill, ...],
        *,
        fallback: Decimal | None = None,
    ) -> VenueOrderReport:
        amount = order.get("amount")
        if amount is None and fallback is None:
            raise VenueError(f"{self._name} reported order {client_order_id} without a quantity")
        quantity = fallback if amount is None else _decimal(amount, "order quantity")
        assert quantity is not None
        filled = _decimal(order.get("filled") or 0, "filled quantity")
        average = order.get("average")
        info = order.get("info") or {}
        reason = info.get("sMsg") or info.get("cancelSourceReason") or None
        return VenueOrderReport(
            client_order_id=client_order_id,
            venue_order_id=str(order.get("id") or ""),
            symbol=symbol,
            status=_status(order.get("status"), filled),
            quantity=quantity,
            filled_quantity=filled,
            average_price=_decimal(average, "average price") if filled and average else None,
            fills=fills,
            reason=str(reason) if reason else None,
            timestamp=self._clock(),
        )

    @contextmanager
    def _translated(self, action: str, client_order_id: str | None = None) -> Iterator[None]:
        """ccxt's errors as ours, with the exchange's message and no credentials (the cause
        kept for tracebacks is a scrubbed copy: ccxt's message quotes the exchange's reply)."""
        try:
            yield
        except ccxt.RateLimitExceeded as error:
            raise VenueError(
                f"{self._name} refused {action}: rate limit exceeded "
                f"({self._message(error)}); ccxt's limiter should prevent this, so another "
                "client may be using the same API key"
            ) from self._scrubbed(error)
        except ccxt.NetworkError as error:
            settle = (
                f"; settle it with fetch_order({client_order_id!r}), do not resend"
                if client_order_id
                else ""
            )
            raise VenueTimeout(
                f"{self._name} did not answer {action} ({type(error).__name__}): it may or may "
                f"not have acted{settle}"
            ) from self._scrubbed(error)
        except ccxt.AuthenticationError as error:
            raise VenueError(
                f"{self._name} refused the API key while {action}: {self._message(error)}"
            ) from self._scrubbed(error)
        except ccxt.BaseError as error:
            raise VenueError(
                f"{self._name} refused {action}: {self._message(error)}"
            ) from self._scrubbed(error)

    def _scrubbed(self, error: Exception) -> Exception:
        try:
            return type(error)(redact(str(error), self._exchange))
        except TypeError:  # an exception class with another signature: keep its name only
            return Exception(type(error).__name__)

    def _message(self, error: Exception) -> str:
        """The exchange's own words: OKX's sMsg and sCode when the reply carries them."""
        text = str(error)
        start = text.find("{")
        try:
            reply = json.loads(text[start:]) if start >= 0 else None
        except ValueError:
            reply = None
        if isinstance(reply, MutableMapping):
            for item in reply.get("data") or []:
                if isinstance(item, Mapping) and item.get("sMsg"):
                    text = f"{item['sMsg'].strip()} (code {item.get('sCode')})"
                    break
            else:
                if reply.get("msg"):
                    text = f"{reply['msg'].strip()} (code {reply.get('code')})"
        return redact(text, self._exchange)


_CLOSED_STATUSES = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


def _status(ccxt_status: str | None, filled: Decimal) -> OrderStatus:
    """ccxt's unified status; none at all is an acknowledgement (OKX's place-order reply)."""
    if ccxt_status is None or ccxt_status == "open":
        return OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.SUBMITTED
    status = _CLOSED_STATUSES.get(ccxt_status)
    if status is None:
        raise VenueError(f"unexpected order status {ccxt_status!r} from the exchange")
    return status


def _decimal(value: object, field: str) -> Decimal:
    """ccxt gives floats or strings: go through ``str`` so no binary float is kept."""
    try:
        return plain(to_decimal(str(value), field=field))
    except DomainError as error:
        raise VenueError(f"the exchange sent a bad {field}: {error}") from error


def _from_ms(milliseconds: object) -> datetime | None:
    if milliseconds is None:
        return None
    seconds, remainder = divmod(int(cast(int, milliseconds)), 1000)
    return datetime.fromtimestamp(seconds, tz=UTC) + timedelta(milliseconds=remainder)
