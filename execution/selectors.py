"""Reads for services, views, APIs and consumers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from itertools import groupby
from operator import itemgetter
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Count, DecimalField, F, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from execution.domain import algos, breakers, urgency
from execution.domain.errors import DomainError
from execution.domain.metrics import (
    CashFlow,
    ClosedTrade,
    EquityPoint,
    PerformanceSummary,
    UnmeasurableReturn,
    average_trade,
    closed_trades,
    profit_factor,
    summarize,
    win_rate,
)
from execution.domain.orders import OPEN_STATUSES, FillEvent, OrderStatus
from execution.domain.positions import fee_in_quote
from execution.domain.quality import (
    ArrivalBook,
    ExecutionQuality,
    QualityFill,
    QualitySummary,
    execution_quality,
    summarize_quality,
)
from execution.domain.risk import AccountRisk
from execution.domain.values import (
    DECIMAL_PLACES,
    MAX_DIGITS,
    ZERO,
    Liquidity,
    Side,
    exact,
    plain,
)
from execution.marketdata import pgbinary
from execution.marketdata.base import Floats, Times
from execution.models import (
    Account,
    AccountBreakers,
    AccountDay,
    Balance,
    Candle,
    EventKind,
    ExecutionEvent,
    Fill,
    Instrument,
    InstrumentBreaker,
    MarketTrade,
    Order,
    ParentOrder,
    Position,
)


@dataclass(frozen=True, slots=True)
class AccountValuation:
    """An account in its base currency. Cash is deposits plus realized P&L (net of fees)."""

    currency: str
    deposited: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    margin_in_use: Decimal
    reserved_by_orders: Decimal

    @property
    def cash(self) -> Decimal:
        return self.deposited + self.realized_pnl

    @property
    def equity(self) -> Decimal:
        return self.cash + self.unrealized_pnl

    @property
    def available(self) -> Decimal:
        return self.cash - self.margin_in_use - self.reserved_by_orders


def account_valuation(account: Account) -> AccountValuation:
    deposited = (
        Balance.objects.filter(account=account, currency=account.base_currency)
        .values_list("deposited", flat=True)
        .first()
    ) or ZERO
    totals = Position.objects.filter(account=account).aggregate(
        realized=Sum("realized_pnl"), unrealized=Sum("unrealized_pnl"), margin=Sum("margin")
    )
    # Summed in the database (exact numeric on PostgreSQL): an account with thousands of
    # resting orders must not load them all inside order_place's account lock.
    reference = Coalesce("price", "stop_price", "instrument__mark_price", Value(ZERO))
    reserved = Order.objects.filter(
        account=account, status__in=OPEN_STATUSES, reduce_only=False
    ).aggregate(
        reserved=Sum(
            (F("quantity") - F("filled_quantity")) * reference,
            output_field=DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES),
        )
    )["reserved"]
    return AccountValuation(
        currency=account.base_currency,
        deposited=deposited,
        realized_pnl=totals["realized"] or ZERO,
        unrealized_pnl=totals["unrealized"] or ZERO,
        margin_in_use=totals["margin"] or ZERO,
        reserved_by_orders=ZERO if reserved is None else plain(reserved),
    )


def utc_today() -> date:
    """The calendar day the daily loss limit counts in: UTC, whatever TIME_ZONE says."""
    return timezone.now().astimezone(UTC).date()


def account_risk(
    account: Account, instrument: Instrument, day: AccountDay, *, now: datetime | None = None
) -> AccountRisk:
    valuation = account_valuation(account)
    position_quantity = (
        Position.objects.filter(account=account, instrument=instrument)
        .values_list("quantity", flat=True)
        .first()
    ) or ZERO
    # The breakers refuse orders that add risk; check_order applies them to the opening part.
    refusals = breakers.check_new_order(
        account_breaker_state(account),
        symbol=instrument.symbol,
        halted=instrument_halted(instrument, now or timezone.now()),
        reduces_risk=False,
    )
    return AccountRisk(
        equity=valuation.equity,
        available_balance=valuation.available,
        start_of_day_equity=day.loss_baseline,
        loss_limit_breached=day.loss_limit_breached_at is not None,
        position_quantity=position_quantity,
        mid_price=None if instrument.mark_price is None else plain(instrument.mark_price),
        taker_fee_rate=Decimal(settings.PAPER_TAKER_FEE_RATE),
        breaker_refusals=tuple(refusals),
    )


def accounts_for_owner(owner_id: int) -> QuerySet[Account]:
    return Account.objects.filter(owner_id=owner_id)


def positions_for_owner(owner_id: int) -> QuerySet[Position]:
    return Position.objects.filter(account__owner_id=owner_id).select_related(
        "account", "instrument"
    )


def orders_for_owner(owner_id: int) -> QuerySet[Order]:
    return Order.objects.filter(account__owner_id=owner_id).select_related("account", "instrument")


def fills_for_owner(owner_id: int) -> QuerySet[Fill]:
    return Fill.objects.filter(order__account__owner_id=owner_id).select_related(
        "order", "order__instrument"
    )


def events_for_owner(owner_id: int) -> QuerySet[ExecutionEvent]:
    return ExecutionEvent.objects.filter(account__owner_id=owner_id)


# --- the REST API's reads (execution/api) -----------------------------------------------------


def instrument_active(symbol: str) -> Instrument | None:
    """The instrument orders can be placed in under ``symbol``, or None."""
    return Instrument.objects.filter(symbol=symbol, is_active=True).first()


def instrument_exists(symbol: str) -> bool:
    return Instrument.objects.filter(symbol=symbol).exists()


def open_orders_for_owner(owner_id: int) -> QuerySet[Order]:
    return orders_for_owner(owner_id).filter(status__in=OPEN_STATUSES)


def orders_to_reconcile_for_owner(owner_id: int, *, account_id: int | None = None) -> list[Order]:
    """Open orders that were sent to a venue: the ones whose venue may know more than we do."""
    orders = open_orders_for_owner(owner_id).filter(sent_at__isnull=False)
    if account_id is not None:
        orders = orders.filter(account_id=account_id)
    return list(orders.order_by("created_at", "pk"))


def positions_in_instrument_for_owner(
    owner_id: int, symbol: str, *, account_id: int | None = None
) -> QuerySet[Position]:
    positions = positions_for_owner(owner_id).filter(instrument__symbol=symbol)
    if account_id is not None:
        positions = positions.filter(account_id=account_id)
    return positions.order_by("account_id")


@dataclass(frozen=True, slots=True)
class AccountOverview:
    account: Account
    valuation: AccountValuation


def account_overviews_for_owner(owner_id: int) -> list[AccountOverview]:
    return [
        AccountOverview(account=account, valuation=account_valuation(account))
        for account in accounts_for_owner(owner_id).order_by("pk")
    ]


@dataclass(frozen=True, slots=True)
class InstrumentActivity:
    """Trading in one instrument, all time. Fees and P&L are in its quote currency."""

    symbol: str
    quote_currency: str
    fill_count: int
    volume: Decimal  # base quantity traded, buys and sells alike
    notional: Decimal  # quantity x price traded
    fees: Decimal
    realized_pnl: Decimal  # net of fees
    unrealized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class CurrencyTotals:
    currency: str
    notional: Decimal
    fees: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class TradingStatistics:
    order_count: int
    orders_by_status: dict[str, int]
    fill_count: int
    instruments: list[InstrumentActivity]
    totals: list[CurrencyTotals]  # one per quote currency: amounts in two never add up


def trading_statistics_for_owner(
    owner_id: int, *, account_id: int | None = None
) -> TradingStatistics:
    """Counts from orders and fills; volume and notional from the orders' exact fill sums;
    fees and P&L from the positions, which keep them in the quote currency."""
    orders = Order.objects.filter(account__owner_id=owner_id)
    fills = Fill.objects.filter(order__account__owner_id=owner_id)
    positions = Position.objects.filter(account__owner_id=owner_id)
    if account_id is not None:
        orders = orders.filter(account_id=account_id)
        fills = fills.filter(order__account_id=account_id)
        positions = positions.filter(account_id=account_id)

    by_status = {status.value: 0 for status in OrderStatus}
    for row in orders.values("status").annotate(n=Count("pk")).order_by():
        by_status[row["status"]] = row["n"]
    fill_counts = {
        row["order__instrument__symbol"]: row["n"]
        for row in fills.values("order__instrument__symbol").annotate(n=Count("pk")).order_by()
    }
    traded = {
        row["instrument__symbol"]: row
        for row in orders.filter(filled_quantity__gt=0)
        .values("instrument__symbol")
        .annotate(volume=Sum("filled_quantity"), notional=Sum("filled_notional"))
        .order_by()
    }
    held = {
        row["instrument__symbol"]: row
        for row in positions.values("instrument__symbol")
        .annotate(
            fees=Sum("fees_paid"), realized=Sum("realized_pnl"), unrealized=Sum("unrealized_pnl")
        )
        .order_by()
    }
    symbols = sorted(set(fill_counts) | set(traded) | set(held))
    quotes = dict(
        Instrument.objects.filter(symbol__in=symbols).values_list("symbol", "quote_currency")
    )
    instruments = [
        InstrumentActivity(
            symbol=symbol,
            quote_currency=quotes[symbol],
            fill_count=fill_counts.get(symbol, 0),
            volume=traded.get(symbol, {}).get("volume") or ZERO,
            notional=traded.get(symbol, {}).get("notional") or ZERO,
            fees=held.get(symbol, {}).get("fees") or ZERO,
            realized_pnl=held.get(symbol, {}).get("realized") or ZERO,
            unrealized_pnl=held.get(symbol, {}).get("unrealized") or ZERO,
        )
        for symbol in symbols
    ]
    totals: dict[str, CurrencyTotals] = {}
    with exact():
        for activity in instruments:
            so_far = totals.get(activity.quote_currency) or CurrencyTotals(
                activity.quote_currency, ZERO, ZERO, ZERO, ZERO
            )
            totals[activity.quote_currency] = CurrencyTotals(
                currency=activity.quote_currency,
                notional=so_far.notional + activity.notional,
                fees=so_far.fees + activity.fees,
                realized_pnl=so_far.realized_pnl + activity.realized_pnl,
                unrealized_pnl=so_far.unrealized_pnl + activity.unrealized_pnl,
            )
    return TradingStatistics(
        order_count=sum(by_status.values()),
        orders_by_status=by_status,
        fill_count=sum(fill_counts.values()),
        instruments=instruments,
        totals=[totals[currency] for currency in sorted(totals)],
    )


def closed_trades_for_account(
    account: Account, *, symbol: str | None = None, until: datetime | None = None
) -> list[ClosedTrade]:
    """Round trips closed by the account's fills (before ``until``), instrument by instrument,
    by the same accounting as its positions; in the order they closed."""
    fills = Fill.objects.filter(order__account=account)
    if symbol is not None:
        fills = fills.filter(order__instrument__symbol=symbol)
    if until is not None:
        fills = fills.filter(filled_at__lt=until)
    rows = fills.order_by("order__instrument_id", "filled_at", "pk").values_list(
        "order__instrument_id",
        "order__instrument__base_currency",
        "order__instrument__quote_currency",
        "order__side",
        "venue_trade_id",
        "quantity",
        "price",
        "fee",
        "fee_currency",
        "liquidity",
        "filled_at",
    )
    trades: list[ClosedTrade] = []
    for _instrument, group in groupby(rows, key=itemgetter(0)):
        events = []
        for _, base, quote, side, trade_id, qty, price, fee, fee_currency, liquidity, at in group:
            fee_quote = fee_in_quote(
                fee=fee, fee_currency=fee_currency, base=base, quote=quote, price=price
            )
            events.append(
                (
                    at,
                    FillEvent(
                        fill_id=trade_id,
                        side=Side(side),
                        quantity=qty,
                        price=price,
                        fee=fee_quote,
                        liquidity=Liquidity(liquidity),
                    ),
                )
            )
        trades.extend(closed_trades(events))
    return sorted(trades, key=lambda trade: trade.closed_at)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def equity_curve_for_account(
    account: Account, *, start_date: date | None = None, end_date: date | None = None
) -> list[EquityPoint]:
    """Each UTC day's opening equity (AccountDay.start_equity) at 00:00 UTC, then the current
    equity now when the range reaches today. A day without a row is skipped."""
    days = AccountDay.objects.filter(account=account)
    if start_date is not None:
        days = days.filter(day__gte=start_date)
    if end_date is not None:
        days = days.filter(day__lte=end_date)
    curve: list[EquityPoint] = [
        (_day_start(day), equity)
        for day, equity in days.order_by("day").values_list("day", "start_equity")
    ]
    now = timezone.now()
    if (end_date is None or end_date >= utc_today()) and (not curve or now > curve[-1][0]):
        curve.append((now, account_valuation(account).equity))
    return curve


def cash_flows_for_account(
    account: Account, *, after: datetime | None = None, until: datetime | None = None
) -> list[CashFlow]:
    """Deposits (positive) and withdrawals (negative) of the account's base currency after
    ``after`` up to ``until``, in time order, from the audit trail of funds_deposit (Balance
    keeps only their sum). The opening deposit is not one: it precedes every equity point."""
    events = ExecutionEvent.objects.filter(
        account=account, kind=EventKind.FUNDS_DEPOSITED, data__currency=account.base_currency
    )
    if after is not None:
        events = events.filter(created_at__gt=after)
    if until is not None:
        events = events.filter(created_at__lte=until)
    rows = events.order_by("created_at", "pk").values_list("created_at", "data")
    return [(at, Decimal(str(data["amount"]))) for at, data in rows]


PERIODS_PER_YEAR_DAILY = 365.0  # daily points of a market open every day


@dataclass(frozen=True, slots=True)
class AccountPerformance:
    account: Account
    start_date: date | None
    end_date: date | None
    symbol: str | None
    trade_count: int
    win_rate: float
    profit_factor: float | None
    average_trade: Decimal
    net_pnl: Decimal
    fees: Decimal
    equity_curve: list[EquityPoint]
    cash_flows: list[CashFlow]  # deposits and withdrawals within the curve's span
    # None with fewer than two points, a non-positive one, or a period whose return cannot be
    # measured (UnmeasurableReturn)
    curve: PerformanceSummary | None


def account_performance(
    account: Account,
    *,
    start_date: date | None = None,
    end_date: date | None = None,
    symbol: str | None = None,
) -> AccountPerformance:
    """Trade statistics of the round trips closed in the date range (in ``symbol`` only, if
    given) and return statistics of the account's daily equity curve over the range, time
    weighted: deposits and withdrawals are cash flows, not gains and losses.

    The curve's points are each day's opening equity taken as measured at 00:00 UTC, as the
    scheduled account_days_open measures it. A day opened lazily instead (no scheduler) is
    measured at its first order: a deposit made that day before it is in that equity already
    but dated after its point, and reads as a loss of the next period."""
    until = None if end_date is None else _day_start(end_date + timedelta(days=1))
    since = None if start_date is None else _day_start(start_date)
    trades = [
        trade
        for trade in closed_trades_for_account(account, symbol=symbol, until=until)
        if since is None or trade.closed_at >= since
    ]
    curve = equity_curve_for_account(account, start_date=start_date, end_date=end_date)
    flows = cash_flows_for_account(account, after=curve[0][0], until=curve[-1][0]) if curve else []
    return _performance(account, trades, curve, flows, start_date, end_date, symbol)


def account_performance_windows(
    account: Account, start_dates: Sequence[date]
) -> list[AccountPerformance]:
    """``account_performance`` from each of ``start_dates`` to now, reading the account's
    fills, days and deposits once for all of them (a leaderboard asks for 7, 30 and 90 days of
    every strategy)."""
    if not start_dates:
        return []
    trades = closed_trades_for_account(account)
    curve = equity_curve_for_account(account, start_date=min(start_dates))
    flows = cash_flows_for_account(account, after=curve[0][0], until=curve[-1][0]) if curve else []
    windows = []
    for start_date in start_dates:
        since = _day_start(start_date)
        window = [point for point in curve if point[0] >= since]
        window_flows = (
            [flow for flow in flows if window[0][0] < flow[0] <= window[-1][0]] if window else []
        )
        closed = [trade for trade in trades if trade.closed_at >= since]
        windows.append(_performance(account, closed, window, window_flows, start_date, None, None))
    return windows


def _performance(
    account: Account,
    trades: list[ClosedTrade],
    curve: list[EquityPoint],
    flows: list[CashFlow],
    start_date: date | None,
    end_date: date | None,
    symbol: str | None,
) -> AccountPerformance:
    summary = None
    if len(curve) >= 2 and all(equity > 0 for _, equity in curve):
        try:
            summary = summarize(curve, trades, PERIODS_PER_YEAR_DAILY, cash_flows=flows)
        except UnmeasurableReturn:
            summary = None
    with exact():
        net_pnl = sum((trade.net_pnl for trade in trades), ZERO)
        fees = sum((trade.fees for trade in trades), ZERO)
    return AccountPerformance(
        account=account,
        start_date=start_date,
        end_date=end_date,
        symbol=symbol,
        trade_count=len(trades),
        win_rate=win_rate(trades),
        profit_factor=profit_factor(trades),
        average_trade=average_trade(trades),
        net_pnl=net_pnl,
        fees=fees,
        equity_curve=curve,
        cash_flows=flows,
        curve=summary,
    )


# --- the dashboard's overview ------------------------------------------------------------------

OVERVIEW_DAYS = 30


@dataclass(frozen=True, slots=True)
class DailyPnl:
    """One UTC day's P&L: the next opening's equity (or now, for today) less this opening's and
    the day's net deposits (money moved in is not a gain)."""

    day: date
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class AccountDashboard:
    account: Account
    valuation: AccountValuation
    # Today's opening equity plus today's net deposits; None until the day opens (its first
    # order or the scheduled opening), when today's P&L is not measured yet.
    day_baseline: Decimal | None
    daily_pnl: list[DailyPnl]  # the last OVERVIEW_DAYS days that have an opening, oldest first
    kill_switch: breakers.KillSwitch

    @property
    def today_pnl(self) -> Decimal | None:
        if self.day_baseline is None:
            return None
        return self.valuation.equity - self.day_baseline

    @property
    def pnl_30d(self) -> Decimal:
        with exact():
            return sum((point.pnl for point in self.daily_pnl), ZERO)


