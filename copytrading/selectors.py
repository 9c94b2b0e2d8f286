"""Reads of copy trading: what each subscription copied and holds, its equity, and the
follower accounts' risk state for a whole chunk of subscriptions in a few queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Case, DecimalField, F, QuerySet, Sum, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from copytrading.domain.terms import CopyMode, CopyTerms
from copytrading.models import CopySubscription, CopyTrade
from execution.domain import breakers
from execution.domain.orders import OPEN_STATUSES
from execution.domain.risk import AccountRisk
from execution.domain.values import DECIMAL_PLACES, MAX_DIGITS, ZERO, Side, exact, plain
from execution.models import (
    Account,
    AccountBreakers,
    AccountDay,
    Balance,
    Fill,
    Instrument,
    Order,
    Position,
)
from execution.selectors import (
    AccountValuation,
    breaker_state_of,
    instrument_halted,
    utc_today,
)
from strategies.models import Strategy, StrategyStatus, Visibility

_AMOUNT: DecimalField[Decimal, Decimal] = DecimalField(
    max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES
)


def subscriptions_for_follower(follower_id: int) -> QuerySet[CopySubscription]:
    return CopySubscription.objects.filter(follower_id=follower_id).select_related(
        "account", "strategy"
    )


def copy_trades_for_follower(follower_id: int) -> QuerySet[CopyTrade]:
    return CopyTrade.objects.filter(subscription__follower_id=follower_id).select_related(
        "follower_order", "instrument"
    )


def id_set(ids: Iterable[int]) -> Any:
    """The right side of ``field__in`` for many ids: on PostgreSQL one array parameter (a
    list of 1,000 placeholders cost more to build and parse than running the query)."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (array_literal(ids),))
    return list(ids)


def array_literal(values: Iterable[object]) -> str:
    """A PostgreSQL array literal ('{1,2,NULL}') of numbers, dates or uuids, to pass as text
    and cast (``%s::numeric[]``): psycopg's list dumper inspects every element in Python,
    which cost more than the statement at 1,000 elements. Nothing here needs quoting."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


def subscription_terms(subscription: CopySubscription) -> CopyTerms:
    """The row's terms as the domain sees them (the database checked them on the way in)."""
    s = subscription
    return CopyTerms(
        mode=CopyMode(s.mode), allocation_percent=s.allocation_percent,
        capital_cap=s.capital_cap, copy_ratio=s.copy_ratio, fixed_amount=s.fixed_amount,
        max_trade_value=s.max_trade_value, max_position_value=s.max_position_value,
        stop_loss_percent=s.stop_loss_percent, take_profit_percent=s.take_profit_percent,
        copy_stop_loss_percent=s.copy_stop_loss_percent,
        close_on_copy_stop_loss=s.close_on_copy_stop_loss,
        daily_loss_limit_percent=s.daily_loss_limit_percent, slippage_bps=s.slippage_bps,
        copy_open_positions=s.copy_open_positions,
    )  # fmt: skip


@dataclass(slots=True)
class CopyBook:
    """What one subscription copied: signed filled quantity by instrument id, and the cash
    those fills moved (sells in, buys out, fees out)."""

    quantities: dict[int, Decimal] = field(default_factory=dict)
    cash: Decimal = ZERO

    def equity(self, start_capital: Decimal, marks: dict[int, Decimal | None]) -> Decimal:
        with exact():
            value = start_capital + self.cash
            for instrument_id, quantity in self.quantities.items():
                mark = marks.get(instrument_id)
                if quantity and mark is not None:
                    value += quantity * mark
        return value


def copy_books(subscription_ids: Sequence[int]) -> dict[int, CopyBook]:
    """The copy books of these subscriptions (missing: nothing copied yet), in two queries."""
    books: dict[int, CopyBook] = {}
    if not subscription_ids:
        return books
    sign = Case(When(follower_order__side=Side.BUY.value, then=Value(1)), default=Value(-1))
    legs = (
        CopyTrade.objects.filter(
            subscription_id__in=id_set(subscription_ids), follower_order__isnull=False
        )
        .values("subscription_id", "instrument_id")
        .annotate(
            quantity=Sum(F("follower_order__filled_quantity") * sign, output_field=_AMOUNT),
            notional=Sum(F("follower_order__filled_notional") * sign, output_field=_AMOUNT),
        )
    )
    for leg in legs:
        book = books.setdefault(leg["subscription_id"], CopyBook())
        book.quantities[leg["instrument_id"]] = plain(leg["quantity"] or ZERO)
        with exact():
            book.cash -= leg["notional"] or ZERO
    fees = (
        Fill.objects.filter(order__copy_trade__subscription_id__in=id_set(subscription_ids))
        .values("order__copy_trade__subscription_id")
        .annotate(fees=Sum("fee"))
    )
    for row in fees:
        book = books.setdefault(row["order__copy_trade__subscription_id"], CopyBook())
        with exact():
            book.cash -= row["fees"] or ZERO
    return books


def instrument_marks(instrument_ids: Iterable[int]) -> dict[int, Decimal | None]:
    return dict(
        Instrument.objects.filter(pk__in=set(instrument_ids)).values_list("pk", "mark_price")
    )


