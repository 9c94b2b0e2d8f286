"""Statistics of copy trading: leaders' strategies over 7, 30 and 90 days, followers' P&L and
returns, and 30-day daily P&L series from the daily equity snapshots.

Return figures come from execution's metrics (account_performance: summarize over the
time-weighted daily equity curve), not new formulas. A leader's figures are its strategy's
account's: a strategy trades an account of its own (one account may host several
strategies; then they share these figures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from copytrading.models import (
    CopySubscription,
    CopyTrade,
    FollowerAccountSnapshot,
    SubscriptionEquitySnapshot,
    SubscriptionStatus,
)
from copytrading.selectors import CopyBook, account_valuations, copy_books, instrument_marks
from copytrading.services.reconciliation import Orphan, copy_orphans
from execution.domain.values import ZERO, exact, quantize
from execution.models import Account
from execution.selectors import (
    AccountPerformance,
    account_performance,
    account_performance_windows,
    utc_today,
)
from strategies.models import Strategy, StrategyStatus, Visibility

WINDOWS = (7, 30, 90)
SERIES_DAYS = 30


@dataclass(frozen=True, slots=True)
class WindowStatistics:
    days: int
    roi: Decimal | None  # time-weighted return of the daily equity curve; None: unmeasurable
    pnl: Decimal  # equity change less deposits and withdrawals
    max_drawdown: float | None  # depth, a fraction of the peak
    win_rate: float
    sharpe: float | None
    trades: int


@dataclass(frozen=True, slots=True)
class LeaderStatistics:
    strategy: Strategy
    windows: list[WindowStatistics]
    capital_copying: Decimal  # the start capital of its active subscriptions
    follower_count: int


def window_statistics(account: Account, *, days: int, today: date) -> WindowStatistics:
    performance = account_performance(account, start_date=today - timedelta(days=days))
    return _window(performance, days)


def _window(performance: AccountPerformance, days: int) -> WindowStatistics:
    curve = performance.equity_curve
    pnl = ZERO
    if len(curve) >= 2:
        with exact():
            flows = sum((amount for _, amount in performance.cash_flows), ZERO)
            pnl = curve[-1][1] - curve[0][1] - flows
    summary = performance.curve
    return WindowStatistics(
        days=days,
        roi=None if summary is None else quantize(summary.total_return),
        pnl=pnl,
        max_drawdown=None if summary is None else summary.max_drawdown.depth,
        win_rate=performance.win_rate,
        sharpe=None if summary is None else summary.sharpe_ratio,
        trades=performance.trade_count,
    )


def public_strategies() -> QuerySet[Strategy]:
    """Strategies anyone signed in may copy and compare: public and not stopped."""
    return (
        Strategy.objects.filter(visibility=Visibility.PUBLIC)
        .exclude(status=StrategyStatus.STOPPED)
        .select_related("account")
        .annotate(
            capital_copying=Sum(
                "copy_subscriptions__start_capital",
                filter=Q(copy_subscriptions__status=SubscriptionStatus.ACTIVE),
            ),
            follower_count=Count(
                "copy_subscriptions__follower",
                filter=Q(copy_subscriptions__status=SubscriptionStatus.ACTIVE),
                distinct=True,
            ),
        )
        .order_by("-capital_copying", "pk")
    )


def leader_statistics(
    strategies: Sequence[Strategy], *, today: date | None = None
) -> list[LeaderStatistics]:
    """Statistics of strategies from public_strategies() (annotated with the copying)."""
    today = today or utc_today()
    return [
        LeaderStatistics(
            strategy=strategy,
            windows=[
                _window(performance, days)
                for days, performance in zip(
                    WINDOWS,
                    account_performance_windows(
                        strategy.account, [today - timedelta(days=days) for days in WINDOWS]
                    ),
                    strict=True,
                )
            ],
            capital_copying=getattr(strategy, "capital_copying", None) or ZERO,
            follower_count=getattr(strategy, "follower_count", 0),
        )
        for strategy in strategies
    ]


# --- followers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriptionFigures:
    subscription: CopySubscription
    equity: Decimal
    pnl: Decimal
    return_: Decimal
    trades: int  # copies that filled


@dataclass(frozen=True, slots=True)
class FollowerSummary:
    pnl: Decimal
    trades: int
    strategies_followed: int  # by live subscriptions
    capital: Decimal  # start capital of every subscription summed
    return_: Decimal | None
    subscriptions: list[SubscriptionFigures]
    orphans: list[Orphan]


def follower_summary(follower_id: int) -> FollowerSummary:
    """P&L (of what each subscription copied, marked now, net of fees), copies filled,
    strategies followed, return on the capital given to copying, and the orphans."""
    subscriptions = list(
        CopySubscription.objects.filter(follower_id=follower_id)
        .select_related("strategy", "account")
        .order_by("-created_at", "-pk")
    )
    ids = [s.pk for s in subscriptions]
    books = copy_books(ids)
    marks = instrument_marks(i for b in books.values() for i in b.quantities)
    filled = dict(
        CopyTrade.objects.filter(subscription_id__in=ids, actual_quantity__gt=0)
        .values("subscription_id")
        .annotate(n=Count("pk"))
        .values_list("subscription_id", "n")
    )
    figures = []
    with exact():
        for s in subscriptions:
            equity = books.get(s.pk, CopyBook()).equity(s.start_capital, marks)
            pnl = equity - s.start_capital
            figures.append(
                SubscriptionFigures(
                    subscription=s, equity=equity, pnl=pnl,
                    return_=quantize(pnl / s.start_capital), trades=filled.get(s.pk, 0),
                )
            )  # fmt: skip
        pnl = sum((f.pnl for f in figures), ZERO)
        capital = sum((s.start_capital for s in subscriptions), ZERO)
    return FollowerSummary(
        pnl=pnl,
        trades=sum(f.trades for f in figures),
        strategies_followed=len(
            {s.strategy_id for s in subscriptions if s.status != SubscriptionStatus.STOPPED}
        ),
        capital=capital,
        return_=quantize(pnl / capital) if capital else None,
        subscriptions=figures,
        orphans=copy_orphans(follower_id=follower_id),
    )


# --- daily P&L series --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DailyPnl:
    day: date
    start_equity: Decimal  # at the start of the day (its snapshot)
    end_equity: Decimal  # the next day's snapshot, or now for today
    pnl: Decimal  # end less start, less the day's deposits (accounts)


def _series(
    starts: dict[date, tuple[Decimal, Decimal]],
    current: tuple[Decimal, Decimal] | None,
    today: date,
    days: int,
) -> list[DailyPnl]:
    """Days of the window with a snapshot and an end: (equity, deposited) by day."""
    points = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        start = starts.get(day)
        end = starts.get(day + timedelta(days=1)) or (current if day == today else None)
        if start is None or end is None:
            continue
        with exact():
            pnl = end[0] - start[0] - (end[1] - start[1])
        points.append(DailyPnl(day=day, start_equity=start[0], end_equity=end[0], pnl=pnl))
    return points


def subscription_pnl_series(
    subscription: CopySubscription, *, days: int = SERIES_DAYS, today: date | None = None
) -> list[DailyPnl]:
    today = today or utc_today()
    starts = {
        day: (equity, ZERO)
        for day, equity in SubscriptionEquitySnapshot.objects.filter(
            subscription=subscription, day__gt=today - timedelta(days=days)
        ).values_list("day", "equity")
    }
    book = copy_books([subscription.pk]).get(subscription.pk, CopyBook())
    current = (book.equity(subscription.start_capital, instrument_marks(book.quantities)), ZERO)
    return _series(starts, current, today, days)


def follower_pnl_series(
    follower_id: int, *, days: int = SERIES_DAYS, today: date | None = None
) -> list[DailyPnl]:
    """The follower's accounts that copy (or copied) summed: a day counts the accounts
    snapshotted on it."""
    today = today or utc_today()
    rows = FollowerAccountSnapshot.objects.filter(
        account__owner_id=follower_id, day__gt=today - timedelta(days=days)
    ).values_list("account_id", "day", "equity", "deposited")
    by_account: dict[int, dict[date, tuple[Decimal, Decimal]]] = {}
    for account_id, day, equity, deposited in rows:
        by_account.setdefault(account_id, {})[day] = (equity, deposited)
    valuations = account_valuations(list(Account.objects.filter(pk__in=list(by_account))))
    totals: dict[date, DailyPnl] = {}
    for account_id, starts in by_account.items():
        valuation = valuations[account_id]
        for point in _series(starts, (valuation.equity, valuation.deposited), today, days):
            seen = totals.get(point.day)
            if seen is None:
                totals[point.day] = point
            else:
                with exact():
                    totals[point.day] = DailyPnl(
                        day=point.day,
                        start_equity=seen.start_equity + point.start_equity,
                        end_equity=seen.end_equity + point.end_equity,
                        pnl=seen.pnl + point.pnl,
                    )
    return [totals[day] for day in sorted(totals)]