def account_dashboards_for_owner(owner_id: int) -> list[AccountDashboard]:
    """Each of the owner's accounts with its equity, today's and the last 30 days' P&L day by
    day, and its kill switch: the overview page and its state endpoint."""
    today = utc_today()
    first_day = today - timedelta(days=OVERVIEW_DAYS - 1)
    accounts = list(accounts_for_owner(owner_id).order_by("pk"))
    rows: dict[int, list[AccountDay]] = {account.pk: [] for account in accounts}
    for row in AccountDay.objects.filter(account__in=accounts, day__gte=first_day).order_by("day"):
        rows[row.account_id].append(row)
    switches = {view.account.pk: view.kill_switch for view in account_breakers_for_owner(owner_id)}
    dashboards = []
    for account in accounts:
        valuation = account_valuation(account)
        days = rows[account.pk]
        # A day's closing equity is the next opening's (before that day's deposits), or now.
        closings = [later.start_equity for later in days[1:]] + [valuation.equity] * bool(days)
        daily = [
            DailyPnl(day=row.day, pnl=close - row.start_equity - row.deposits)
            for row, close in zip(days, closings, strict=True)
        ]
        baseline = days[-1].loss_baseline if days and days[-1].day == today else None
        dashboards.append(
            AccountDashboard(
                account=account,
                valuation=valuation,
                day_baseline=baseline,
                daily_pnl=daily,
                kill_switch=switches.get(account.pk, breakers.KillSwitch()),
            )
        )
    return dashboards


