"""Mirroring leader fills to followers, in batches.

One leader fill fans out to every active subscription of its strategy in chunks: each chunk
is one transaction that locks its follower accounts (in id order, as order placement does),
reads their risk state in a few queries, plans every copy with the pure rules
(copytrading.domain.sizing) and the pre-trade risk checks (execution.domain.risk), and saves
the orders, their audit events and the copy trades with bulk inserts. After commit the chunk
goes to the venues: marked sent in one statement, then submitted. Never one task per
follower: at 10,000 followers that was the difference between seconds and minutes.

Exactly one follower order per (subscription, leader fill): under the account locks a chunk
skips subscriptions that already have a copy trade for the fill, and the unique constraint
on (subscription, leader fill) backs it, so a fill event delivered again writes nothing.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from copytrading.domain.sizing import (
    CopyPlan,
    FollowerState,
    LeaderFill,
    copy_stop_loss_hit,
    daily_loss_hit,
    exit_prices,
    plan_copy,
    subscription_capital,
)
from copytrading.models import CopySubscription, CopyTrade, CopyTradeKind, SubscriptionStatus
from copytrading.selectors import (
    CopyBook,
    account_risks,
    array_literal,
    copy_books,
    id_set,
    instrument_marks,
    subscription_terms,
)
from execution.domain.errors import DomainError
from execution.domain.orders import OrderRequest, OrderStatus, OrderType, TimeInForce
from execution.domain.risk import AccountRisk, RiskLimits, check_order
from execution.domain.values import ZERO, InstrumentSpec, Side, exact, plain
from execution.models import Account, EventKind, ExecutionEvent, Fill, Instrument, Order, Position
from execution.selectors import account_valuation, utc_today
from execution.services.accounts import account_loss_limit_breach
from execution.services.bulk_fills import order_reports_apply
from execution.services.orders import order_status_set
from execution.services.positions import position_exits_set
from execution.services.venues import venue_for_account
from execution.venues.base import VenueError, VenueOrderReport, VenueTimeout
from strategies.models import Strategy

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
CHUNK_SIZE = 1000
WORKERS = 2  # chunks in flight at once (PostgreSQL): see fan_out
ACTOR = "copytrading"


def batched(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True, slots=True)
class Leader:
    """A leader fill with what sizing needs to know about it."""

    fill_id: int
    strategy_id: int
    instrument: Instrument
    spec: InstrumentSpec
    fill: LeaderFill


@dataclass(slots=True)
class CopyOrder:
    """A follower's copy order as saved: what sending it and recording the answer need (a
    model instance per order cost more than planning it)."""

    pk: uuid.UUID
    client_order_id: str
    account: Account
    instrument_id: int
    request: OrderRequest
    sent_at: datetime | None = None


Sent = tuple[CopyOrder, VenueOrderReport | None, str]


@dataclass(slots=True)
class MirrorResult:
    orders: list[CopyOrder] = field(default_factory=list)  # saved (and, once sent, submitted)
    skipped: int = 0
    stopped: list[int] = field(default_factory=list)  # subscriptions their copy stop loss hit
    sent: list[Sent] = field(default_factory=list)  # what each venue answered, in send order
    # Where the time went, summed over chunks (over threads when chunks run in parallel).
    saving_seconds: float = 0.0  # lock, read, plan, risk-check, insert, commit
    sending_seconds: float = 0.0  # mark sent, submit to the venues
    recording_seconds: float = 0.0  # the venues' answers recorded (fills, statuses)

    def merge(self, other: MirrorResult) -> None:
        self.orders.extend(other.orders)
        self.skipped += other.skipped
        self.stopped.extend(other.stopped)
        self.sent.extend(other.sent)
        self.saving_seconds += other.saving_seconds
        self.sending_seconds += other.sending_seconds
        self.recording_seconds += other.recording_seconds


def leader_fill(fill_id: int) -> Leader | None:
    """The fill as a leader's, or None when it is not a strategy's own trade."""
    fill = Fill.objects.select_related("order__instrument").filter(pk=fill_id).first()
    if fill is None:
        raise DomainError(f"fill {fill_id} does not exist")
    order = fill.order
    if (
        order.strategy_id is None
        or not Strategy.objects.filter(pk=order.strategy_id, account_id=order.account_id).exists()
    ):
        return None
    side = Side(order.side)
    with exact():
        before = _position_after(fill) - side.sign * fill.quantity
    leader_equity = account_valuation(Account.objects.get(pk=order.account_id)).equity
    return Leader(
        fill_id=fill.pk,
        strategy_id=order.strategy_id,
        instrument=order.instrument,
        spec=order.instrument.spec(),
        fill=LeaderFill(
            side=side,
            quantity=fill.quantity,
            price=fill.price,
            position_before=before,
            leader_equity=leader_equity,
        ),
    )


def _position_after(fill: Fill) -> Decimal:
    """The leader's position right after this fill, as its audit event recorded it; without
    the event, the sum of the account's fills in the instrument up to this one (fills of one
    position are numbered in the order their position lock let them in)."""
    data = (
        ExecutionEvent.objects.filter(
            order_id=fill.order_id, kind=EventKind.FILL_RECORDED,
            data__venue_trade_id=fill.venue_trade_id,
        )
        .values_list("data", flat=True)
        .first()
    )  # fmt: skip
    if isinstance(data, dict) and "position" in data:
        return Decimal(str(data["position"]))
    order = fill.order
    rows = Fill.objects.filter(
        order__account_id=order.account_id, order__instrument_id=order.instrument_id,
        pk__lte=fill.pk,
    ).values("order__side").annotate(total=Sum("quantity"))  # fmt: skip
    with exact():
        return sum((r["total"] * Side(r["order__side"]).sign for r in rows), start=ZERO)


def mirror_fill(
    *, fill_id: int, chunk_size: int = CHUNK_SIZE, workers: int = WORKERS
) -> MirrorResult:
    """Copy one leader fill to every active subscription of its strategy; again: no-op."""
    leader = leader_fill(fill_id)
    if leader is None:
        return MirrorResult()
    result = fan_out(leader, leader_subscriptions(leader), chunk_size=chunk_size, workers=workers)
    for subscription_id in result.stopped:
        _copy_stop_loss_stop(subscription_id)
    return result


def leader_subscriptions(leader: Leader) -> list[int]:
    """The active subscriptions of the leader's strategy, by account: chunks then lock
    disjoint sets of accounts in id order."""
    return list(
        CopySubscription.objects.filter(
            strategy_id=leader.strategy_id, status=SubscriptionStatus.ACTIVE
        )
        .order_by("account_id", "pk")
        .values_list("pk", flat=True)
    )


def fan_out(
    leader: Leader,
    subscription_ids: Sequence[int],
    *,
    chunk_size: int = CHUNK_SIZE,
    workers: int = WORKERS,
    record: bool = True,
) -> MirrorResult:
    """Save and send every chunk, then record the venues' answers (unless ``record`` is off).

    On PostgreSQL, outside a transaction, ``workers`` chunks run at once, each on its own
    thread and connection: while one waits on the database (locks, COPY, commit) another
    plans or submits, which is where a single thread spent a third of its time. Chunks
    lock disjoint accounts (a follower account has one live subscription per strategy), so
    they never wait on each other. Inside a transaction (a test's) chunks run in turn: a
    thread's connection would not see its rows.
    """
    chunks = list(batched(subscription_ids, chunk_size))

    def run(chunk: list[int]) -> MirrorResult:
        part = MirrorResult()
        started = time.perf_counter()
        saved = copies_save(leader=leader, subscription_ids=chunk, result=part)
        part.saving_seconds = time.perf_counter() - started
        part.sent = orders_send(saved)
        part.sending_seconds = time.perf_counter() - started - part.saving_seconds
        return part

    def run_on_thread(chunk: list[int]) -> MirrorResult:
        try:
            return run(chunk)
        finally:
            connection.close()  # this thread's own

    result = MirrorResult()
    with _cyclic_gc_paused():
        _chunks_run(chunks, run, run_on_thread, workers, result)
    if record:
        # After every chunk is sent, not between chunks: recording an answer takes longer
        # than saving and sending a copy, and the last follower should not wait for it.
        started = time.perf_counter()
        reports_apply(result.sent)
        result.recording_seconds = time.perf_counter() - started
    return result


def _chunks_run(
    chunks: list[list[int]],
    run: Callable[[list[int]], MirrorResult],
    run_on_thread: Callable[[list[int]], MirrorResult],
    workers: int,
    result: MirrorResult,
) -> None:
    parallel = (
        workers > 1
        and len(chunks) > 1
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    )
    if not parallel:
        for chunk in chunks:
            result.merge(run(chunk))
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="copy-fan-out") as pool:
        for part in pool.map(run_on_thread, chunks):
            result.merge(part)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one fan-out (reference counting still frees
    everything that is not a cycle). A process that trades on paper holds a venue and its
    book per account; measured at 10,000 followers the collector walked them ~430 times,
    2.7 s of the fan-out's 3.9 s of CPU. Saving and sending only: collections resume
    before the answers are recorded, which takes minutes at that size."""
    if not gc.isenabled():  # paused already (a nested call): leave it to the caller
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _copy_stop_loss_stop(subscription_id: int) -> None:
    from copytrading.services.subscriptions import subscription_stop

    subscription = CopySubscription.objects.get(pk=subscription_id)
    if subscription.status == SubscriptionStatus.STOPPED:
        return
    subscription_stop(
        subscription_id=subscription_id,
        follower_id=None,
        close=subscription.close_on_copy_stop_loss,
        reason=(
            f"copy stop loss: equity fell {plain(subscription.copy_stop_loss_percent)}% "
            "from its peak"
        ),
        actor="copytrading:copy_stop_loss",
    )


# Columns written by the bulk paths, in row order (the model's other columns are NULL).
_ORDER_COLUMNS = (
    "id", "client_order_id", "venue_order_id", "account_id", "instrument_id", "side",
    "order_type", "time_in_force", "quantity", "price", "reduce_only", "filled_quantity",
    "filled_notional", "status", "error", "created_at", "updated_at",
)  # fmt: skip
_EVENT_COLUMNS = (
    "created_at", "kind", "actor", "account_id", "order_id", "instrument_id", "message", "data",
)  # fmt: skip
_TRADE_COLUMNS = (
    "subscription_id", "kind", "leader_fill_id", "instrument_id", "side", "leader_price",
    "follower_order_id", "intended_quantity", "quantity", "actual_quantity", "skipped_reason",
    "created_at",
)  # fmt: skip


_SUBSCRIPTION_UNREAD = (
    "follower", "strategy", "account_mode", "status", "stop_reason", "created_at", "updated_at",
    "paused_at", "resumed_at", "stopped_at",
)  # fmt: skip
# What planning, the risk checks and the venue read of a follower account.
_ACCOUNT_READ = (
    "id", "mode", "base_currency", "min_order_quantity", "max_order_quantity",
    "max_order_value", "max_price_deviation", "daily_loss_limit", "max_position_value",
)  # fmt: skip


@dataclass(slots=True)
class _Rows:
    """One chunk's writes as plain tuples, each tagged with its subscription."""

    orders: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    trades: list[tuple[Any, ...]] = field(default_factory=list)
    order_subscriptions: list[int] = field(default_factory=list)
    event_subscriptions: list[int] = field(default_factory=list)
    copies: list[CopyOrder] = field(default_factory=list)  # parallel to orders


def copies_save(
    *, leader: Leader, subscription_ids: Sequence[int], result: MirrorResult
) -> list[CopyOrder]:
    """Plan and save the copies of one chunk in one transaction; returns the new orders.

    A copy trade the unique (subscription, leader fill) constraint refuses means another
    delivery got past the locks first (it cannot under them): the chunk is rolled back
    whole and planned again, and then sees that delivery's rows.
    """
    for attempt in range(2):
        part = MirrorResult()
        try:
            copies = _copies_save(leader=leader, subscription_ids=subscription_ids, result=part)
        except IntegrityError:
            if attempt:
                raise
            logger.warning("copies of fill %s: a chunk raced another delivery", leader.fill_id)
            continue
        result.orders.extend(part.orders)
        result.skipped += part.skipped
        result.stopped.extend(part.stopped)
        return copies
    raise AssertionError("unreachable")


def _copies_save(
    *, leader: Leader, subscription_ids: Sequence[int], result: MirrorResult
) -> list[CopyOrder]:
    now = timezone.now()
    today = utc_today()
    instrument, spec = leader.instrument, leader.spec
    fill = leader.fill
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Plan each read for this chunk's id array: psycopg prepares a statement run five
            # times, and PostgreSQL then may keep a generic plan chosen while arrays were small
            # (fan-outs to a few followers); at 1,000 ids its nested loops took 0.5 s a read.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        # Only the columns planning reads: building 1,000 models a chunk, half their time
        # went to columns no one reads here (five timestamps, each parsed in Python).
        subscriptions = list(
            CopySubscription.objects.filter(
                pk__in=id_set(subscription_ids), status=SubscriptionStatus.ACTIVE
            )
            .defer(*_SUBSCRIPTION_UNREAD)
            .order_by("pk")
        )
        accounts = list(
            Account.objects.select_for_update()
            .filter(pk__in=id_set({s.account_id for s in subscriptions}))
            .only(*_ACCOUNT_READ)
            .order_by("pk")
        )
        # Read after the locks: a delivery that waited sees what the first one saved.
        done = set(
            CopyTrade.objects.filter(
                leader_fill_id=leader.fill_id,
                subscription_id__in=id_set(s.pk for s in subscriptions),
            ).values_list("subscription_id", flat=True)
        )
        subscriptions = [s for s in subscriptions if s.pk not in done]
        if not subscriptions:
            return []
        by_id = {a.pk: a for a in accounts}
        risks, days = account_risks(accounts, instrument, now=now)
        books = copy_books([s.pk for s in subscriptions])
        marks = instrument_marks(
            {instrument.pk, *(i for b in books.values() for i in b.quantities)}
        )
        rows = _Rows()
        order_ids = _order_ids(len(subscriptions))
        touched: list[CopySubscription] = []
        breached: set[int] = set()
        limits: dict[int, RiskLimits] = {}
        empty = CopyBook()
        for subscription in subscriptions:
            account = by_id[subscription.account_id]
            risk = risks[account.pk]
            book = books.get(subscription.pk, empty)
            equity = book.equity(subscription.start_capital, marks)
            if _track_equity(subscription, equity, today):
                touched.append(subscription)
            if copy_stop_loss_hit(
                peak=subscription.peak_equity,
                equity=equity,
                percent=subscription.copy_stop_loss_percent,
            ):
                _skip(rows, leader, subscription, ZERO, now, (
                    f"copy stop loss: equity {plain(equity)} is "
                    f"{plain(subscription.copy_stop_loss_percent)}% or more below its peak "
                    f"{plain(subscription.peak_equity)}"
                ))  # fmt: skip
                result.stopped.append(subscription.pk)
                continue
            terms = subscription_terms(subscription)
            blocked = ""
            if daily_loss_hit(
                day_start=subscription.equity_day_start or equity,
                equity=equity,
                percent=subscription.daily_loss_limit_percent,
            ):
                blocked = (
                    "daily loss limit: the subscription lost "
                    f"{subscription.daily_loss_limit_percent}% or more today: closes only"
                )
            follower = FollowerState(
                capital=subscription_capital(
                    equity=risk.equity,
                    allocation_percent=terms.allocation_percent,
                    capital_cap=terms.capital_cap,
                ),
                copied_quantity=book.quantities.get(instrument.pk, ZERO),
                position_quantity=risk.position_quantity,
                open_blocked=blocked,
            )
            plan = plan_copy(fill, follower, terms, spec)
            if plan.skipped:
                _skip(rows, leader, subscription, plan.intended_quantity, now,
                      plan.skipped_reason)  # fmt: skip
                continue
            account_limits = limits.get(account.pk)
            if account_limits is None:
                account_limits = limits[account.pk] = account.risk_limits()
            request, refusal = _request(plan, instrument, spec, account_limits, risk)
            if request is None:
                _skip(rows, leader, subscription, plan.intended_quantity, now, refusal)
                rows.events.append((
                    now, EventKind.ORDER_REFUSED.value, ACTOR, account.pk, None, instrument.pk,
                    refusal, {"subscription": subscription.pk, "leader_fill": leader.fill_id},
                ))  # fmt: skip
                rows.event_subscriptions.append(subscription.pk)
                if "daily_loss_limit" in refusal and not risk.loss_limit_breached:
                    breached.add(account.pk)
                continue
            order_id = order_ids.pop()
            client_order_id = f"cp{subscription.pk}f{leader.fill_id}"
            quantity, price = request.quantity, request.price
            rows.orders.append((
                order_id, client_order_id, "", account.pk, instrument.pk, request.side.value,
                OrderType.LIMIT.value, TimeInForce.IOC.value, quantity, price,
                request.reduce_only, ZERO, ZERO, OrderStatus.NEW.value, "", now, now,
            ))  # fmt: skip
            rows.order_subscriptions.append(subscription.pk)
            rows.copies.append(
                CopyOrder(order_id, client_order_id, account, instrument.pk, request)
            )
            rows.trades.append((
                subscription.pk, CopyTradeKind.MIRROR.value, leader.fill_id, instrument.pk,
                fill.side.value, fill.price, order_id, plan.intended_quantity, quantity, ZERO,
                "", now,
            ))  # fmt: skip
            rows.events.append((
                now, EventKind.ORDER_CREATED.value, ACTOR, account.pk, order_id, instrument.pk,
                f"{request.side} {plan.quantity} {instrument.symbol} limit ioc @ "
                f"{plan.limit_price} (copy of fill {leader.fill_id})",
                {"subscription": subscription.pk, "leader_fill": leader.fill_id,
                 "client_order_id": client_order_id, "quantity": str(plan.quantity),
                 "price": str(plan.limit_price)},
            ))  # fmt: skip
            rows.event_subscriptions.append(subscription.pk)
            if not plan.reduce_only:
                # The next copy on the same account meets what this one reserves.
                with exact():
                    reserved = plan.quantity * plan.limit_price
                risks[account.pk] = replace(
                    risk, available_balance=risk.available_balance - reserved
                )
        copies = _rows_save(rows)
        _equity_save(touched)
        for account_id in breached:
            account_loss_limit_breach(
                day=days[account_id], equity=risks[account_id].equity, actor=ACTOR
            )
        # No push for the saved order: its follower hears of it once, when the venue's answer
        # is recorded (an IOC is answered at once). A push each at saving cost the sender
        # thread 90 us of CPU per order, 0.9 s of a 10,000-follower fan-out.
    result.orders.extend(copies)
    result.skipped += len(rows.trades) - len(rows.orders)
    return copies


def _skip(
    rows: _Rows,
    leader: Leader,
    subscription: CopySubscription,
    intended: Decimal,
    now: datetime,
    reason: str,
) -> None:
    """A copy trade with no order, and why (never silent)."""
    rows.trades.append((
        subscription.pk, CopyTradeKind.MIRROR.value, leader.fill_id, leader.instrument.pk,
        leader.fill.side.value, leader.fill.price, None, intended, ZERO, ZERO, reason, now,
    ))  # fmt: skip


def _rows_save(rows: _Rows) -> list[CopyOrder]:
    """Insert a chunk's copy trades, orders and events; returns the orders saved.

    On PostgreSQL all three go in by COPY (the copy trades' order foreign key is checked at
    commit): the ORM's bulk_create spent more time preparing values field by field than the
    database spent storing them, and an INSERT of array parameters spent it in psycopg's
    list dumper. Under the account locks no copy trade can conflict; the unique constraint
    is the backstop (copies_save plans the chunk again).
    """
    if connection.vendor != "postgresql":
        # The embedded default (SQLite): the same rows through the ORM, in the same order.
        CopyTrade.objects.bulk_create(
            [CopyTrade(**dict(zip(_TRADE_COLUMNS, row, strict=True))) for row in rows.trades],
            batch_size=500,
        )
        Order.objects.bulk_create(
            [Order(**dict(zip(_ORDER_COLUMNS, row, strict=True))) for row in rows.orders],
            batch_size=500,
        )
        ExecutionEvent.objects.bulk_create(
            [ExecutionEvent(**dict(zip(_EVENT_COLUMNS, r, strict=True))) for r in rows.events],
            batch_size=500,
        )
        return rows.copies
    with connection.cursor() as cursor, connection.wrap_database_errors:
        _copy_in(cursor, Order._meta.db_table, _ORDER_COLUMNS, rows.orders)
        _copy_in(cursor, CopyTrade._meta.db_table, _TRADE_COLUMNS, rows.trades)
        _copy_in(
            cursor, ExecutionEvent._meta.db_table, _EVENT_COLUMNS,
            [(*e[:-1], json.dumps(e[-1])) for e in rows.events],
        )  # fmt: skip
    return rows.copies


def _order_ids(count: int) -> list[uuid.UUID]:
    """Random (version 4) order ids from one read of the OS's random source: uuid4() per
    order made a system call each, which also handed the GIL to the other chunk's thread."""
    raw = os.urandom(16 * count)
    return [uuid.UUID(bytes=raw[n : n + 16], version=4) for n in range(0, 16 * count, 16)]


def _copy_in(
    cursor: Any, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    quote = connection.ops.quote_name
    statement = f"COPY {quote(table)} ({', '.join(map(quote, columns))}) FROM STDIN"
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


_EQUITY_SAVE = """
UPDATE copytrading_copysubscription AS s
SET peak_equity = v.peak, equity_day = v.day, equity_day_start = v.day_start
FROM unnest(%s::bigint[], %s::numeric[], %s::date[], %s::numeric[]) AS v(id, peak, day, day_start)
WHERE s.id = v.id
"""


def _equity_save(subscriptions: Sequence[CopySubscription]) -> None:
    """Save peaks and day starts in one statement of four arrays (array_literal): bulk_update's
    CASE per row took 2.5 s of a 1,000-follower fan-out on PostgreSQL, and a VALUES list of
    4,000 placeholders 70 ms."""
    if not subscriptions:
        return
    if connection.vendor != "postgresql":
        CopySubscription.objects.bulk_update(
            subscriptions, ["peak_equity", "equity_day", "equity_day_start"]
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _EQUITY_SAVE,
            [
                array_literal(s.pk for s in subscriptions),
                array_literal(s.peak_equity for s in subscriptions),
                array_literal(s.equity_day for s in subscriptions),
                array_literal(s.equity_day_start for s in subscriptions),
            ],
        )


def _track_equity(subscription: CopySubscription, equity: Decimal, today: Any) -> bool:
    """Move the peak up and roll the day; True if the row changed."""
    changed = False
    if equity > subscription.peak_equity:
        subscription.peak_equity = equity
        changed = True
    if subscription.equity_day != today:
        subscription.equity_day, subscription.equity_day_start = today, equity
        changed = True
    return changed


def _request(
    plan: CopyPlan,
    instrument: Instrument,
    spec: InstrumentSpec,
    limits: RiskLimits,
    risk: AccountRisk,
) -> tuple[OrderRequest | None, str]:
    """The follower's limit IOC request, or why the instrument rules or pre-trade risk
    refused it."""
    try:
        request = OrderRequest.build(
            spec, side=plan.side, order_type=OrderType.LIMIT, quantity=plan.quantity,
            price=plan.limit_price, time_in_force=TimeInForce.IOC,
            reduce_only=plan.reduce_only, reference_price=instrument.mark_price,
        )  # fmt: skip
    except DomainError as error:
        return None, f"refused: {error}"
    decision = check_order(request, limits, risk)
    if not decision.accepted:
        return None, "refused by pre-trade risk: " + "; ".join(
            f"{v.rule}: {v.message}" for v in decision.violations
        )
    return request, ""


def orders_send(orders: Sequence[CopyOrder]) -> list[Sent]:
    """Mark the orders sent in one statement, then submit each to its account's venue.

    Only the orders this call marked are submitted (one that another worker or the unsent
    sweep already sent is not sent twice). Returns (order, report, error): save before send,
    so an order whose venue call fails is settled from the error, never resent blindly.
    """
    if not orders:
        return []
    now = timezone.now()
    pending = [o.pk for o in orders]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {connection.ops.quote_name(Order._meta.db_table)} "  # nosec B608: names from the code, values bound
                    "SET sent_at = %s, updated_at = %s "
                    "WHERE id = ANY(%s::uuid[]) AND status = %s AND sent_at IS NULL RETURNING id",
                    [now, now, array_literal(pending), OrderStatus.NEW.value],
                )
                marked = {order_id for (order_id,) in cursor.fetchall()}
                to_send = [o for o in orders if o.pk in marked]
                message = f"sent to the venue at {now:%H:%M:%S}"
                _copy_in(
                    cursor, ExecutionEvent._meta.db_table, _EVENT_COLUMNS,
                    [(now, EventKind.ORDER_SENT.value, ACTOR, o.account.pk, o.pk,
                      o.instrument_id, message, "{}") for o in to_send],
                )  # fmt: skip
        else:
            unsent = Order.objects.filter(
                pk__in=pending, status=OrderStatus.NEW, sent_at__isnull=True
            )
            marked = set(unsent.values_list("pk", flat=True))
            unsent.update(sent_at=now, updated_at=now)
            to_send = [o for o in orders if o.pk in marked]
            ExecutionEvent.objects.bulk_create(
                [
                    ExecutionEvent(
                        kind=EventKind.ORDER_SENT, actor=ACTOR, account_id=o.account.pk,
                        order_id=o.pk, instrument_id=o.instrument_id,
                        message=f"sent to the venue at {now:%H:%M:%S}",
                    )
                    for o in to_send
                ],
                batch_size=500,
            )  # fmt: skip
    sent: list[Sent] = []
    for order in to_send:
        order.sent_at = now
        try:
            venue = venue_for_account(order.account)
            report = venue.submit(order.request, client_order_id=order.client_order_id)
        except VenueTimeout as error:
            sent.append((order, None, f"timeout: {error}"))
        except (VenueError, DomainError) as error:
            sent.append((order, None, str(error)))
        else:
            sent.append((order, report, ""))
    return sent


def reports_apply(sent: Sequence[Sent]) -> None:
    """Record what the venues answered. The answers go in batches of CHUNK_SIZE through
    execution's bulk path (fills, orders, positions and events in a few statements each;
    the same results as order_report_apply per order, which took ~7 ms an order); an
    order the venue refused or did not answer is settled on its own, as order_submit does."""
    answered = [(order.pk, report) for order, report, _ in sent if report is not None]
    names = {order.pk: order.client_order_id for order, _, _ in sent}
    for batch in batched(answered, CHUNK_SIZE):
        with transaction.atomic():
            refused = order_reports_apply(reports=batch, actor=ACTOR)
            # In the fills' transaction: their notifications then find the copy trades
            # applied (a read each, no write and no commit of its own).
            copy_fills_apply(order_ids=[pk for pk, _ in batch if pk not in refused])
        for order_id, reason in refused.items():
            # One follower's refusal stops no other.
            logger.error("copy order %s: venue report not applied: %s", names[order_id], reason)
    for order, report, error in sent:
        if report is not None:
            continue
        try:
            if error.startswith("timeout: "):
                order_status_set(
                    order_id=order.pk, status=OrderStatus.UNKNOWN,
                    reason=f"no answer from the venue: {error}", actor=ACTOR,
                )  # fmt: skip
            else:
                order_status_set(
                    order_id=order.pk, status=OrderStatus.REJECTED, reason=error, actor=ACTOR
                )
        except DomainError:  # one follower's refusal stops no other
            logger.exception("copy order %s: venue report not applied", order.client_order_id)


_COPY_FILLED = """
SELECT t.id, o.filled_quantity, t.actual_quantity, o.reduce_only, o.account_id,
    o.instrument_id, o.client_order_id, s.stop_loss_percent, s.take_profit_percent
FROM copytrading_copytrade t
JOIN execution_order o ON o.id = t.follower_order_id
JOIN copytrading_copysubscription s ON s.id = t.subscription_id
WHERE t.follower_order_id = %s
"""


@transaction.atomic
def copy_fill_apply(*, order_id: Any) -> None:
    """A follower's copy order filled: keep its copy trade's filled quantity, and protect an
    opened or increased copied position with the subscription's stop loss and take profit.

    Two plain statements when there is nothing to protect (every fill of a fan-out's answers
    comes here): reading three models to do it took ~10 ms a fill. A fill already applied
    (the notification again) changes nothing; the quantity and the exits commit together."""
    with connection.cursor() as cursor:
        cursor.execute(_COPY_FILLED, [Order._meta.pk.get_db_prep_value(order_id, connection)])
        row = cursor.fetchone()
        if row is None or _optional_decimal(row[1]) == _optional_decimal(row[2]):
            return
        cursor.execute(
            "UPDATE copytrading_copytrade SET actual_quantity = %s WHERE id = %s",
            [_optional_decimal(row[1]), row[0]],
        )
    reduce_only, account_id, instrument_id, client_order_id, stop_loss, take_profit = row[3:]
    if reduce_only or (stop_loss is None and take_profit is None):
        return
    _exits_protect(account_id, instrument_id, client_order_id, stop_loss, take_profit)


_COPY_FILLS = """
UPDATE copytrading_copytrade AS t SET actual_quantity = o.filled_quantity
FROM execution_order AS o
WHERE o.id = t.follower_order_id AND t.follower_order_id {orders}
    AND t.actual_quantity <> o.filled_quantity
RETURNING follower_order_id
"""


def copy_fills_apply(*, order_ids: Sequence[Any]) -> None:
    """copy_fill_apply for many copy orders at once: the filled quantities in one statement,
    then the exits of the subscriptions that protect their copies."""
    if not order_ids:
        return
    prep = Order._meta.pk.get_db_prep_value
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                _COPY_FILLS.format(orders="= ANY(%s::uuid[])"), [array_literal(order_ids)]
            )
        else:
            placeholders = ", ".join(["%s"] * len(order_ids))
            cursor.execute(
                _COPY_FILLS.format(orders=f"IN ({placeholders})"),
                [prep(order_id, connection) for order_id in order_ids],
            )
        moved = [order_id for (order_id,) in cursor.fetchall()]
    protected = (
        CopyTrade.objects.filter(follower_order_id__in=moved, follower_order__reduce_only=False)
        .exclude(subscription__stop_loss_percent=None, subscription__take_profit_percent=None)
        .values_list(
            "follower_order__account_id", "follower_order__instrument_id",
            "follower_order__client_order_id", "subscription__stop_loss_percent",
            "subscription__take_profit_percent",
        )
    )  # fmt: skip
    for account_id, instrument_id, client_order_id, stop_loss, take_profit in protected:
        _exits_protect(account_id, instrument_id, client_order_id, stop_loss, take_profit)


