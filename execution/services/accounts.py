"""Opening accounts, moving funds, and the day the daily loss limit is counted in."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from execution.domain.errors import DomainError
from execution.domain.values import to_decimal
from execution.models import Account, AccountDay, AccountMode, Balance, EventKind
from execution.selectors import account_valuation, utc_today
from execution.services.events import event_append


def _currency(code: str) -> str:
    code = (code or "").strip().upper()
    if not code.isalnum() or not 2 <= len(code) <= 16:
        raise DomainError(f"currency {code!r} is not a currency code (2 to 16 letters or digits)")
    return code


@transaction.atomic
def account_open(
    *,
    owner: User,
    name: str,
    mode: str = AccountMode.PAPER,
    base_currency: str = "USDT",
    deposit: object = Decimal(0),
    actor: str = "system",
) -> Account:
    name = (name or "").strip()
    if not name:
        raise DomainError("an account needs a name")
    if mode not in AccountMode.values:
        raise DomainError(f"account mode {mode!r} is not one of: {', '.join(AccountMode.values)}")
    currency = _currency(base_currency)
    amount = to_decimal(deposit, field="deposit")
    if amount < 0:
        raise DomainError("an opening deposit cannot be negative")
    if Account.objects.filter(owner=owner, name=name).exists():
        raise DomainError(f"you already have an account named {name!r}")
    try:
        with transaction.atomic():
            account = Account.objects.create(
                owner=owner, name=name, mode=mode, base_currency=currency
            )
    except IntegrityError:
        raise DomainError(f"you already have an account named {name!r}") from None
    Balance.objects.create(account=account, currency=currency, deposited=amount)
    event_append(
        kind=EventKind.ACCOUNT_OPENED,
        actor=actor,
        account=account,
        message=f"{mode} account {name!r} opened with {amount} {currency}",
        data={"mode": mode, "currency": currency, "deposit": amount},
    )
    return account


@transaction.atomic
def funds_deposit(*, account_id: int, amount: object, actor: str = "system") -> Balance:
    """Deposit (positive) or withdraw (negative) cash in the account's base currency."""
    value = to_decimal(amount, field="amount")
    if value == 0:
        raise DomainError("a deposit or withdrawal needs a non-zero amount")
    account = Account.objects.select_for_update().filter(pk=account_id).first()
    if account is None:
        raise DomainError(f"account {account_id} does not exist")
    available = account_valuation(account).available
    if value < 0 and -value > available:
        raise DomainError(
            f"cannot withdraw {-value} {account.base_currency}: only {available} is available"
        )
    # The day opens before the cash moves, so its opening equity is the equity before it.
    day = account_day_open(account=account)
    AccountDay.objects.filter(pk=day.pk).update(deposits=F("deposits") + value)
    balance, _ = Balance.objects.select_for_update().get_or_create(
        account=account, currency=account.base_currency
    )
    balance.deposited += value
    balance.save(update_fields=["deposited", "updated_at"])
    event_append(
        kind=EventKind.FUNDS_DEPOSITED,
        actor=actor,
        account=account,
        message=f"{'deposit' if value > 0 else 'withdrawal'} of {abs(value)} "
        f"{account.base_currency}",
        data={"amount": value, "currency": account.base_currency},
    )
    return balance


def account_days_open() -> int:
    """Open today's row of every account at its current equity; returns how many were new.

    Scheduled at 00:00 UTC so the daily loss limit counts from midnight's equity.
    """
    accounts = list(Account.objects.exclude(days__day=utc_today()))
    for account in accounts:
        account_day_open(account=account)
    return len(accounts)


def account_day_open(*, account: Account) -> AccountDay:
    """Today's (UTC) row of the account, opened at the current equity on first use.

    The scheduled account_days_open opens every account's day at midnight; opening it lazily
    here keeps the limit working when no scheduler runs (make run).
    """
    today = utc_today()
    day = AccountDay.objects.filter(account=account, day=today).first()
    if day is None:
        AccountDay.objects.bulk_create(
            [
                AccountDay(
                    account=account, day=today, start_equity=account_valuation(account).equity
                )
            ],
            ignore_conflicts=True,
        )
        day = AccountDay.objects.get(account=account, day=today)
    return day


def account_loss_limit_breach(*, day: AccountDay, equity: Decimal, actor: str) -> None:
    """Mark today's loss limit as breached (once) and write it to the audit trail."""
    updated = AccountDay.objects.filter(pk=day.pk, loss_limit_breached_at__isnull=True).update(
        loss_limit_breached_at=timezone.now()
    )
    if updated:
        event_append(
            kind=EventKind.DAILY_LOSS_LIMIT_BREACHED,
            actor=actor,
            account=day.account,
            message=f"daily loss limit breached: equity {equity} against {day.loss_baseline} at "
            "the start of the day (with today's deposits); new risk is blocked until the next "
            "UTC day",
            data={
                "equity": equity,
                "start_equity": day.start_equity,
                "deposits": day.deposits,
                "day": day.day,
            },
        )