def open_positions_for_owner(owner_id: int) -> QuerySet[Position]:
    return (
        positions_for_owner(owner_id)
        .exclude(quantity=0)
        .order_by("account_id", "instrument__symbol")
    )


def recent_orders_for_owner(owner_id: int, *, limit: int = 20) -> list[Order]:
    return list(orders_for_owner(owner_id).order_by("-created_at")[:limit])


def recent_fills_for_owner(owner_id: int, *, limit: int = 20) -> list[Fill]:
    return list(
        fills_for_owner(owner_id)
        .select_related("order__account")
        .order_by("-filled_at", "-pk")[:limit]
    )


# --- parent orders and their execution quality ------------------------------------------------


def parent_orders_for_owner(owner_id: int) -> QuerySet[ParentOrder]:
    return ParentOrder.objects.filter(account__owner_id=owner_id).select_related(
        "account", "instrument"
    )


def parent_order_children(parent: ParentOrder) -> QuerySet[Order]:
    """Its child orders, in the order they were sent."""
    return (
        Order.objects.filter(parent=parent)
        .select_related("account", "instrument")
        .order_by("created_at", "pk")
    )


_QUALITY_FILL_COLUMNS = ("quantity", "price", "fee", "fee_currency", "filled_at")


def parent_order_quality(parent: ParentOrder) -> ExecutionQuality | None:
    """How the parent was executed (execution.domain.quality); None when nothing gives its
    arrival mid (no arrival book with both sides, and no child yet).

    - Arrival mid: the mid of the parent's arrival book (the book when it was placed); for a
      parent without one (placed before arrival books were stored, or with a side of the book
      empty), the first child's arrival mid (``state.children[0].arrival_mid``, the mid when
      it was sent).
    - Final mid, which marks an unfilled rest: the latest of the arrival book's mid, the
      children's arrival mids and the instrument's mark, the mark only when it was taken
      during the parent's life (from its start to its ending, or to now while it works).
    - Fees charged in the base currency convert at the fill price.
    - The market-order baseline walks the arrival book (its top ``ARRIVAL_BOOK_LEVELS`` levels
      a side), charged the paper exchange's taker fee rate; None without an arrival book.
    - Signal-to-fill times count from ``signal_at``, or from the placement (``created_at``)
      for a parent placed directly, without a signal.
    """
    fills = Fill.objects.filter(order__parent=parent).values_list(*_QUALITY_FILL_COLUMNS)
    return _parent_quality(parent, list(fills))


