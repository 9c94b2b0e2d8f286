"""Circuit breakers over time: halts, size reductions, the override limit and the kill switch."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from execution.domain.breakers import (
    BreakerConfig,
    BreakerEventKind,
    BreakerState,
    SpreadHalt,
    advance,
    check_daily_loss,
    check_new_order,
    record_urgent_signal,
    request_override,
    set_kill_switch,
    size_factor,
)
from execution.domain.errors import DomainError
from execution.domain.urgency import InvalidConfig, UrgencyLevel

T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
CONFIG = BreakerConfig()
SYMBOL = "BTC-USDT"
Kind = BreakerEventKind


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def feed(observations, halt=None, config=CONFIG):
    """Feed (seconds, stability) observations; the final halt and every event."""
    halt = halt or SpreadHalt(SYMBOL)
    events = []
    for seconds, stability in observations:
        halt, new = halt.observe(stability, at(seconds), config)
        events += list(new)
    return halt, events


def kinds(events):
    return [event.kind for event in events]


def refusals(state, reduces_risk=False, halted=False):
    return [
        v.rule
        for v in check_new_order(state, symbol=SYMBOL, halted=halted, reduces_risk=reduces_risk)
    ]


# -- halt ----------------------------------------------------------------------------------


def test_halt_only_after_sixty_seconds_of_continuous_instability():
    halt, events = feed([(0, 0.81), (30, 0.9), (59.999, 0.95)])
    assert events == [] and not halt.halted_at(at(59.999), CONFIG)
    halt, new = halt.observe(0.85, at(60), CONFIG)
    assert kinds(new) == [Kind.HALT]
    event = new[0]
    assert (event.account, event.instrument, event.at) == (None, SYMBOL, at(60))
    assert "above 0.8" in event.reason and "for 60 s" in event.reason
    assert halt.halted_since == at(60) and halt.halted_at(at(60), CONFIG)


def test_a_dip_restarts_the_sixty_seconds():
    halt, events = feed([(0, 0.9), (50, 0.8), (55, 0.9), (110, 0.9)])
    assert events == []  # 0.8 is not above 0.8: the clock restarted at 55
    halt, events = feed([(115, 0.9)], halt)
    assert kinds(events) == [Kind.HALT] and events[0].at == at(115)


def test_a_quiet_feed_while_unstable_still_halts_when_the_clock_moves():
    halt, _ = feed([(0, 0.9)])
    assert not halt.halted_at(at(59), CONFIG) and halt.advance(at(59), CONFIG)[1] == ()
    assert halt.halted_at(at(300), CONFIG)  # before anything is written
    advanced, events = halt.advance(at(300), CONFIG)
    assert kinds(events) == [Kind.HALT] and advanced.halted_since == at(60)
    assert events[0].at == at(60)  # dated when it came due
    # The next observation, however late, brings the halt in first.
    later, events = halt.observe(0.3, at(400), CONFIG)
    assert kinds(events) == [Kind.HALT, Kind.RESUME]
    assert [e.at for e in events] == [at(60), at(400)] and later.halted_since is None


def test_resume_when_stability_falls_back_below_the_threshold():
    halt, _ = feed([(0, 0.9), (60, 0.9)])
    halt, events = feed([(61, 0.8)], halt)
    assert events == [] and halt.halted_at(at(61), CONFIG)  # exactly 0.8: neither
    halt, events = feed([(62, 0.79)], halt)
    assert kinds(events) == [Kind.RESUME] and not halt.halted_at(at(62), CONFIG)
    assert "0.79 is back below 0.8" in events[0].reason


def test_hysteresis_band_keeps_the_halt_until_well_below():
    config = BreakerConfig(resume_stability_below=0.6)
    halt, _ = feed([(0, 0.9), (60, 0.9)], config=config)
    halt, events = feed([(70, 0.7), (80, 0.65)], halt, config)
    assert events == [] and halt.halted_at(at(80), config)
    halt, events = feed([(90, 0.59)], halt, config)
    assert kinds(events) == [Kind.RESUME]


def test_a_halt_refuses_new_risk_but_lets_risk_reducing_orders_through():
    state = BreakerState("acc1")
    assert refusals(state, halted=True) == ["instrument_halted"]
    assert refusals(state, halted=True, reduces_risk=True) == []
    assert refusals(state, halted=False) == []


# -- size reduction after urgent signals ---------------------------------------------------


def record(state, seconds, config=CONFIG):
    return record_urgent_signal(state, symbol=SYMBOL, now=at(seconds), config=config)


def test_three_urgent_signals_in_five_minutes_halve_the_size_for_fifteen():
    state = BreakerState("acc1")
    state = record(state, 0).state
    state = record(state, 100).state
    assert size_factor(state, symbol=SYMBOL, now=at(100), config=CONFIG) == 1
    step = record(state, 299)
    assert kinds(step.events) == [Kind.REDUCE]
    assert "3 urgent signals within 300 s: size x 0.5" in step.events[0].reason
    state = step.state
    assert size_factor(state, symbol=SYMBOL, now=at(299 + 899), config=CONFIG) == D("0.5")
    assert size_factor(state, symbol=SYMBOL, now=at(299 + 900), config=CONFIG) == 1
    restored = advance(state, at(299 + 900), CONFIG)
    assert kinds(restored.events) == [Kind.RESTORE]
    assert restored.events[0].at == at(299 + 900)
    assert restored.state.instrument(SYMBOL).reduced_until is None


def test_signals_outside_the_window_do_not_count():
    state = BreakerState("acc1")
    for seconds in (0, 200, 300):  # the first has left the window by 300
        step = record(state, seconds)
        state = step.state
    assert step.events == () and size_factor(state, symbol=SYMBOL, now=at(300), config=CONFIG) == 1


def test_a_further_burst_extends_the_reduction():
    state = BreakerState("acc1")
    for seconds in (0, 1, 2):
        state = record(state, seconds).state
    step = record(state, 600)  # 0-2 have left the window: no burst
    assert step.events == ()
    state = record(record(step.state, 601).state, 602).state
    assert state.instrument(SYMBOL).reduced_until == at(602 + 900)
    step = record(state, 603)
    assert "extended" in step.events[0].reason


def test_configured_count_window_factor_and_duration():
    config = BreakerConfig.from_dict(
        {
            "urgent_signal_count": 2,
            "urgent_signal_window": 10,
            "reduced_size_factor": "0.25",
            "reduce_for": 60,
        }
    )
    state = record(record(BreakerState("acc1"), 0, config).state, 9, config).state
    assert size_factor(state, symbol=SYMBOL, now=at(68), config=config) == D("0.25")
    assert size_factor(state, symbol=SYMBOL, now=at(69), config=config) == 1


# -- urgency overrides ---------------------------------------------------------------------


def override(state, seconds, planned=UrgencyLevel.BALANCED, requested=UrgencyLevel.URGENT):
    return request_override(
        state, symbol=SYMBOL, planned=planned, requested=requested, now=at(seconds), config=CONFIG
    )


def test_at_most_five_overrides_in_a_rolling_hour():
    state = BreakerState("acc1")
    for seconds in (0, 600, 1200, 1800, 2400):
        step, granted = override(state, seconds)
        assert granted and kinds(step.events) == [Kind.OVERRIDE_GRANTED]
        state = step.state
    step, granted = override(state, 3599)
    assert not granted and kinds(step.events) == [Kind.OVERRIDE_REFUSED]
    assert "5 overrides already in the last 3600 s" in step.events[0].reason
    assert step.state == state  # a refusal does not count
    step, granted = override(state, 3600)  # the first left the window
    assert granted and "(5 of 5)" in step.events[0].reason


def test_asking_for_no_more_urgency_than_planned_is_no_override():
    state = BreakerState("acc1", overrides=tuple(at(s) for s in range(5)))
    for requested in (UrgencyLevel.PASSIVE_MAKER, UrgencyLevel.BALANCED):
        step, granted = override(state, 10, requested=requested)
        assert granted and step.events == ()


# -- kill switch ---------------------------------------------------------------------------


def test_manual_kill_switch_allows_only_risk_reducing_orders():
    state = BreakerState("acc1")
    step = set_kill_switch(state, on=True, reason="exchange incident", now=at(0))
    assert kinds(step.events) == [Kind.KILL_ON]
    assert (step.events[0].account, step.events[0].instrument) == ("acc1", None)
    assert refusals(step.state) == ["kill_switch"]
    assert refusals(step.state, reduces_risk=True) == []
    assert set_kill_switch(step.state, on=True, reason="again", now=at(1)).events == ()
    off = set_kill_switch(step.state, on=False, reason="resolved", now=at(2))
    assert kinds(off.events) == [Kind.KILL_OFF] and refusals(off.state) == []
    with pytest.raises(DomainError, match="say why"):
        set_kill_switch(state, on=True, reason=" ", now=at(0))


def test_daily_loss_breach_turns_the_kill_switch_on():
    state = BreakerState("acc1")
    fine = check_daily_loss(
        state, limit=D("0.10"), start_equity=D(10_000), equity=D(9_001), now=at(0)
    )
    assert fine.events == () and not fine.state.kill_switch.on
    step = check_daily_loss(
        state, limit=D("0.10"), start_equity=D(10_000), equity=D(9_000), now=at(5)
    )
    assert kinds(step.events) == [Kind.KILL_ON] and step.state.kill_switch.automatic
    assert "daily loss limit breached" in step.events[0].reason
    assert refusals(step.state) == ["kill_switch"]
    again = check_daily_loss(
        step.state, limit=D("0.10"), start_equity=D(10_000), equity=D(8_000), now=at(9)
    )
    assert again.events == ()


def test_every_refusal_is_reported_at_once():
    state = set_kill_switch(BreakerState("acc1"), on=True, reason="manual", now=at(61)).state
    assert refusals(state, halted=True) == ["kill_switch", "instrument_halted"]


# -- persistence and configuration ---------------------------------------------------------


def test_state_round_trips_through_json():
    state = BreakerState("acc1")
    for seconds in (62, 63, 64):
        state = record(state, seconds).state
    state = override(state, 65)[0].state
    state = set_kill_switch(state, on=True, reason="manual", now=at(66)).state
    text = json.dumps(state.to_dict())
    assert BreakerState.from_dict(json.loads(text)) == state
    assert BreakerState.from_dict(json.loads(json.dumps(BreakerState("a").to_dict()))) == (
        BreakerState("a")
    )


def test_unreadable_state_is_a_clear_error():
    with pytest.raises(DomainError, match="breaker state is not readable"):
        BreakerState.from_dict({"account": "a"})


def test_events_have_a_json_form():
    _, events = feed([(0, 0.9), (60, 0.9)])
    assert events[0].to_dict() == {
        "kind": "halt",
        "account": None,
        "instrument": SYMBOL,
        "reason": events[0].reason,
        "at": "2024-01-01T09:01:00+00:00",
    }


def test_config_defaults_round_trip_and_errors():
    config = BreakerConfig()
    assert config.halt_after == timedelta(seconds=60) and config.max_overrides == 5
    assert config.override_window == timedelta(hours=1)
    assert BreakerConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert set(BreakerConfig.schema()["properties"]) == set(config.to_dict())
    for data, key in [
        ({"halt_after": -1}, "halt_after"),
        ({"max_overrides": "five"}, "max_overrides"),
        ({"reduced_size_factor": "1.5"}, "reduced_size_factor"),
        ({"resume_stability_below": 0.9}, "resume_stability_below"),
        ({"kill": True}, "kill"),
    ]:
        with pytest.raises(InvalidConfig) as error:
            BreakerConfig.from_dict(data)
        assert error.value.key == key, data


def test_stability_outside_zero_to_one_is_refused():
    with pytest.raises(DomainError, match=r"spread stability must be in \[0, 1\]"):
        SpreadHalt(SYMBOL).observe(1.5, at(0), CONFIG)
