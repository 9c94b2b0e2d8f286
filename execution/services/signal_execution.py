"""From a trading signal to a working parent order: breakers, urgency, size, algorithm.

signal_execute joins the pure pieces: book features from the current paper book and its
recent touches (execution.domain.urgency), the instrument's market-wide halt (kept current by
market data, execution.services.breakers) and the account's breakers (their state is a row,
their transitions audit events), the urgency plan and its risk-adjusted size, and then
parent_order_place, whose children pass the pre-trade risk checks one by one (the breakers
are among those checks, so an order placed any other way meets them too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache, partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from execution.domain import breakers, urgency
from execution.domain.errors import DomainError
from execution.domain.values import Side, to_positive
from execution.models import Account, EventKind, Instrument, ParentOrder, Position
from execution.selectors import account_valuation, breaker_config, instrument_halted
from execution.services.accounts import account_day_open
from execution.services.algos import parent_order_place
from execution.services.breakers import account_breakers_change, account_breakers_locked
from execution.services.events import event_append
from execution.services.venues import paper_book


@cache
def urgency_config() -> urgency.UrgencyConfig:
    """The urgency thresholds: defaults overridden by settings.EXECUTION_URGENCY."""
    return urgency.UrgencyConfig.from_dict(getattr(settings, "EXECUTION_URGENCY", {}))


@dataclass(frozen=True, slots=True)
class SignalOutcome:
    """What became of a signal: a parent order, or the reason there is none."""

    parent_order: ParentOrder | None
    urgency: urgency.UrgencyLevel | None = None
    quantity: Decimal | None = None
    refused: tuple[str, ...] = ()  # breakers that refused it
    skipped: str | None = None  # why the plan sent nothing
    override_refused: str | None = None  # why a requested urgency was not granted


def signal_execute(
    *,
    account_id: int,
    symbol: str,
    side: str,
    strength: float,
    base_quantity: object,
    strategy_id: int | None = None,
    urgency_override: str | None = None,
    actor: str = "system",
    now: datetime | None = None,
) -> SignalOutcome:
    """Act on a signal of ``strength`` (0 to 1) for up to 1.5 x ``base_quantity``.

    ``urgency_override`` asks to execute more urgently than the plan recommends; the breakers
    grant at most 5 an hour per account (a refused override executes as planned).

    Bad input raises DomainError and writes nothing; a refusal by the breakers or a plan that
    sends nothing is an outcome with its reason, written to the audit trail.
    """
    now = now or timezone.now()
    override = None
    if urgency_override is not None:
        try:
            override = urgency.UrgencyLevel(urgency_override)
        except ValueError:
            levels = ", ".join(level.value for level in urgency.UrgencyLevel)
            raise DomainError(f"urgency {urgency_override!r} is not one of: {levels}") from None
    if isinstance(strength, bool) or not isinstance(strength, int | float):
        raise DomainError(f"signal strength must be a number from 0 to 1, got {strength!r}")
    if not (math.isfinite(strength) and 0 <= strength <= 1):
        raise DomainError(f"signal strength must be from 0 to 1, got {strength}")
    try:
        signal_side = Side(side)
    except ValueError:
        raise DomainError(f"side {side!r} is not one of: buy, sell") from None
    base = to_positive(base_quantity, field="base quantity")
    instrument = Instrument.objects.filter(symbol=symbol, is_active=True).first()
    if instrument is None:
        raise DomainError(f"unknown instrument {symbol!r}")
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        raise DomainError(f"account {account_id} does not exist")

    market = paper_book(symbol)
    if market is None:
        return _skipped(account, symbol, "no_market_data", f"no book for {symbol} yet", actor)
    (_, bids, asks, book_at), history = market
    features = urgency.book_features(bids=bids, asks=asks, now=book_at, history=history)
    day = account_day_open(account=account)
    equity = account_valuation(account).equity

    config = breaker_config()
    halted = instrument_halted(instrument, now)
    override_refused: str | None = None
    with transaction.atomic():
        state = account_breakers_locked(account)
        step = breakers.check_daily_loss(
            state, limit=account.daily_loss_limit, start_equity=day.loss_baseline,
            equity=equity, now=now,
        )  # fmt: skip
        state, events = step.state, list(step.events)
        refusals = breakers.check_new_order(
            state, symbol=symbol, halted=halted,
            reduces_risk=_reduces_risk(account, instrument, signal_side, base),
        )  # fmt: skip
        plan: urgency.ExecutionPlan | urgency.SkipExecution | None = None
        if not refusals:
            plan_for = partial(
                urgency.plan_execution, features=features, strength=strength, side=signal_side,
                base_quantity=base, best_bid=bids[0][0], best_ask=asks[0][0],
                spec=instrument.spec(), config=urgency_config(),
                size_factor=breakers.size_factor(state, symbol=symbol, now=now, config=config),
            )  # fmt: skip
            plan = plan_for()
            if (
                override is not None
                and isinstance(plan, urgency.ExecutionPlan)
                and override.rank > plan.urgency.rank
            ):
                step, granted = breakers.request_override(
                    state, symbol=symbol, planned=plan.urgency, requested=override, now=now,
                    config=config,
                )  # fmt: skip
                state, events = step.state, [*events, *step.events]
                if granted:
                    plan = plan_for(urgency_override=override)
                else:
                    override_refused = step.events[-1].reason
            if isinstance(plan, urgency.ExecutionPlan) and (
                plan.urgency is urgency.UrgencyLevel.URGENT
            ):
                step = breakers.record_urgent_signal(state, symbol=symbol, now=now, config=config)
                state, events = step.state, [*events, *step.events]
        account_breakers_change(account, breakers.BreakerStep(state, tuple(events)), actor=actor)
        if refusals:
            reasons = tuple(v.message for v in refusals)
            event_append(
                kind=EventKind.SIGNAL_REFUSED, actor=actor, account=account,
                message=f"{signal_side} signal on {symbol} refused: " + "; ".join(reasons),
                data={"strength": strength, "rules": [v.rule for v in refusals]},
            )  # fmt: skip
            return SignalOutcome(parent_order=None, refused=reasons)
    assert plan is not None
    if isinstance(plan, urgency.SkipExecution):
        return _skipped(account, symbol, plan.rule, plan.reason, actor)

    parent = parent_order_place(
        account_id=account.pk, symbol=symbol, side=signal_side, quantity=plan.quantity,
        algorithm=plan.algorithm_kind, params=dict(plan.algorithm_params),
        strategy_id=strategy_id, signal_at=now, actor=actor, now=now,
    )  # fmt: skip
    event_append(
        kind=EventKind.SIGNAL_EXECUTED, actor=actor, account=account,
        message=f"{signal_side} signal on {symbol} (strength {strength}): {plan.urgency}, "
        f"{plan.quantity} by {plan.algorithm_kind} as parent {parent.pk}",
        data={"parent_id": parent.pk, "urgency": plan.urgency, "rationale": plan.rationale},
    )  # fmt: skip
    return SignalOutcome(
        parent_order=parent, urgency=plan.urgency, quantity=plan.quantity,
        override_refused=override_refused,
    )  # fmt: skip


def _reduces_risk(account: Account, instrument: Instrument, side: Side, quantity: Decimal) -> bool:
    """A signal against the position, no larger than it, only takes risk off."""
    position = (
        Position.objects.filter(account=account, instrument=instrument)
        .values_list("quantity", flat=True)
        .first()
    ) or Decimal(0)
    return position * side.sign < 0 and quantity <= abs(position)


def _skipped(account: Account, symbol: str, rule: str, reason: str, actor: str) -> SignalOutcome:
    event_append(
        kind=EventKind.SIGNAL_SKIPPED, actor=actor, account=account,
        message=f"signal on {symbol} skipped: {reason}", data={"rule": rule},
    )  # fmt: skip
    return SignalOutcome(parent_order=None, skipped=reason)
