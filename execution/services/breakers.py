"""Circuit breakers in the database: the market-wide halt of each instrument, observed on every
book, and each account's breakers (kill switch, size reductions, urgency overrides).

The decisions are execution.domain.breakers'; here they get rows, locks and audit events. The
thresholds come from settings (EXECUTION_BREAKERS, validated when the app starts).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from execution.domain import breakers
from execution.domain.errors import DomainError
from execution.models import Account, AccountBreakers, EventKind, Instrument, InstrumentBreaker
from execution.selectors import breaker_config, breaker_state_of, spread_halt_of
from execution.services.events import event_append

# The latest stability is written at most this often; transitions are written at once.
STABILITY_WRITE_EVERY = timedelta(seconds=1)

_lock = threading.Lock()
_stability_written: dict[str, datetime] = {}


def instrument_spread_observe(
    *, instrument: Instrument, stability: float, at: datetime
) -> breakers.SpreadHalt:
    """Take one spread_stability_norm_100 observation of an instrument from market data.

    A transition (the spread turning unstable or stable, a halt, a resume) is written at once
    under the row's lock with its audit events; otherwise only the latest value is refreshed,
    at most once a second, so a busy feed costs one read per book.
    """
    config = breaker_config()
    row = InstrumentBreaker.objects.filter(instrument=instrument).first()
    halt = spread_halt_of(row, instrument.symbol)
    after, events = halt.observe(stability, at, config)
    if after == halt and not events:
        with _lock:
            written = _stability_written.get(instrument.symbol)
            due = written is None or at - written >= STABILITY_WRITE_EVERY or at < written
            if due:
                _stability_written[instrument.symbol] = at
        if due and row is not None:
            InstrumentBreaker.objects.filter(instrument=instrument).update(
                stability=stability, observed_at=at
            )
        if row is not None:
            return after
    with transaction.atomic():
        row, _ = InstrumentBreaker.objects.select_for_update().get_or_create(instrument=instrument)
        # Another process may have moved it since the read: step from what the row says now.
        after, events = spread_halt_of(row, instrument.symbol).observe(stability, at, config)
        row.unstable_since, row.halted_since = after.unstable_since, after.halted_since
        row.stability, row.observed_at = stability, at
        row.save()
        for event in events:
            event_append(
                kind=EventKind.BREAKER, actor="breakers", instrument=instrument,
                message=f"{event.kind} {instrument.symbol}: {event.reason}", data=event.to_dict(),
            )  # fmt: skip
    return after


def instrument_halts_advance(*, now: datetime | None = None) -> int:
    """Write the halts that came due while a feed was quiet (the beat calls this); returns
    how many. Orders are refused from the due time anyway (``SpreadHalt.halted_at``): this
    only puts the halt in the rows and the audit trail when no book arrives to do it."""
    now = now or timezone.now()
    config = breaker_config()
    due = InstrumentBreaker.objects.filter(
        halted_since__isnull=True,
        unstable_since__isnull=False,
        unstable_since__lte=now - config.halt_after,
    ).values_list("instrument_id", flat=True)
    count = 0
    for instrument_id in due:
        with transaction.atomic():
            row = (
                InstrumentBreaker.objects.select_for_update()
                .select_related("instrument")
                .get(instrument_id=instrument_id)
            )
            after, events = spread_halt_of(row, row.instrument.symbol).advance(now, config)
            if not events:
                continue
            row.halted_since = after.halted_since
            row.save(update_fields=["halted_since", "updated_at"])
            for event in events:
                event_append(
                    kind=EventKind.BREAKER, actor="breakers", instrument=row.instrument,
                    message=f"{event.kind} {row.instrument.symbol}: {event.reason}",
                    data=event.to_dict(),
                )  # fmt: skip
            count += 1
    return count


def account_breakers_change(
    account: Account, change: breakers.BreakerStep, *, actor: str
) -> breakers.BreakerState:
    """Save a step of an account's breakers with its events; call inside a transaction that
    holds the row (``account_breakers_locked``)."""
    AccountBreakers.objects.update_or_create(
        account=account, defaults={"state": change.state.to_dict()}
    )
    for event in change.events:
        event_append(
            kind=EventKind.BREAKER, actor=actor, account=account,
            message=f"{event.kind}: {event.reason}", data=event.to_dict(),
        )  # fmt: skip
    return change.state


def account_breakers_locked(account: Account) -> breakers.BreakerState:
    """Lock an account's breaker row for the rest of the transaction and read it."""
    row, _ = AccountBreakers.objects.select_for_update().get_or_create(account=account)
    return breaker_state_of(row.state, account)


def account_kill_switch_set(
    *, account_id: int, on: bool, reason: str, actor: str = "system"
) -> breakers.BreakerState:
    """Turn an account's kill switch on or off by hand (an audit event either way)."""
    if not isinstance(reason, str) or not reason.strip():
        raise DomainError("turning the kill switch on or off needs a reason")
    with transaction.atomic():
        account = Account.objects.filter(pk=account_id).first()
        if account is None:
            raise DomainError(f"account {account_id} does not exist")
        state = account_breakers_locked(account)
        step = breakers.set_kill_switch(state, on=on, reason=reason.strip(), now=timezone.now())
        return account_breakers_change(account, step, actor=actor)
