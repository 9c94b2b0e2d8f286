"""Reconciliation with the venue, and polling of working live orders.

A live exchange pushes nothing here, and an order whose reply was lost is ``unknown`` (save
before send, DESIGN.md). Both are settled the same way: the order is fetched by its client order
id and the answer goes through the order and fill services, where a venue trade id seen before
is a no-op. Nothing is ever resent and nothing is booked twice.

``account_reconcile`` compares the whole account with its venue:

(a) our sent orders that are open or unknown are fetched and settled as above; one the venue
    has never heard of is closed as rejected, after a grace period (it may still be on its way);
(b) an order open at the venue that we hold no open record of is written to the audit trail,
    once; nothing is cancelled on our own initiative;
(d) positions, then (c) balances, are compared. Every difference becomes a RECONCILIATION
    event with both figures, and a correction of the side that is not the record of the money:

    - A live account's money is at the exchange, so our books adopt the exchange's figures. A
      position takes the exchange's quantity, at the exchange's entry (derivatives), else at
      our own entry (spot holdings, which the exchange keeps as currency balances without an
      entry), else at the mark (a holding that was flat here). Realized P&L and fees stay ours:
      they are the history of our fills. The account's cash is set to the exchange's figure by
      changing the recorded deposits: the difference moved outside our fills (a transfer, a
      funding payment, a fee charged in another way). With spot holdings, the exchange's cash
      is ours minus what the holdings cost.
    - A paper account's record is the database (the paper venue is a simulation restored from
      it), so the paper venue is reset to our positions and cash.

    A live account's balances are not compared while the exchange holds derivative positions:
    its figure (ccxt's total, OKX's ``eq``) then includes their unrealized P&L at its own mark,
    which ours never matches to the last decimal, so every run would "correct" noise.

A fill arriving while the venue is read would look like a difference. So the venue is read
first and our orders settled after; the books are compared only if no fill was recorded for
the account in between, checked with the account and its positions locked (recording a fill
locks its position). Otherwise the venue is read again, up to three times.

Running it again changes nothing: a correction leaves both sides equal, and an unknown venue
order is reported once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from execution.domain.errors import DomainError
from execution.domain.orders import OPEN_STATUSES, OrderStatus
from execution.domain.positions import PositionState
from execution.domain.values import ZERO, exact, plain, quantize
from execution.models import (
    Account,
    AccountMode,
    Balance,
    EventKind,
    ExecutionEvent,
    Fill,
    Instrument,
    Order,
    Position,
)
from execution.services.events import event_append
from execution.services.fills import position_ensure
from execution.services.orders import order_reconcile
from execution.services.venues import live_market, venue_for_account
from execution.venues.base import Venue, VenueOrderReport
from execution.venues.paper import PaperVenue

logger = logging.getLogger(__name__)

# How long an order the venue does not know may still be on its way there (ccxt's own
# timeout is 10 s); after that it never arrived.
SNAPSHOT_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class ReconciliationResult:
    """What one run found and did."""

    account_id: int
    settled: tuple[str, ...] = ()  # client order ids whose status or fills changed
    unknown_at_venue: tuple[str, ...] = ()  # venue orders reported (for the first time)
    corrections: tuple[str, ...] = ()  # one line per correction
    deferred: str | None = None  # why positions and balances were not compared

    def summary(self) -> str:
        text = (
            f"account {self.account_id}: {len(self.settled)} order(s) settled, "
            f"{len(self.unknown_at_venue)} unknown venue order(s) reported, "
            f"{len(self.corrections)} correction(s)"
        )
        return text + (f"; books not compared: {self.deferred}" if self.deferred else "")


@dataclass(frozen=True, slots=True)
class _Snapshot:
    open_orders: list[VenueOrderReport]
    positions: dict[str, PositionState]
    balances: dict[str, Decimal]


# -- settling orders --------------------------------------------------------------------------


def live_orders_poll(*, now: datetime | None = None, actor: str = "poller") -> int:
    """Ask the exchange about every sent, still open live order and apply its answer;
    returns how many orders changed. One order's failure (a timeout) waits for the next poll."""
    now = now or timezone.now()
    venues: dict[int, Venue | None] = {}
    changed = 0
    for order in _sent_open_orders().filter(account__mode=AccountMode.LIVE):
        if order.account_id not in venues:
            venues[order.account_id] = _venue_or_none(order.account)
        venue = venues[order.account_id]
        if venue is None:
            continue
        try:
            changed += _order_settle(order, venue, now=now, actor=actor)
        except DomainError as error:
            logger.warning("polling order %s: %s", order.client_order_id, error)
    return changed


