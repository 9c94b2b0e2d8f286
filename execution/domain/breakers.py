"""Circuit breakers of instruments and accounts, as pure state machines over time.

Each function takes the state, what happened and ``now`` (the caller's clock), and returns a
``BreakerStep``: the next state and the events of every transition, for the audit trail and
the API. The state is a frozen value with a JSON form, so the live system keeps it in a row.

Breakers (defaults in ``BreakerConfig``)
- Halt (market-wide, ``SpreadHalt``: one per instrument, fed by market data on every book, not
  by any account): an instrument halts once spread_stability_norm_100 has stayed above 0.8 for
  60 s. Between observations a value is taken to hold until the next one, so a feed that goes
  quiet while unstable still halts (``SpreadHalt.halted_at``). It resumes on the first
  observation below ``resume_stability_below`` (default 0.8: a value of exactly 0.8 neither
  halts nor resumes; set it lower for a wider hysteresis band). Any observation at or below the
  halt threshold restarts the 60 s.
The others are per account (``BreakerState``):
- Reduce: ``urgent_signal_count`` (3) urgent signals on an instrument within
  ``urgent_signal_window`` (5 min) cut its order size by ``reduced_size_factor`` (0.5) for
  ``reduce_for`` (15 min) from the latest of them; a further burst extends the reduction.
  ``size_factor`` gives the factor for ``plan_execution``.
- Overrides: at most ``max_overrides`` (5) requests per rolling ``override_window`` (1 h) to
  execute more urgently than the plan recommends; one more is refused with the reason.
  Refused requests do not count.
- Kill switch: on and off by hand, and on by itself when the daily loss limit is breached
  (``risk.daily_loss_breached``). Only a person (or the start of a new day, through the
  service) turns it off. While on, only risk-reducing orders pass.

Halts let risk-reducing orders through too: an unstable spread is no reason to keep a
position open. Max slippage per child is enforced by the algorithms
(``max_child_slippage_bps``); it is not repeated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from execution.domain.errors import DomainError, RuleViolation
from execution.domain.risk import daily_loss_breached
from execution.domain.urgency import (
    UrgencyLevel,
    about,
    config_from_dict,
    config_schema,
    config_to_dict,
    parse_settings,
    require_order,
)

JSONDict = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerConfig:
    """Thresholds and timings of the circuit breakers."""

    halt_stability_above: float = field(
        default=0.8,
        metadata=about("spread_stability_norm_100 above this, long enough, halts", maximum=1),
    )
    halt_after: timedelta = field(
        default=timedelta(seconds=60),
        metadata=about("how long the spread must stay unstable before a halt", minimum=0),
    )
    resume_stability_below: float = field(
        default=0.8,
        metadata=about(
            "a halted instrument resumes on a spread_stability_norm_100 below this", minimum=0
        ),
    )
    urgent_signal_count: int = field(
        default=3, metadata=about("urgent signals within the window that cut size", minimum=1)
    )
    urgent_signal_window: timedelta = field(
        default=timedelta(minutes=5),
        metadata=about("the window in which urgent signals are counted", positive=True),
    )
    reduced_size_factor: Decimal = field(
        default=Decimal("0.5"),
        metadata=about("the size factor while reduced", maximum=1, positive=True),
    )
    reduce_for: timedelta = field(
        default=timedelta(minutes=15),
        metadata=about("how long a size reduction lasts after the latest burst", positive=True),
    )
    max_overrides: int = field(
        default=5, metadata=about("urgency overrides allowed per override window", minimum=0)
    )
    override_window: timedelta = field(
        default=timedelta(hours=1),
        metadata=about("the rolling window of the override limit", positive=True),
    )

    def __post_init__(self) -> None:
        parse_settings(self)
        require_order(self, "resume_stability_below", "halt_stability_above")

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> BreakerConfig:
        return config_from_dict(cls, data)

    @classmethod
    def schema(cls) -> dict[str, Any]:
        return config_schema(cls)

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)


class BreakerEventKind(StrEnum):
    HALT = "halt"
    RESUME = "resume"
    REDUCE = "reduce"
    RESTORE = "restore"
    OVERRIDE_GRANTED = "override_granted"
    OVERRIDE_REFUSED = "override_refused"
    KILL_ON = "kill_on"
    KILL_OFF = "kill_off"


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """One transition, to write to the audit trail. ``instrument`` is None for the whole
    account, ``account`` None for a market-wide halt of the instrument."""

    kind: BreakerEventKind
    account: str | None
    instrument: str | None
    reason: str
    at: datetime

    def to_dict(self) -> JSONDict:
        return {
            "kind": self.kind.value,
            "account": self.account,
            "instrument": self.instrument,
            "reason": self.reason,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class InstrumentBreakers:
    """The breakers of one instrument in one account (its halt is market-wide: SpreadHalt)."""

    urgent_signals: tuple[datetime, ...] = ()  # within the window, oldest first
    reduced_until: datetime | None = None

    def to_dict(self) -> JSONDict:
        return {
            "urgent_signals": [at.isoformat() for at in self.urgent_signals],
            "reduced_until": _time_text(self.reduced_until),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstrumentBreakers:
        return cls(
            urgent_signals=tuple(datetime.fromisoformat(at) for at in data["urgent_signals"]),
            reduced_until=_time_or_none(data["reduced_until"]),
        )


@dataclass(frozen=True, slots=True)
class KillSwitch:
    on: bool = False
    automatic: bool = False  # turned on by the daily loss limit, not by a person
    reason: str = ""
    since: datetime | None = None

    def to_dict(self) -> JSONDict:
        return {
            "on": self.on,
            "automatic": self.automatic,
            "reason": self.reason,
            "since": _time_text(self.since),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KillSwitch:
        return cls(
            on=bool(data["on"]),
            automatic=bool(data["automatic"]),
            reason=str(data["reason"]),
            since=_time_or_none(data["since"]),
        )


@dataclass(frozen=True, slots=True)
class BreakerState:
    """Every breaker of one account. Instruments appear once something happened on them."""

    account: str
    instruments: Mapping[str, InstrumentBreakers] = field(default_factory=dict)
    overrides: tuple[datetime, ...] = ()  # granted, within the window, oldest first
    kill_switch: KillSwitch = KillSwitch()

    def instrument(self, symbol: str) -> InstrumentBreakers:
        return self.instruments.get(symbol, InstrumentBreakers())

    def to_dict(self) -> JSONDict:
        return {
            "account": self.account,
            "instruments": {
                symbol: breakers.to_dict() for symbol, breakers in sorted(self.instruments.items())
            },
            "overrides": [at.isoformat() for at in self.overrides],
            "kill_switch": self.kill_switch.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BreakerState:
        try:
            return cls(
                account=str(data["account"]),
                instruments={
                    symbol: InstrumentBreakers.from_dict(breakers)
                    for symbol, breakers in data["instruments"].items()
                },
                overrides=tuple(datetime.fromisoformat(at) for at in data["overrides"]),
                kill_switch=KillSwitch.from_dict(data["kill_switch"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DomainError(f"breaker state is not readable: {error!r}") from None

    def _with(self, symbol: str, breakers: InstrumentBreakers) -> BreakerState:
        return replace(self, instruments={**self.instruments, symbol: breakers})


@dataclass(frozen=True, slots=True)
class BreakerStep:
    """The next state and the transitions that led to it, oldest first."""

    state: BreakerState
    events: tuple[BreakerEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class SpreadHalt:
    """The market-wide halt of one instrument, driven by its spread_stability_norm_100."""

    symbol: str
    unstable_since: datetime | None = None  # above the halt threshold since then
    halted_since: datetime | None = None

    def halted_at(self, now: datetime, config: BreakerConfig) -> bool:
        """Whether new orders are halted at ``now``, counting a halt that came due since the
        last observation (the unstable value held until now)."""
        return self.halted_since is not None or (
            self.unstable_since is not None and now - self.unstable_since >= config.halt_after
        )

    def advance(
        self, now: datetime, config: BreakerConfig
    ) -> tuple[SpreadHalt, tuple[BreakerEvent, ...]]:
        """Bring in a halt that came due by the clock alone, dated when it came due."""
        since = self.unstable_since
        if since is None or self.halted_since is not None or now - since < config.halt_after:
            return self, ()
        due = since + config.halt_after
        reason = (
            f"spread stability above {config.halt_stability_above} since {since.isoformat()}, "
            f"for {_seconds(config.halt_after)}: new orders halted"
        )
        event = BreakerEvent(BreakerEventKind.HALT, None, self.symbol, reason, due)
        return replace(self, halted_since=due), (event,)

    def observe(
        self, stability: float, now: datetime, config: BreakerConfig
    ) -> tuple[SpreadHalt, tuple[BreakerEvent, ...]]:
        """Take one observation; returns the next halt and its transitions, oldest first."""
        if isinstance(stability, bool) or not 0 <= stability <= 1:
            raise DomainError(f"spread stability must be in [0, 1], got {stability!r}")
        # The previous value held until now: a halt it brought due comes first.
        halt, events = self.advance(now, config)
        if stability > config.halt_stability_above:
            if halt.unstable_since is not None:
                return halt, events
            return replace(halt, unstable_since=now).advance(now, config)
        halt = replace(halt, unstable_since=None)
        if halt.halted_since is not None and stability < config.resume_stability_below:
            reason = (
                f"spread stability {stability:.2f} is back below "
                f"{config.resume_stability_below}: new orders resume"
            )
            resume = BreakerEvent(BreakerEventKind.RESUME, None, self.symbol, reason, now)
            return replace(halt, halted_since=None), (*events, resume)
        return halt, events


def advance(state: BreakerState, now: datetime, config: BreakerConfig) -> BreakerStep:
    """Everything that happens by the clock alone: reductions that ran out and windows that
    moved on. Transitions are dated when they came due, however late the clock reports them."""
    events: list[BreakerEvent] = []
    for symbol in sorted(state.instruments):
        breakers = state.instruments[symbol]
        until = breakers.reduced_until
        if until is not None and now >= until:
            breakers = replace(breakers, reduced_until=None)
            reason = "the size reduction after a burst of urgent signals ran out"
            events.append(_event(state, BreakerEventKind.RESTORE, symbol, reason, until))
        signals = tuple(
            at for at in breakers.urgent_signals if at > now - config.urgent_signal_window
        )
        state = state._with(symbol, replace(breakers, urgent_signals=signals))
    overrides = tuple(at for at in state.overrides if at > now - config.override_window)
    return BreakerStep(replace(state, overrides=overrides), tuple(events))


def record_urgent_signal(
    state: BreakerState, *, symbol: str, now: datetime, config: BreakerConfig
) -> BreakerStep:
    """Count an urgent signal on an instrument; a burst of them cuts its size for a while."""
    step = advance(state, now, config)
    state = step.state
    breakers = state.instrument(symbol)
    signals = (*breakers.urgent_signals, now)
    breakers = replace(breakers, urgent_signals=signals)
    events = step.events
    if len(signals) >= config.urgent_signal_count:
        until = now + config.reduce_for
        extended = breakers.reduced_until is not None
        breakers = replace(breakers, reduced_until=until)
        reason = (
            f"{len(signals)} urgent signals within {_seconds(config.urgent_signal_window)}: "
            f"size x {config.reduced_size_factor} "
            f"{'extended ' if extended else ''}until {until.isoformat()}"
        )
        events += (_event(state, BreakerEventKind.REDUCE, symbol, reason, now),)
    return BreakerStep(state._with(symbol, breakers), events)


def size_factor(
    state: BreakerState, *, symbol: str, now: datetime, config: BreakerConfig
) -> Decimal:
    """The factor on an instrument's order sizes at ``now`` (1 when nothing is reduced)."""
    until = state.instrument(symbol).reduced_until
    return config.reduced_size_factor if until is not None and now < until else Decimal(1)