def _exits_protect(
    account_id: int, instrument_id: int, client_order_id: str, stop_loss: Any, take_profit: Any
) -> None:
    """Set the subscription's stop loss and take profit on the copied position."""
    position = (
        Position.objects.select_related("instrument")
        .filter(account_id=account_id, instrument_id=instrument_id)
        .first()
    )
    if position is None or not position.quantity or position.average_entry_price is None:
        return
    stop, target = exit_prices(
        position.instrument.spec(),
        long=position.quantity > 0,
        entry=position.average_entry_price,
        stop_loss_percent=_optional_decimal(stop_loss),
        take_profit_percent=_optional_decimal(take_profit),
    )
    try:
        position_exits_set(
            position_id=position.pk, stop_loss_price=stop, take_profit_price=target, actor=ACTOR
        )
    except DomainError:
        logger.exception("copy order %s: exits not set", client_order_id)


def _optional_decimal(value: Any) -> Decimal | None:
    # PostgreSQL returns Decimal; SQLite returns int or float for numeric columns.
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def open_positions_copy(*, subscription_id: int) -> list[CopyOrder]:
    """On joining: open the leader's current positions at the follower's size, as if each
    were one leader fill at its mark (limit IOC within the slippage cap)."""
    subscription = CopySubscription.objects.select_related("strategy").get(pk=subscription_id)
    if subscription.status != SubscriptionStatus.ACTIVE:
        return []
    strategy = subscription.strategy
    leader_equity = account_valuation(strategy.account).equity
    positions = (
        Position.objects.filter(account_id=strategy.account_id)
        .exclude(quantity=0)
        .select_related("instrument")
    )
    placed: list[CopyOrder] = []
    for position in positions:
        instrument = position.instrument
        if (
            instrument.mark_price is None
            or CopyTrade.objects.filter(
                subscription=subscription, kind=CopyTradeKind.JOIN, instrument=instrument
            ).exists()
        ):
            continue
        leader = Leader(
            fill_id=0, strategy_id=strategy.pk, instrument=instrument, spec=instrument.spec(),
            fill=LeaderFill(
                side=Side.BUY if position.quantity > 0 else Side.SELL,
                quantity=abs(position.quantity), price=instrument.mark_price,
                position_before=ZERO, leader_equity=leader_equity,
            ),
        )  # fmt: skip
        placed.extend(_join_copy(subscription, leader))
    return placed