def _sent_open_orders() -> QuerySet[Order]:
    return (
        Order.objects.filter(status__in=OPEN_STATUSES, sent_at__isnull=False)
        .select_related("account", "instrument")
        .order_by("created_at", "pk")
    )


def _venue_or_none(account: Account) -> Venue | None:
    try:
        return venue_for_account(account)
    except DomainError as error:
        logger.error("account %s has no usable venue: %s", account.pk, error)
        return None


def _order_settle(order: Order, venue: Venue, *, now: datetime, actor: str) -> bool:
    """Fetch one sent order by client order id and apply the answer; True if it changed."""
    before = (order.status, order.filled_quantity)
    updated = order_reconcile(order_id=order.pk, actor=actor, now=now, venue=venue)
    return (updated.status, updated.filled_quantity) != before


# -- the whole account ------------------------------------------------------------------------


def account_reconcile(
    *, account_id: int, actor: str = "reconciliation", now: datetime | None = None
) -> ReconciliationResult:
    """Compare an account with its venue, settle its orders and correct every difference.

    A venue that fails to answer raises (VenueError, a DomainError) and corrects nothing.
    """
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        raise DomainError(f"account {account_id} does not exist")
    venue = venue_for_account(account)
    settled: list[str] = []
    corrections: tuple[str, ...] | None = None
    for _ in range(SNAPSHOT_ATTEMPTS):
        fills_before = _fill_count(account)
        snapshot = _Snapshot(
            open_orders=venue.open_orders(), positions=venue.positions(), balances=venue.balances()
        )
        at = now or timezone.now()
        for order in _sent_open_orders().filter(account=account):
            if _order_settle(order, venue, now=at, actor=actor):
                settled.append(order.client_order_id)
        corrections = _books_reconcile(
            account, venue, snapshot, fills_before=fills_before, actor=actor, now=at
        )
        if corrections is not None:
            break
    unknown = _venue_orders_report(account, venue, snapshot.open_orders, actor=actor)
    return ReconciliationResult(
        account_id=account.pk,
        settled=tuple(dict.fromkeys(settled)),
        unknown_at_venue=unknown,
        corrections=corrections or (),
        deferred=None
        if corrections is not None
        else "fills kept arriving while the venue was read; the next run compares again",
    )


def live_accounts_reconcile(*, actor: str = "reconciliation") -> list[ReconciliationResult]:
    """Reconcile every live account that has exchange credentials; one account's failure is
    logged and the others go on."""
    results = []
    accounts = Account.objects.filter(
        mode=AccountMode.LIVE, exchange_credential__isnull=False
    ).order_by("pk")
    for account_id in accounts.values_list("pk", flat=True):
        try:
            result = account_reconcile(account_id=account_id, actor=actor)
        except DomainError as error:
            logger.error("reconciling account %s failed: %s", account_id, error)
            continue
        logger.info("reconciled %s", result.summary())
        results.append(result)
    return results


def _fill_count(account: Account) -> int:
    return Fill.objects.filter(order__account=account).count()