def request_override(
    state: BreakerState,
    *,
    symbol: str,
    planned: UrgencyLevel,
    requested: UrgencyLevel,
    now: datetime,
    config: BreakerConfig,
) -> tuple[BreakerStep, bool]:
    """Ask to execute at ``requested`` urgency where the plan says ``planned``; returns the
    step and whether it is granted. Asking for the same or less urgency is no override."""
    step = advance(state, now, config)
    state = step.state
    if requested.rank <= planned.rank:
        return step, True
    asked = f"{requested} instead of the planned {planned}"
    if len(state.overrides) >= config.max_overrides:
        reason = (
            f"override to {asked} refused: {len(state.overrides)} overrides already in the "
            f"last {_seconds(config.override_window)}, the most allowed is {config.max_overrides}"
        )
        refused = _event(state, BreakerEventKind.OVERRIDE_REFUSED, symbol, reason, now)
        return BreakerStep(state, (*step.events, refused)), False
    state = replace(state, overrides=(*state.overrides, now))
    reason = f"override to {asked} ({len(state.overrides)} of {config.max_overrides})"
    granted = _event(state, BreakerEventKind.OVERRIDE_GRANTED, symbol, reason, now)
    return BreakerStep(state, (*step.events, granted)), True


def set_kill_switch(state: BreakerState, *, on: bool, reason: str, now: datetime) -> BreakerStep:
    """Turn the kill switch on or off by hand; setting it as it already is changes nothing."""
    if not reason.strip():
        raise DomainError("say why the kill switch is turned on or off")
    if state.kill_switch.on == on:
        return BreakerStep(state)
    kind = BreakerEventKind.KILL_ON if on else BreakerEventKind.KILL_OFF
    switch = KillSwitch(on=True, reason=reason, since=now) if on else KillSwitch()
    return BreakerStep(
        replace(state, kill_switch=switch), (_event(state, kind, None, reason, now),)
    )


