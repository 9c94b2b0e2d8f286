"""Which venue an account trades on, and the paper exchange's state in this process."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from execution.domain.errors import DomainError
from execution.domain.orders import OPEN_STATUSES
from execution.domain.positions import PositionState
from execution.domain.urgency import TouchSnapshot, touch_of
from execution.domain.values import InstrumentSpec
from execution.models import (
    Account,
    AccountMode,
    EventKind,
    ExchangeCredential,
    Instrument,
    Order,
    Position,
)
from execution.selectors import account_valuation
from execution.services.events import event_append
from execution.services.fills import fill_input, fills_record
from execution.services.live import exchange_credentials_decrypt
from execution.venues.base import Venue, VenueFill
from execution.venues.ccxt_venue import CcxtVenue, ccxt_exchange
from execution.venues.paper import PaperVenue

logger = logging.getLogger(__name__)

Level = tuple[Decimal, Decimal]
Book = tuple[str, Sequence[Level], Sequence[Level], datetime]

_lock = threading.RLock()
_paper_venues: dict[int, PaperVenue] = {}
_latest_books: dict[str, Book] = {}
# The touches behind the spread and order-flow features (urgency.book_features).
_touch_history: dict[str, deque[TouchSnapshot]] = {}
TOUCH_HISTORY = 100
# Live accounts' exchange clients, each with the fingerprint of what it was built from.
_live_venues: dict[int, tuple[str, CcxtVenue]] = {}


def venue_fills_record(fills: Sequence[VenueFill], *, actor: str) -> None:
    """Record fills a venue reported outside an order call (market data, a restore).

    Each order's fills go in one transaction. A fill our records refuse (it would overfill
    its order, or the order is unknown) is a discrepancy to investigate, not a reason to drop
    the others: it goes to the audit trail and the log, and the rest are recorded one by one.
    """
    by_order: dict[str, list[VenueFill]] = {}
    for fill in fills:
        by_order.setdefault(fill.client_order_id, []).append(fill)
    orders = {o.client_order_id: o for o in Order.objects.filter(client_order_id__in=by_order)}
    for client_order_id, order_fills in by_order.items():
        order = orders.get(client_order_id)
        if order is None:
            for fill in order_fills:
                _refused(fill, None, f"no order has client order id {client_order_id}", actor)
            continue
        try:
            fills_record(order_id=order.pk, fills=[fill_input(f) for f in order_fills], actor=actor)
        except DomainError:
            for fill in order_fills:
                try:
                    fills_record(order_id=order.pk, fills=[fill_input(fill)], actor=actor)
                except DomainError as error:
                    _refused(fill, order, str(error), actor)


def _refused(fill: VenueFill, order: Order | None, reason: str, actor: str) -> None:
    logger.error("venue fill %s not recorded: %s", fill.venue_trade_id, reason)
    event_append(
        kind=EventKind.VENUE_ERROR,
        actor=actor,
        order=order,
        account=None if order is None else order.account,
        message=f"fill {fill.venue_trade_id} reported by the venue was not recorded: {reason}",
        data={
            "client_order_id": fill.client_order_id,
            "quantity": fill.quantity,
            "price": fill.price,
            "venue_trade_id": fill.venue_trade_id,
        },
    )


def venue_for_account(account: Account) -> Venue:
    """The venue of an account.

    A paper account has its own matching engine in this process, fed with the same market data
    as every other. A new one (a restarted process) reloads the account's open orders and
    positions from the database, which is the record.

    A live account trades on its exchange through ccxt, with the credentials stored for it
    (execution.services.live); see ``_live_venue``.
    """
    if account.mode == AccountMode.LIVE:
        return _live_venue(account)
    with _lock:
        venue = _paper_venues.get(account.pk)
        if venue is None:
            venue = _paper_venue_open(account)
            _paper_venues[account.pk] = venue
    return venue


def _paper_venue_open(account: Account) -> PaperVenue:
    venue = PaperVenue(
        instruments=[i.spec() for i in Instrument.objects.filter(is_active=True)],
        maker_fee_rate=Decimal(settings.PAPER_MAKER_FEE_RATE),
        taker_fee_rate=Decimal(settings.PAPER_TAKER_FEE_RATE),
        seed=account.pk,
        clock=timezone.now,
        # Trade ids must never repeat across restarts: a fill is deduplicated by its id.
        name=f"paper{uuid.uuid4().hex[:12]}",
    )
    positions = {
        p.instrument.symbol: PositionState(
            quantity=p.quantity,
            cost_basis=p.cost_basis,
            realized_pnl=p.realized_pnl,
            fees_paid=p.fees_paid,
        )
        for p in Position.objects.filter(account=account).select_related("instrument")
    }
    open_orders = (
        Order.objects.filter(account=account, status__in=OPEN_STATUSES, sent_at__isnull=False)
        .select_related("instrument")
        .order_by("created_at")
    )
    working = [
        (o.client_order_id, o.as_request(), o.filled_quantity, o.filled_notional)
        for o in open_orders
    ]
    # Books first, so restored orders meet the current market.
    fills = []
    for symbol, bids, asks, at in _latest_books.values():
        fills.extend(venue.update_book(symbol, bids, asks, at))
    fills.extend(
        venue.restore(
            orders=working,
            positions=positions,
            cash={account.base_currency: account_valuation(account).cash},
        )
    )
    venue_fills_record(fills, actor="venue:paper")
    return venue


def paper_venue_elsewhere(account: Account) -> bool:
    """Whether ``account``'s venue is a paper venue of another process.

    With a broker (tasks not run in-process), the paper exchange is the process that runs the
    simulated market feed (``MARKET_FEED=simulated``: the Procfile's ``feed`` worker, see
    docs/DEPLOYMENT.md); another process, a web server say, must not open a second paper venue
    of the account, whose books and resting orders would not be the exchange's. It sends its
    venue calls there as tasks (``order_cancel``, ``order_amend``). In one process (``make
    run``, tests) every venue is here.
    """
    from celery import current_app

    return (
        account.mode == AccountMode.PAPER
        and settings.MARKET_FEED != "simulated"
        and not current_app.conf.task_always_eager
    )


def paper_venues(*, latest_book: Book | None = None) -> list[PaperVenue]:
    """Every paper venue of this process, after remembering ``latest_book`` for new ones."""
    with _lock:
        if latest_book is not None:
            symbol = latest_book[0]
            previous = _latest_books.get(symbol)
            if previous is not None and previous[1] and previous[2]:
                _, bids, asks, at = previous
                history = _touch_history.setdefault(symbol, deque(maxlen=TOUCH_HISTORY))
                history.append(touch_of(bids, asks, at))
            _latest_books[symbol] = latest_book
        return list(_paper_venues.values())


def paper_touch(symbol: str) -> tuple[Decimal, Decimal, datetime] | None:
    """Best bid, best ask and time of the latest paper book of ``symbol``, if any."""
    with _lock:
        book = _latest_books.get(symbol)
    if book is None or not book[1] or not book[2]:
        return None
    return book[1][0][0], book[2][0][0], book[3]


def paper_book(symbol: str) -> tuple[Book, list[TouchSnapshot]] | None:
    """The latest paper book of ``symbol`` with the touches before it, oldest first."""
    with _lock:
        book = _latest_books.get(symbol)
        history = list(_touch_history.get(symbol, ()))
    return None if book is None else (book, history)


def paper_reset() -> None:
    """Forget every paper venue and book of this process (tests start from a clean market)."""
    with _lock:
        _paper_venues.clear()
        _latest_books.clear()
        _touch_history.clear()


# -- live venues ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveMarket:
    """How an instrument trades on a live exchange: its ccxt symbol, and whether it is spot
    (holdings are currency balances there) or a linear perpetual swap (a position)."""

    ccxt_symbol: str
    spot: bool


def live_market(instrument: Instrument) -> LiveMarket | None:
    """Our symbols are OKX instrument ids: BASE-QUOTE is spot (ccxt's BASE/QUOTE) and
    BASE-QUOTE-SWAP the perpetual swap settled in the quote currency (BASE/QUOTE:QUOTE). Any
    other symbol is not traded live (None)."""
    base, quote = instrument.base_currency, instrument.quote_currency
    if instrument.symbol == f"{base}-{quote}":
        return LiveMarket(f"{base}/{quote}", spot=True)
    if instrument.symbol == f"{base}-{quote}-SWAP":
        return LiveMarket(f"{base}/{quote}:{quote}", spot=False)
    return None


def _live_venue(account: Account) -> CcxtVenue:
    """The account's exchange through ccxt, built once per process and rebuilt when its
    credentials (set or rotated) or the active instruments change.

    ccxt's rate limiter is on; ``sandbox`` selects the exchange's demo trading. Cancel, amend
    and fetch find an order's instrument in the order table.
    """
    credential = ExchangeCredential.objects.filter(account=account).first()
    if credential is None:
        raise DomainError(
            f"live account {account.name!r} has no exchange credentials: set them with "
            f"`manage.py exchange_credentials_set --account {account.pk}` or in the admin"
        )
    markets = [
        (instrument.spec(), market)
        for instrument in Instrument.objects.filter(is_active=True).order_by("symbol")
        if (market := live_market(instrument)) is not None
    ]
    fingerprint = _live_fingerprint(credential, markets)
    with _lock:
        cached = _live_venues.get(account.pk)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        plaintext = exchange_credentials_decrypt(credential)
        exchange = ccxt_exchange(
            credential.exchange_id,
            api_key=plaintext.api_key,
            secret=plaintext.secret,
            password=plaintext.password,
            sandbox=credential.sandbox,
        )
        venue = CcxtVenue(
            exchange=exchange,
            instruments=[spec for spec, _ in markets],
            symbols={spec.symbol: market.ccxt_symbol for spec, market in markets},
            clock=timezone.now,
            order_symbol=_order_symbol,
        )
        _live_venues[account.pk] = (fingerprint, venue)
    return venue


def _live_fingerprint(
    credential: ExchangeCredential, markets: Sequence[tuple[InstrumentSpec, LiveMarket]]
) -> str:
    # A digest, not the tokens themselves: nothing here needs to keep them.
    material = repr(
        (credential.exchange_id, credential.sandbox, credential.api_key, credential.secret,
         credential.password, sorted(markets, key=lambda item: item[0].symbol))
    )  # fmt: skip
    return hashlib.sha256(material.encode()).hexdigest()


def _order_symbol(client_order_id: str) -> str | None:
    symbol: str | None = (
        Order.objects.filter(client_order_id=client_order_id)
        .values_list("instrument__symbol", flat=True)
        .first()
    )
    return symbol


def live_venues_reset() -> None:
    """Forget every live exchange client of this process (tests start from a clean slate)."""
    with _lock:
        _live_venues.clear()