def _venue_orders_report(
    account: Account, venue: Venue, open_orders: Iterable[VenueOrderReport], *, actor: str
) -> tuple[str, ...]:
    """Audit events for venue orders we hold no open record of (each reported once)."""
    reports = list(open_orders)
    ours = {
        order.client_order_id: order
        for order in Order.objects.filter(
            account=account, client_order_id__in=[r.client_order_id for r in reports]
        )
    }
    reported = []
    for report in reports:
        order = ours.get(report.client_order_id)
        if order is not None and OrderStatus(order.status).is_open:
            continue
        if order is not None:
            # Our record may have moved on since the venue was read: ask again.
            latest = venue.fetch_order(report.client_order_id)
            if latest is None or not latest.status.is_open:
                continue
            report = latest
        if _reported(account, check="venue_order", client_order_id=report.client_order_id):
            continue
        here = "no record here" if order is None else f"{order.status} here"
        _event(
            account,
            actor=actor,
            check="venue_order",
            order=order,
            message=f"order {report.client_order_id} ({report.venue_order_id}) is "
            f"{report.status} at the venue, {_n(report.quantity)} {report.symbol} with "
            f"{_n(report.filled_quantity)} filled, but {here}; left as it is",
            data={
                "client_order_id": report.client_order_id,
                "venue_order_id": report.venue_order_id,
                "symbol": report.symbol,
                "status": report.status,
                "quantity": report.quantity,
                "filled_quantity": report.filled_quantity,
                "ours": None if order is None else order.status,
            },
        )
        reported.append(report.client_order_id)
    return tuple(reported)


def _books_reconcile(
    account: Account,
    venue: Venue,
    snapshot: _Snapshot,
    *,
    fills_before: int,
    actor: str,
    now: datetime,
) -> tuple[str, ...] | None:
    """Compare positions and balances and correct them; None when a fill arrived meanwhile."""
    with transaction.atomic():
        # The account first, then its positions: the order every writer locks them in.
        account = Account.objects.select_for_update().get(pk=account.pk)
        rows = {
            p.instrument.symbol: p
            for p in Position.objects.select_for_update(of=("self",))
            .filter(account=account)
            .select_related("instrument")
            .order_by("pk")
        }
        if _fill_count(account) != fills_before:
            return None
        if isinstance(venue, PaperVenue):
            return _paper_venue_correct(account, venue, snapshot, rows, actor=actor)
        return _books_correct(account, snapshot, rows, actor=actor, now=now)


# -- live: our books adopt the exchange's figures ---------------------------------------------


def _books_correct(
    account: Account,
    snapshot: _Snapshot,
    rows: dict[str, Position],
    *,
    actor: str,
    now: datetime,
) -> tuple[str, ...]:
    instruments = {
        i.symbol: i
        for i in Instrument.objects.filter(quote_currency=account.base_currency)
        if live_market(i) is not None
    }
    spot = {s for s, i in instruments.items() if _is_spot(i)}
    held_spot = {
        s
        for s in spot
        if instruments[s].is_active and instruments[s].base_currency in snapshot.balances
    }
    symbols = sorted((set(rows) | set(snapshot.positions) | held_spot) & set(instruments))
    corrections = []
    for symbol in symbols:
        instrument = instruments[symbol]
        row = rows.get(symbol)
        ours = _state(row)
        if symbol in spot:
            venue_quantity = snapshot.balances.get(instrument.base_currency, ZERO)
            venue_cost = None
        else:
            theirs = snapshot.positions.get(symbol, PositionState())
            venue_quantity, venue_cost = theirs.quantity, theirs.cost_basis
        if venue_quantity == ours.quantity:
            continue
        cost, entry_from = _adopted_cost(ours, venue_quantity, venue_cost, row, instrument)
        if cost is None:
            if not _reported(account, check="position", symbol=symbol, venue=str(venue_quantity)):
                _event(
                    account,
                    actor=actor,
                    check="position",
                    instrument=instrument,
                    message=f"{symbol} position: ours {_n(ours.quantity)}, the exchange's "
                    f"{_n(venue_quantity)}; not corrected: no price to value it at yet",
                    data={
                        "symbol": symbol,
                        "ours": ours.quantity,
                        "venue": str(venue_quantity),
                        "corrected": None,
                    },
                )
            continue
        if row is None:
            position_ensure(account_id=account.pk, instrument_id=instrument.pk)
            row = (
                Position.objects.select_for_update(of=("self",))
                .select_related("instrument")
                .get(account=account, instrument=instrument)
            )
            rows[symbol] = row
        _position_adopt(row, venue_quantity, cost, now=now)
        corrections.append(
            _event(
                account,
                actor=actor,
                check="position",
                instrument=instrument,
                message=f"{symbol} position: ours {_n(ours.quantity)} at "
                f"{_n(ours.average_entry_price)}, the exchange's {_n(venue_quantity)}; ours now "
                f"{_n(row.quantity)} at {_n(row.average_entry_price)} (entry: {entry_from})",
                data={
                    "symbol": symbol,
                    "ours": {"quantity": ours.quantity, "cost_basis": ours.cost_basis},
                    "venue": {"quantity": venue_quantity, "cost_basis": venue_cost},
                    "difference": venue_quantity - ours.quantity,
                    "entry_from": entry_from,
                    "corrected": "ours",
                },
            )
        )
    if any(state.quantity for state in snapshot.positions.values()):
        logger.info(
            "account %s: balances not compared while the exchange holds derivative positions",
            account.pk,
        )
        return tuple(corrections)
    spot_cost = sum((rows[s].cost_basis for s in spot if s in rows), ZERO)
    balance = _cash_correct(
        account, rows.values(), snapshot.balances, held_cost=spot_cost, actor=actor
    )
    return (*corrections, *balance)