@dataclass(frozen=True, slots=True)
class QualityGroup:
    """The execution quality of one algorithm's or one strategy's parents quoted in one
    currency (money in two currencies never adds up)."""

    key: str | int | None  # the algorithm's kind, or the strategy id (None: placed by hand)
    currency: str
    summary: QualitySummary


@dataclass(frozen=True, slots=True)
class ExecutionQualityReport:
    parent_count: int  # parents the filters matched
    measured_count: int  # those with an arrival mid, so a quality
    by_algorithm: list[QualityGroup]
    by_strategy: list[QualityGroup]


def execution_quality_report_for_owner(
    owner_id: int,
    *,
    account_id: int | None = None,
    symbol: str | None = None,
    strategy_id: int | None = None,
    algorithm: str | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
) -> ExecutionQualityReport:
    """Execution quality of the owner's parents placed from ``start_date`` to ``end_date``
    (UTC days, inclusive), narrowed by the other filters, summarized per algorithm and per
    strategy (execution.domain.quality.summarize_quality)."""
    parents = parent_orders_for_owner(owner_id)
    if account_id is not None:
        parents = parents.filter(account_id=account_id)
    if symbol is not None:
        parents = parents.filter(instrument__symbol=symbol)
    if strategy_id is not None:
        parents = parents.filter(strategy_id=strategy_id)
    if algorithm is not None:
        parents = parents.filter(algorithm=algorithm)
    if start_date is not None:
        parents = parents.filter(created_at__gte=_day_start(start_date))
    if end_date is not None:
        parents = parents.filter(created_at__lt=_day_start(end_date + timedelta(days=1)))
    rows = list(parents.order_by("created_at", "pk"))
    fills: dict[str, list[tuple[Any, ...]]] = {}
    # A subquery, not a list of ids: a long list would pass SQLite's limit on parameters.
    for parent_id, *columns in Fill.objects.filter(
        order__parent__in=parents.values("pk")
    ).values_list("order__parent_id", *_QUALITY_FILL_COLUMNS):
        fills.setdefault(parent_id, []).append(tuple(columns))
    measured = [
        (parent, quality)
        for parent in rows
        if (quality := _parent_quality(parent, fills.get(parent.pk, []))) is not None
    ]
    by_algorithm = summarize_quality(
        ((p.algorithm, p.instrument.quote_currency), q) for p, q in measured
    )
    by_strategy = summarize_quality(
        ((p.strategy_id, p.instrument.quote_currency), q) for p, q in measured
    )
    return ExecutionQualityReport(
        parent_count=len(rows),
        measured_count=len(measured),
        by_algorithm=[
            QualityGroup(key=kind, currency=currency, summary=summary)
            for (kind, currency), summary in sorted(by_algorithm.items(), key=itemgetter(0))
        ],
        by_strategy=[
            QualityGroup(key=strategy, currency=currency, summary=summary)
            for (strategy, currency), summary in sorted(
                # Parents placed by hand (no strategy) first, then by strategy id.
                by_strategy.items(),
                key=lambda item: (item[0][0] is not None, item[0][0] or 0, item[0][1]),
            )
        ],
    )