def _join_copy(subscription: CopySubscription, leader: Leader) -> list[CopyOrder]:
    instrument, spec = leader.instrument, leader.spec
    now = timezone.now()
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=subscription.account_id)
        risks, _ = account_risks([account], instrument, now=now)
        risk = risks[account.pk]
        plan = plan_copy(
            leader.fill,
            FollowerState(
                capital=subscription.start_capital, copied_quantity=ZERO,
                position_quantity=risk.position_quantity,
            ),
            subscription_terms(subscription), spec,
        )  # fmt: skip
        trade = CopyTrade(
            subscription=subscription, kind=CopyTradeKind.JOIN, instrument=instrument,
            side=plan.side, leader_price=leader.fill.price,
            intended_quantity=plan.intended_quantity, quantity=ZERO,
            skipped_reason=plan.skipped_reason,
        )  # fmt: skip
        copy = None
        if not plan.skipped:
            request, refusal = _request(plan, instrument, spec, account.risk_limits(), risk)
            if request is None:
                trade.skipped_reason = refusal
            else:
                order = Order.objects.create(
                    client_order_id=f"cj{subscription.pk}i{instrument.pk}", account=account,
                    instrument=instrument, side=request.side, order_type=request.order_type,
                    time_in_force=request.time_in_force, quantity=request.quantity,
                    price=request.price, reduce_only=request.reduce_only,
                )  # fmt: skip
                ExecutionEvent.objects.create(
                    kind=EventKind.ORDER_CREATED, actor=ACTOR, account=account, order=order,
                    instrument=instrument,
                    message=f"{order.side} {order.quantity} {instrument.symbol} limit ioc @ "
                    f"{order.price} (open position copied on joining)",
                    data={"subscription": subscription.pk},
                )  # fmt: skip
                trade.follower_order, trade.quantity = order, order.quantity
                copy = CopyOrder(order.pk, order.client_order_id, account, instrument.pk, request)
        trade.save()
    if copy is None:
        return []
    reports_apply(orders_send([copy]))
    return [copy]


def copy_stop_loss_check(*, subscription_ids: Sequence[int] | None = None) -> list[int]:
    """Stop (and close, if the follower chose so) every active subscription whose equity
    fell its copy stop loss from its peak; moves peaks up. Returns the ones stopped."""
    rows = CopySubscription.objects.filter(status=SubscriptionStatus.ACTIVE)
    if subscription_ids is not None:
        rows = rows.filter(pk__in=subscription_ids)
    today = utc_today()
    stopped = []
    for chunk in batched(rows.order_by("pk"), CHUNK_SIZE):
        books = copy_books([s.pk for s in chunk])
        marks = instrument_marks(i for b in books.values() for i in b.quantities)
        touched = []
        for subscription in chunk:
            equity = books.get(subscription.pk, CopyBook()).equity(
                subscription.start_capital, marks
            )
            if copy_stop_loss_hit(
                peak=subscription.peak_equity,
                equity=equity,
                percent=subscription.copy_stop_loss_percent,
            ):
                stopped.append(subscription.pk)
            elif _track_equity(subscription, equity, today):
                touched.append(subscription)
        _equity_save(touched)
    for subscription_id in stopped:
        _copy_stop_loss_stop(subscription_id)
    return stopped