def _is_spot(instrument: Instrument) -> bool:
    market = live_market(instrument)
    return market is not None and market.spot


def _adopted_cost(
    ours: PositionState,
    quantity: Decimal,
    venue_cost: Decimal | None,
    row: Position | None,
    instrument: Instrument,
) -> tuple[Decimal | None, str]:
    """The cost basis of ``quantity`` as adopted, and whose entry price it is at."""
    if not quantity:
        return ZERO, "none"
    if venue_cost is not None:
        return venue_cost, "the exchange's"
    with exact():
        if ours.quantity * quantity > 0:
            return ours.cost_basis * quantity / ours.quantity, "ours"
        mark = (row.mark_price if row is not None else None) or instrument.mark_price
        return (None, "none") if mark is None else (quantity * mark, "the mark")


def _position_adopt(
    row: Position, quantity: Decimal, cost_basis: Decimal, *, now: datetime
) -> None:
    """Set a position to ``quantity`` at ``cost_basis``; realized P&L and fees stay."""
    before = row.quantity
    mark = row.mark_price or row.instrument.mark_price
    with exact():
        cost = quantize(cost_basis) if quantity else ZERO
        row.quantity, row.cost_basis = quantity, cost
        row.average_entry_price = quantize(cost / quantity) if quantity else None
        row.unrealized_pnl = quantize(quantity * mark - cost) if mark is not None else ZERO
        row.margin = quantize(abs(cost) / row.leverage)
    if row.mark_price is None and mark is not None:
        row.mark_price, row.marked_at = mark, row.instrument.marked_at
    if not before or not quantity or (before > 0) != (quantity > 0):
        # Flat, opened or flipped: exits belong to the position they protected.
        row.opened_at = now if quantity else None
        row.stop_loss_price = row.take_profit_price = None
    row.save()


def _cash_correct(
    account: Account,
    rows: Iterable[Position],
    balances: dict[str, Decimal],
    *,
    held_cost: Decimal,
    actor: str,
) -> tuple[str, ...]:
    """Set the account's cash to the exchange's figure through its recorded deposits."""
    currency = account.base_currency
    balance, _ = Balance.objects.select_for_update().get_or_create(
        account=account, currency=currency
    )
    realized = sum((row.realized_pnl for row in rows), ZERO)
    with exact():
        ours = balance.deposited + realized - held_cost
        venue = balances.get(currency, ZERO)
        difference = venue - ours
    if not difference:
        return ()
    before = balance.deposited
    with exact():
        balance.deposited = quantize(before + difference)
    balance.save(update_fields=["deposited", "updated_at"])
    return (
        _event(
            account,
            actor=actor,
            check="balance",
            message=f"{currency} balance: ours {_n(ours)}, the exchange's {_n(venue)}; deposits "
            f"recorded {_n(before)} -> {_n(balance.deposited)} so that ours is the exchange's",
            data={
                "currency": currency,
                "ours": ours,
                "venue": venue,
                "difference": difference,
                "deposited_before": before,
                "deposited_after": balance.deposited,
                "corrected": "ours",
            },
        ),
    )