def _parent_quality(parent: ParentOrder, fills: list[tuple[Any, ...]]) -> ExecutionQuality | None:
    state = algos.ParentOrder.from_dict(parent.state)
    arrival = None if parent.arrival_book is None else ArrivalBook.from_dict(parent.arrival_book)
    book_mid = None if arrival is None else arrival.book.mid
    mids = [(child.sent_at, child.arrival_mid) for child in state.children]
    if arrival is not None and book_mid is not None:
        arrival_mid = book_mid
        mids.append((arrival.at, book_mid))
    elif state.children:
        arrival_mid = state.children[0].arrival_mid
    else:
        return None
    instrument = parent.instrument
    end = timezone.now() if state.ending is None else state.ending.at
    mark, marked_at = instrument.mark_price, instrument.marked_at
    if mark is not None and marked_at is not None and state.started_at <= marked_at <= end:
        mids.append((marked_at, plain(mark)))
    quality_fills = [
        QualityFill(
            quantity=quantity,
            price=price,
            fee=fee_in_quote(
                fee=fee,
                fee_currency=fee_currency,
                base=instrument.base_currency,
                quote=instrument.quote_currency,
                price=price,
            ),
            at=filled_at,
        )
        for quantity, price, fee, fee_currency, filled_at in fills
    ]
    return execution_quality(
        side=Side(parent.side),
        quantity=plain(parent.quantity),
        arrival_mid=arrival_mid,
        fills=quality_fills,
        mids=mids,
        signal_at=parent.signal_at or parent.created_at,
        book=None if arrival is None else arrival.book,
        taker_fee_rate=Decimal(settings.PAPER_TAKER_FEE_RATE),
    )


