"""Writes of subscriptions: create, pause, resume, stop (closing or keeping what was copied).

Keyword-only, one transaction each. A refusal raises ``InvalidCopyTerms`` with messages by
field, or ``SubscriptionNotFound`` for an id that is not the follower's own, and writes
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from copytrading.domain.sizing import subscription_capital
from copytrading.domain.terms import HUNDRED, CopyTerms, InvalidCopyTerms
from copytrading.models import (
    LIVE_STATUSES,
    CopySubscription,
    CopyTrade,
    CopyTradeKind,
    SubscriptionStatus,
)
from copytrading.selectors import copy_books
from execution.domain.errors import DomainError
from execution.domain.orders import OrderType
from execution.domain.values import ZERO, Side, plain
from execution.models import Account, AccountMode, Instrument, Position
from execution.selectors import account_valuation
from execution.services.orders import order_place
from strategies.models import Strategy, StrategyStatus, Visibility


class SubscriptionNotFound(DomainError):
    """No subscription with this id belongs to the follower (another's looks the same)."""


def subscription_create(
    *,
    follower_id: int,
    account_id: int,
    strategy_id: int,
    account_mode: str = AccountMode.PAPER,
    terms: Mapping[str, Any] | None = None,
) -> CopySubscription:
    """A new active subscription of the follower's account to a public strategy."""
    errors: dict[str, list[str]] = {}
    try:
        parsed = CopyTerms.parse(terms or {})
    except InvalidCopyTerms as error:
        errors.update(error.errors)
        parsed = None
    account = Account.objects.filter(pk=account_id, owner_id=follower_id).first()
    if account is None:
        errors.setdefault("account", []).append(f"you have no account {account_id}")
    if account_mode not in AccountMode.values:
        errors.setdefault("account_mode", []).append(
            f"{account_mode!r} is not one of {', '.join(AccountMode.values)}"
        )
    elif account is not None and account.mode != account_mode:
        errors.setdefault("account", []).append(
            f"account {account.name!r} is a {account.mode} account; this subscription copies "
            f"on a {account_mode} account"
        )
    strategy = Strategy.objects.filter(pk=strategy_id).first()
    # A private strategy of someone else answers like a missing one: its existence is private.
    if strategy is None or (
        strategy.visibility != Visibility.PUBLIC and strategy.owner_id != follower_id
    ):
        errors.setdefault("strategy", []).append(f"no public strategy {strategy_id}")
    elif strategy.owner_id == follower_id:
        errors.setdefault("strategy", []).append("you cannot copy your own strategy")
    elif strategy.status == StrategyStatus.STOPPED:
        errors.setdefault("strategy", []).append("the strategy is stopped")
    elif account is not None and strategy.account.base_currency != account.base_currency:
        errors.setdefault("account", []).append(
            f"the strategy trades in {strategy.account.base_currency}, account "
            f"{account.name!r} holds {account.base_currency}"
        )
    if errors or parsed is None or account is None or strategy is None:
        raise InvalidCopyTerms(errors)

    with transaction.atomic():
        # The account's row serialises its subscriptions: two created at once cannot both
        # fit in what is left of the 100% (the order placement takes the same lock).
        account = Account.objects.select_for_update().get(pk=account.pk)
        live = CopySubscription.objects.filter(account=account, status__in=LIVE_STATUSES)
        if live.filter(strategy=strategy).exists():
            raise InvalidCopyTerms({"strategy": ["this account already copies this strategy"]})
        used = live.aggregate(total=Sum("allocation_percent"))["total"] or ZERO
        if used + parsed.allocation_percent > HUNDRED:
            raise InvalidCopyTerms(
                {
                    "allocation_percent": [
                        f"{plain(parsed.allocation_percent)}% with the "
                        f"{plain(used)}% already allocated on this account is more than 100%"
                    ]
                }
            )
        capital = subscription_capital(
            equity=account_valuation(account).equity,
            allocation_percent=parsed.allocation_percent,
            capital_cap=parsed.capital_cap,
        )
        if capital <= 0:
            raise InvalidCopyTerms({"account": ["the account has no equity to allocate"]})
        try:
            with transaction.atomic():
                subscription = CopySubscription.objects.create(
                    follower_id=follower_id,
                    account=account,
                    strategy=strategy,
                    account_mode=account_mode,
                    start_capital=capital,
                    peak_equity=capital,
                    **_term_columns(parsed),
                )
        except IntegrityError:  # the constraints back the checks above
            raise InvalidCopyTerms(
                {"strategy": ["this account already copies this strategy"]}
            ) from None
        if parsed.copy_open_positions:
            from copytrading.services.mirroring import open_positions_copy

            subscription_id = subscription.pk
            transaction.on_commit(lambda: open_positions_copy(subscription_id=subscription_id))
    return subscription


def _term_columns(terms: CopyTerms) -> dict[str, Any]:
    columns = terms.as_dict()
    return columns


def _owned(subscription_id: int, follower_id: int | None) -> CopySubscription:
    rows = CopySubscription.objects.select_for_update()
    if follower_id is not None:
        rows = rows.filter(follower_id=follower_id)
    subscription = rows.filter(pk=subscription_id).first()
    if subscription is None:
        raise SubscriptionNotFound(f"you have no subscription {subscription_id}")
    return subscription


@transaction.atomic
def subscription_pause(*, subscription_id: int, follower_id: int | None) -> CopySubscription:
    """No new copies; what was copied stays as it is."""
    subscription = _owned(subscription_id, follower_id)
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise InvalidCopyTerms({"status": [f"a {subscription.status} subscription cannot pause"]})
    subscription.status = SubscriptionStatus.PAUSED
    subscription.paused_at = timezone.now()
    subscription.save(update_fields=["status", "paused_at", "updated_at"])
    return subscription


@transaction.atomic
def subscription_resume(*, subscription_id: int, follower_id: int | None) -> CopySubscription:
    """Copy again from the next leader fill (fills while paused are not copied later)."""
    subscription = _owned(subscription_id, follower_id)
    if subscription.status != SubscriptionStatus.PAUSED:
        raise InvalidCopyTerms({"status": [f"a {subscription.status} subscription cannot resume"]})
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.resumed_at = timezone.now()
    subscription.save(update_fields=["status", "resumed_at", "updated_at"])
    return subscription


@transaction.atomic
def subscription_stop(
    *,
    subscription_id: int,
    follower_id: int | None,
    close: bool,
    reason: str = "stopped by the follower",
    actor: str = "copytrading",
) -> CopySubscription:
    """Stop for good; ``close`` closes what this subscription copied (market, reduce-only,
    never more than the account holds), else the positions stay with the follower."""
    subscription = _owned(subscription_id, follower_id)
    if subscription.status == SubscriptionStatus.STOPPED:
        raise InvalidCopyTerms({"status": ["the subscription is already stopped"]})
    subscription.status = SubscriptionStatus.STOPPED
    subscription.stopped_at = timezone.now()
    subscription.stop_reason = reason[:200]
    subscription.save(update_fields=["status", "stopped_at", "stop_reason", "updated_at"])
    if close:
        copied_positions_close(subscription=subscription, actor=actor)
    return subscription


def copied_positions_close(*, subscription: CopySubscription, actor: str) -> list[CopyTrade]:
    """A reduce-only market order per instrument for what the subscription copied, through
    the same order path (pre-trade risk included), each recorded as a close copy trade."""
    book = copy_books([subscription.pk]).get(subscription.pk)
    if book is None:
        return []
    trades = []
    instruments = Instrument.objects.in_bulk(list(book.quantities))
    held = dict(
        Position.objects.filter(
            account_id=subscription.account_id, instrument_id__in=list(book.quantities)
        ).values_list("instrument_id", "quantity")
    )
    for instrument_id, copied in book.quantities.items():
        position = held.get(instrument_id, ZERO)
        if not copied or not position or (copied > 0) != (position > 0):
            continue
        quantity = min(abs(copied), abs(position))
        side = Side.SELL if copied > 0 else Side.BUY
        instrument = instruments[instrument_id]
        reason = ""
        order = None
        try:
            order = order_place(
                account_id=subscription.account_id,
                symbol=instrument.symbol,
                side=side,
                order_type=OrderType.MARKET,
                quantity=quantity,
                reduce_only=True,
                actor=actor,
            )
        except DomainError as error:
            reason = f"close refused: {error}"
        trades.append(
            CopyTrade.objects.create(
                subscription=subscription,
                kind=CopyTradeKind.CLOSE,
                instrument=instrument,
                side=side,
                follower_order=order,
                intended_quantity=quantity,
                quantity=quantity if order is not None else ZERO,
                skipped_reason=reason,
            )
        )
    return trades


def subscription_capital_now(subscription: CopySubscription) -> Decimal:
    """The capital the subscription trades with today (its allocation of current equity)."""
    return subscription_capital(
        equity=account_valuation(subscription.account).equity,
        allocation_percent=subscription.allocation_percent,
        capital_cap=subscription.capital_cap,
    )