def check_daily_loss(
    state: BreakerState,
    *,
    limit: Decimal,
    start_equity: Decimal,
    equity: Decimal,
    now: datetime,
) -> BreakerStep:
    """Turn the kill switch on when today's loss reaches ``limit`` of start-of-day equity."""
    if state.kill_switch.on or not daily_loss_breached(
        limit=limit, start_equity=start_equity, equity=equity
    ):
        return BreakerStep(state)
    reason = (
        f"daily loss limit breached: equity {equity} against {start_equity} at the start of "
        f"the day, limit {limit * 100}%"
    )
    switch = KillSwitch(on=True, automatic=True, reason=reason, since=now)
    event = _event(state, BreakerEventKind.KILL_ON, None, reason, now)
    return BreakerStep(replace(state, kill_switch=switch), (event,))


def check_new_order(
    state: BreakerState, *, symbol: str, halted: bool, reduces_risk: bool
) -> list[RuleViolation]:
    """Every breaker that refuses a new order now (empty: it may go); ``halted`` is the
    instrument's market-wide halt at this moment (``SpreadHalt.halted_at``)."""
    if reduces_risk:
        return []
    refused = []
    if state.kill_switch.on:
        refused.append(
            RuleViolation(
                "kill_switch",
                f"the account's kill switch is on ({state.kill_switch.reason}): only orders "
                "that reduce risk are accepted",
            )
        )
    if halted:
        refused.append(
            RuleViolation(
                "instrument_halted",
                f"new orders on {symbol} are halted while its spread is unstable",
            )
        )
    return refused


def _event(
    state: BreakerState, kind: BreakerEventKind, symbol: str | None, reason: str, at: datetime
) -> BreakerEvent:
    return BreakerEvent(kind=kind, account=state.account, instrument=symbol, reason=reason, at=at)


def _seconds(duration: timedelta) -> str:
    return f"{duration.total_seconds():g} s"


def _time_text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time_or_none(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