# -- circuit breakers ------------------------------------------------------------------------


@cache
def breaker_config() -> breakers.BreakerConfig:
    """The breakers' thresholds: defaults overridden by settings.EXECUTION_BREAKERS."""
    return breakers.BreakerConfig.from_dict(getattr(settings, "EXECUTION_BREAKERS", {}))


def spread_halt_of(row: InstrumentBreaker | None, symbol: str) -> breakers.SpreadHalt:
    if row is None:
        return breakers.SpreadHalt(symbol)
    return breakers.SpreadHalt(
        symbol, unstable_since=row.unstable_since, halted_since=row.halted_since
    )


def instrument_halted(instrument: Instrument, now: datetime) -> bool:
    """Whether new orders that add risk on ``instrument`` are halted at ``now``."""
    row = InstrumentBreaker.objects.filter(instrument=instrument).first()
    return spread_halt_of(row, instrument.symbol).halted_at(now, breaker_config())


def account_breaker_state(account: Account) -> breakers.BreakerState:
    """An account's breakers as the domain sees them (not locked: for checks and reads)."""
    data = AccountBreakers.objects.filter(account=account).values_list("state", flat=True).first()
    return breaker_state_of(data, account)


def breaker_state_of(data: object, account: Account) -> breakers.BreakerState:
    if not data:
        return breakers.BreakerState(account=str(account.pk))
    if not isinstance(data, dict):
        raise DomainError(f"breaker state of account {account.pk} is not readable")
    return breakers.BreakerState.from_dict(data)


@dataclass(frozen=True, slots=True)
class InstrumentHaltView:
    """An instrument's market-wide halt as of ``now``."""

    symbol: str
    halted: bool
    halted_since: datetime | None
    unstable_since: datetime | None
    spread_stability: float | None
    observed_at: datetime | None


@dataclass(frozen=True, slots=True)
class SizeReductionView:
    symbol: str
    size_factor: Decimal
    reduced_until: datetime | None
    urgent_signals: int  # within the counting window


@dataclass(frozen=True, slots=True)
class AccountBreakersView:
    """An account's breakers as of ``now`` (windows moved on, expired reductions gone)."""

    account: Account
    kill_switch: breakers.KillSwitch
    overrides_used: int
    overrides_allowed: int
    override_window: timedelta
    reductions: list[SizeReductionView]


def instrument_halts(*, now: datetime | None = None) -> list[InstrumentHaltView]:
    """Every active instrument's halt; a halt that came due while the feed was quiet shows."""
    now = now or timezone.now()
    config = breaker_config()
    rows = {
        row.instrument_id: row
        for row in InstrumentBreaker.objects.filter(instrument__is_active=True)
    }
    views = []
    for instrument in Instrument.objects.filter(is_active=True).order_by("symbol"):
        row = rows.get(instrument.pk)
        halt = spread_halt_of(row, instrument.symbol)
        advanced, _ = halt.advance(now, config)
        views.append(
            InstrumentHaltView(
                symbol=instrument.symbol,
                halted=advanced.halted_at(now, config),
                halted_since=advanced.halted_since,
                unstable_since=advanced.unstable_since,
                spread_stability=None if row is None else row.stability,
                observed_at=None if row is None else row.observed_at,
            )
        )
    return views