def subscription_equity(subscription: CopySubscription) -> Decimal:
    book = copy_books([subscription.pk]).get(subscription.pk, CopyBook())
    return book.equity(subscription.start_capital, instrument_marks(book.quantities))


def account_valuations(accounts: Sequence[Account]) -> dict[int, AccountValuation]:
    """execution.selectors.account_valuation for many accounts in three queries."""
    ids = [a.pk for a in accounts]
    currency = {a.pk: a.base_currency for a in accounts}
    deposited = {
        account_id: amount
        for account_id, code, amount in Balance.objects.filter(
            account_id__in=id_set(ids)
        ).values_list("account_id", "currency", "deposited")
        if currency[account_id] == code
    }
    totals = {
        row["account_id"]: row
        for row in Position.objects.filter(account_id__in=id_set(ids))
        .values("account_id")
        .annotate(
            realized=Sum("realized_pnl"), unrealized=Sum("unrealized_pnl"), margin=Sum("margin")
        )
    }
    reference = Coalesce("price", "stop_price", "instrument__mark_price", Value(ZERO))
    reserved = dict(
        Order.objects.filter(
            account_id__in=id_set(ids), status__in=OPEN_STATUSES, reduce_only=False
        )
        .values("account_id")
        .annotate(
            reserved=Sum((F("quantity") - F("filled_quantity")) * reference, output_field=_AMOUNT)
        )
        .values_list("account_id", "reserved")
    )
    result = {}
    for account in accounts:
        total = totals.get(account.pk, {})
        amount = reserved.get(account.pk)
        result[account.pk] = AccountValuation(
            currency=account.base_currency,
            deposited=deposited.get(account.pk, ZERO),
            realized_pnl=total.get("realized") or ZERO,
            unrealized_pnl=total.get("unrealized") or ZERO,
            margin_in_use=total.get("margin") or ZERO,
            reserved_by_orders=ZERO if amount is None else plain(amount),
        )
    return result


def account_risks(
    accounts: Sequence[Account], instrument: Instrument, *, now: datetime
) -> tuple[dict[int, AccountRisk], dict[int, AccountDay]]:
    """execution.selectors.account_risk for many accounts at once, opening today's
    AccountDay rows that are missing (at the current equity, as account_day_open does)."""
    ids = [a.pk for a in accounts]
    valuations = account_valuations(accounts)
    today = utc_today()
    days = {
        d.account_id: d for d in AccountDay.objects.filter(account_id__in=id_set(ids), day=today)
    }
    missing = [a for a in accounts if a.pk not in days]
    if missing and connection.vendor == "postgresql":
        # Two arrays, not a model instance per account (the first copy of the day opens a
        # row for every follower of the chunk).
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {connection.ops.quote_name(AccountDay._meta.db_table)} "  # nosec B608: names from the code, values bound
                "(account_id, day, start_equity, deposits) "
                "SELECT v.account_id, %s, v.start_equity, 0 "
                "FROM unnest(%s::bigint[], %s::numeric[]) AS v(account_id, start_equity) "
                "ON CONFLICT (account_id, day) DO NOTHING",
                [today, [a.pk for a in missing], [valuations[a.pk].equity for a in missing]],
            )
    elif missing:
        AccountDay.objects.bulk_create(
            [
                AccountDay(account=a, day=today, start_equity=valuations[a.pk].equity)
                for a in missing
            ],
            ignore_conflicts=True,
        )
    if missing:
        days.update(
            (d.account_id, d)
            for d in AccountDay.objects.filter(
                account_id__in=id_set(a.pk for a in missing), day=today
            )
        )
    positions = dict(
        Position.objects.filter(account_id__in=id_set(ids), instrument=instrument).values_list(
            "account_id", "quantity"
        )
    )
    states = dict(
        AccountBreakers.objects.filter(account_id__in=id_set(ids)).values_list(
            "account_id", "state"
        )
    )
    halted = instrument_halted(instrument, now)
    mid = None if instrument.mark_price is None else plain(instrument.mark_price)
    fee_rate = Decimal(settings.PAPER_TAKER_FEE_RATE)
    risks = {}
    for account in accounts:
        valuation, day = valuations[account.pk], days[account.pk]
        refusals = breakers.check_new_order(
            breaker_state_of(states.get(account.pk), account),
            symbol=instrument.symbol,
            halted=halted,
            reduces_risk=False,
        )
        risks[account.pk] = AccountRisk(
            equity=valuation.equity,
            available_balance=valuation.available,
            start_of_day_equity=day.loss_baseline,
            loss_limit_breached=day.loss_limit_breached_at is not None,
            position_quantity=positions.get(account.pk, ZERO),
            mid_price=mid,
            taker_fee_rate=fee_rate,
            breaker_refusals=tuple(refusals),
        )
    return risks, days


def followable_strategies(follower_id: int) -> QuerySet[Strategy]:
    """Strategies the follower may start copying: public, not stopped, not their own."""
    return (
        Strategy.objects.filter(visibility=Visibility.PUBLIC)
        .exclude(status=StrategyStatus.STOPPED)
        .exclude(owner_id=follower_id)
        .order_by("name", "pk")
    )