# -- paper: the paper venue adopts the database's figures -------------------------------------


def _paper_venue_correct(
    account: Account,
    venue: PaperVenue,
    snapshot: _Snapshot,
    rows: dict[str, Position],
    *,
    actor: str,
) -> tuple[str, ...]:
    corrections = []
    positions: dict[str, PositionState] = {}
    for symbol in sorted(set(rows) | set(snapshot.positions)):
        row = rows.get(symbol)
        ours = _state(row)
        theirs = snapshot.positions.get(symbol, PositionState())
        if (ours.quantity, ours.cost_basis) == (theirs.quantity, theirs.cost_basis):
            continue
        positions[symbol] = ours
        corrections.append(
            _event(
                account,
                actor=actor,
                check="position",
                instrument=None if row is None else row.instrument,
                message=f"{symbol} position: ours {_n(ours.quantity)} at "
                f"{_n(ours.average_entry_price)}, the paper venue's {_n(theirs.quantity)} at "
                f"{_n(theirs.average_entry_price)}; the "
                "paper venue now holds ours",
                data={
                    "symbol": symbol,
                    "ours": {"quantity": ours.quantity, "cost_basis": ours.cost_basis},
                    "venue": {"quantity": theirs.quantity, "cost_basis": theirs.cost_basis},
                    "difference": theirs.quantity - ours.quantity,
                    "corrected": "venue",
                },
            )
        )
    currency = account.base_currency
    deposited = (
        Balance.objects.filter(account=account, currency=currency)
        .values_list("deposited", flat=True)
        .first()
    ) or ZERO
    with exact():
        cash = deposited + sum((row.realized_pnl for row in rows.values()), ZERO)
        theirs_cash = snapshot.balances.get(currency, ZERO)
    restored_cash = {}
    if cash != theirs_cash:
        restored_cash[currency] = cash
        corrections.append(
            _event(
                account,
                actor=actor,
                check="balance",
                message=f"{currency} balance: ours {_n(cash)}, the paper venue's "
                f"{_n(theirs_cash)}; the "
                "paper venue now holds ours",
                data={
                    "currency": currency,
                    "ours": cash,
                    "venue": theirs_cash,
                    "difference": theirs_cash - cash,
                    "corrected": "venue",
                },
            )
        )
    if positions or restored_cash:
        venue.restore(orders=(), positions=positions, cash=restored_cash)
    return tuple(corrections)


# -- helpers ----------------------------------------------------------------------------------


def _state(row: Position | None) -> PositionState:
    if row is None:
        return PositionState()
    return PositionState(
        quantity=row.quantity,
        cost_basis=row.cost_basis,
        realized_pnl=row.realized_pnl,
        fees_paid=row.fees_paid,
    )


def _event(
    account: Account,
    *,
    actor: str,
    check: str,
    message: str,
    data: dict[str, Any],
    order: Order | None = None,
    instrument: Instrument | None = None,
) -> str:
    event_append(
        kind=EventKind.RECONCILIATION,
        actor=actor,
        account=account,
        order=order,
        instrument=instrument,
        message=message,
        data={"check": check, **_plain(data)},
    )
    return message


def _n(value: Decimal | None) -> Decimal | None:
    """An amount as a person reads it: 0.1, not 0.100000000000000000."""
    return None if value is None else plain(value)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _plain(value)
        if isinstance(value, dict)
        else _n(value)
        if isinstance(value, Decimal)
        else value
        for key, value in data.items()
    }


def _reported(account: Account, *, check: str, **data: str) -> bool:
    """Whether a reconciliation event with these data was written for the account before."""
    lookups = {f"data__{key}": value for key, value in data.items()}
    return ExecutionEvent.objects.filter(
        account=account, kind=EventKind.RECONCILIATION, data__check=check, **lookups
    ).exists()