def account_breakers_for_owner(
    owner_id: int, *, account_id: int | None = None, now: datetime | None = None
) -> list[AccountBreakersView]:
    now = now or timezone.now()
    config = breaker_config()
    accounts = accounts_for_owner(owner_id).order_by("pk")
    if account_id is not None:
        accounts = accounts.filter(pk=account_id)
    states = dict(
        AccountBreakers.objects.filter(account__in=accounts).values_list("account_id", "state")
    )
    views = []
    for account in accounts:
        stored = breaker_state_of(states.get(account.pk), account)
        state = breakers.advance(stored, now, config).state
        reductions = [
            SizeReductionView(
                symbol=symbol,
                size_factor=breakers.size_factor(state, symbol=symbol, now=now, config=config),
                reduced_until=item.reduced_until,
                urgent_signals=len(item.urgent_signals),
            )
            for symbol, item in sorted(state.instruments.items())
            if item.reduced_until is not None or item.urgent_signals
        ]
        views.append(
            AccountBreakersView(
                account=account,
                kill_switch=state.kill_switch,
                overrides_used=len(state.overrides),
                overrides_allowed=config.max_overrides,
                override_window=config.override_window,
                reductions=reductions,
            )
        )
    return views


def breaker_events_for_owner(owner_id: int) -> QuerySet[ExecutionEvent]:
    """Breaker transitions of the owner's accounts and the market-wide halts of instruments."""
    return (
        ExecutionEvent.objects.filter(kind=EventKind.BREAKER)
        .filter(Q(account__owner_id=owner_id) | Q(account__isnull=True, instrument__isnull=False))
        .select_related("instrument")
    )


# --- Market data history ----------------------------------------------------------------------
# Windows load as numpy columns. On PostgreSQL a candle window travels as one bytea that the
# server packs and numpy reads in place (execution.marketdata.pgbinary; measured in
# bench/bench_marketdata.py).


@dataclass(frozen=True, slots=True)
class CandleWindow:
    """Candles oldest first: ``open_time`` in UTC (datetime64[us]), OHLCV as float64."""

    open_time: Times
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats

    def __len__(self) -> int:
        return len(self.open_time)


@dataclass(frozen=True, slots=True)
class TradeWindow:
    """Trades oldest first; ``aggressor_side`` is "buy" or "sell"."""

    traded_at: Times
    price: Floats
    size: Floats
    aggressor_side: np.ndarray[Any, np.dtype[np.str_]]

    def __len__(self) -> int:
        return len(self.traded_at)


@dataclass(frozen=True, slots=True)
class StoredHistory:
    symbol: str
    interval: str
    candles: int
    first: datetime
    last: datetime


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_CANDLE_COLUMNS = ("open", "high", "low", "close", "volume")


def candle_window(*, symbol: str, interval: str, start: datetime, end: datetime) -> CandleWindow:
    """The candles of ``symbol`` and ``interval`` opening in [start, end), oldest first."""
    start, end = _utc(start), _utc(end)
    if connection.vendor == "postgresql":
        packed = pgbinary.packed_rows_sql(
            "c.open_time", tuple(f"c.{name}" for name in _CANDLE_COLUMNS), order_by="c.open_time"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {packed} FROM {Candle._meta.db_table} c "  # nosec B608: names from the code, values bound
                f"JOIN {Instrument._meta.db_table} i ON i.id = c.instrument_id "
                "WHERE i.symbol = %s AND c.interval = %s "
                "AND c.open_time >= %s AND c.open_time < %s",
                [symbol, interval, start, end],
            )
            (data,) = cursor.fetchone() or (None,)
        times, floats = pgbinary.unpack_rows(data, _CANDLE_COLUMNS)
        return CandleWindow(open_time=times, **floats)
    values = list(
        Candle.objects.filter(
            instrument__symbol=symbol, interval=interval, open_time__gte=start, open_time__lt=end
        )
        .order_by("open_time")
        .values_list("open_time", *_CANDLE_COLUMNS)
    )
    times = np.array([row[0].replace(tzinfo=None) for row in values], dtype="datetime64[us]")
    numbers = np.array([row[1:] for row in values], dtype=np.float64).reshape(-1, 5)
    return CandleWindow(times, *(numbers[:, k] for k in range(5)))


def market_trade_window(*, symbol: str, start: datetime, end: datetime) -> TradeWindow:
    """The trades of ``symbol`` printed in [start, end), oldest first."""
    values = list(
        MarketTrade.objects.filter(
            instrument__symbol=symbol, traded_at__gte=_utc(start), traded_at__lt=_utc(end)
        )
        .order_by("traded_at", "venue_trade_id")
        .values_list("traded_at", "price", "size", "aggressor_side")
    )
    return TradeWindow(
        traded_at=np.array([row[0].replace(tzinfo=None) for row in values], dtype="datetime64[us]"),
        price=np.array([row[1] for row in values], dtype=np.float64),
        size=np.array([row[2] for row in values], dtype=np.float64),
        aggressor_side=np.array([row[3] for row in values], dtype=np.str_),
    )


def stored_candle_history() -> list[StoredHistory]:
    """What candles are stored: per instrument and interval, how many and their span."""
    rows = (
        Candle.objects.values("instrument__symbol", "interval")
        .annotate(candles=Count("open_time"), first=Min("open_time"), last=Max("open_time"))
        .order_by("instrument__symbol", "interval")
    )
    return [
        StoredHistory(
            symbol=row["instrument__symbol"],
            interval=row["interval"],
            candles=row["candles"],
            first=row["first"],
            last=row["last"],
        )
        for row in rows
    ]


# --- The execution monitor (dashboard) --------------------------------------------------------

# The monitor asks plan_execution about a full-strength signal for one unit: at full strength
# the book alone decides the urgency, and one unit shows the algorithm without sizing noise.
MONITOR_SIGNAL_STRENGTH = 1.0
MONITOR_BASE_QUANTITY = Decimal(1)


@dataclass(frozen=True, slots=True)
class RecommendedExecution:
    """What plan_execution would do now with the monitor's signal on one side."""

    side: Side
    urgency: str | None  # None: skipped
    algorithm: str | None
    quantity: Decimal | None
    skipped: str | None  # the reason, when skipped
    rationale: tuple[str, ...]

    @property
    def urgency_label(self) -> str:
        return "" if self.urgency is None else self.urgency.replace("_", " ")


@dataclass(frozen=True, slots=True)
class InstrumentMonitor:
    """One instrument's live book features, recommended execution and market-wide halt."""

    symbol: str
    book_at: datetime | None  # None: no book in this process yet
    best_bid: Decimal | None
    best_ask: Decimal | None
    spread_bps: Decimal | None
    features: urgency.BookFeatures | None
    recommendations: list[RecommendedExecution]
    halt: InstrumentHaltView


def instrument_monitors(*, now: datetime | None = None) -> list[InstrumentMonitor]:
    """Every active instrument as the execution engine sees it now: the features of its latest
    paper book (this process's feed), the plan for a buy and a sell, and its halt."""
    # The venues module imports this one (account_valuation): imported here to avoid a cycle.
    from execution.services.signal_execution import urgency_config
    from execution.services.venues import paper_book

    now = now or timezone.now()
    config = urgency_config()
    halts = {view.symbol: view for view in instrument_halts(now=now)}
    monitors = []
    for instrument in Instrument.objects.filter(is_active=True).order_by("symbol"):
        market = paper_book(instrument.symbol)
        halt = halts[instrument.symbol]
        if market is None or not market[0][1] or not market[0][2]:
            monitors.append(
                InstrumentMonitor(instrument.symbol, None, None, None, None, None, [], halt)
            )
            continue
        (_, bids, asks, book_at), history = market
        features = urgency.book_features(bids=bids, asks=asks, now=book_at, history=history)
        best_bid, best_ask = bids[0][0], asks[0][0]
        recommendations = []
        for side in (Side.BUY, Side.SELL):
            plan = urgency.plan_execution(
                features=features, strength=MONITOR_SIGNAL_STRENGTH, side=side,
                base_quantity=MONITOR_BASE_QUANTITY, best_bid=best_bid, best_ask=best_ask,
                spec=instrument.spec(), config=config,
            )  # fmt: skip
            if isinstance(plan, urgency.SkipExecution):
                recommendations.append(
                    RecommendedExecution(side, None, None, None, plan.reason, ())
                )
            else:
                recommendations.append(
                    RecommendedExecution(
                        side, plan.urgency.value, plan.algorithm_kind, plan.quantity, None,
                        plan.rationale,
                    )
                )  # fmt: skip
        with exact():
            mid = (best_bid + best_ask) / 2
            spread_bps = ((best_ask - best_bid) / mid * 10_000).quantize(Decimal("0.01"))
        monitors.append(
            InstrumentMonitor(
                instrument.symbol, book_at, best_bid, best_ask, spread_bps, features,
                recommendations, halt,
            )
        )  # fmt: skip
    return monitors


def recent_parent_orders_for_owner(
    owner_id: int, *, limit: int = 20
) -> list[tuple[ParentOrder, ExecutionQuality | None]]:
    """The owner's latest parent orders, newest first, each with its execution quality (its
    slippage and cost against the market-order baseline), the fills read in one query."""
    parents = list(parent_orders_for_owner(owner_id).order_by("-created_at", "-pk")[:limit])
    fills: dict[str, list[tuple[Any, ...]]] = {}
    for parent_id, *columns in Fill.objects.filter(
        order__parent__in=[p.pk for p in parents]
    ).values_list("order__parent_id", *_QUALITY_FILL_COLUMNS):
        fills.setdefault(parent_id, []).append(tuple(columns))
    return [(p, _parent_quality(p, fills.get(p.pk, []))) for p in parents]
