"""Circuit breakers in the running system: market data halts an instrument for everyone, and
every way of placing an order meets the halt and the kill switch."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from execution.domain.errors import DomainError, OrderRefused
from execution.domain.urgency import UrgencyLevel
from execution.models import EventKind, ExecutionEvent, InstrumentBreaker, Order
from execution.services.breakers import account_kill_switch_set, instrument_halts_advance
from execution.services.orders import order_place
from execution.services.signal_execution import signal_execute
from execution.services.venues import paper_reset
from tests.factories import (
    btc_book,
    btc_unstable_spread,
    make_account,
    make_instrument,
    make_user,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_market():
    paper_reset()
    yield
    paper_reset()


@pytest.fixture
def btc():
    return make_instrument("BTC-USDT", mark="20000", tick="0.1", lot="0.001", min_notional="5")


def breaker_kinds():
    return list(
        ExecutionEvent.objects.filter(kind=EventKind.BREAKER)
        .order_by("id")
        .values_list("data__kind", flat=True)
    )


def buy(account, quantity="0.01", **kwargs):
    return order_place(account_id=account.pk, symbol="BTC-USDT", side="buy",
                       order_type="market", quantity=quantity, **kwargs)  # fmt: skip


def test_market_data_alone_halts_the_instrument_for_every_account(btc):
    first = make_account(make_user("first"), deposit=D(1_000_000))
    second = make_account(make_user("second"), deposit=D(1_000_000))
    start = timezone.now() - timedelta(seconds=200)
    btc_unstable_spread(start)

    row = InstrumentBreaker.objects.get(instrument=btc)
    assert row.halted_since is not None and row.stability is not None and row.stability > 0.8
    halt = ExecutionEvent.objects.get(kind=EventKind.BREAKER, data__kind="halt")
    assert halt.account is None and halt.instrument == btc  # market-wide, not an account's
    for account in (first, second):
        with pytest.raises(OrderRefused) as refused:
            buy(account)
        assert [v.rule for v in refused.value.violations] == ["instrument_halted"]
    assert Order.objects.count() == 0


def test_a_halt_lets_risk_reducing_orders_through_and_lifts_on_a_stable_spread(btc):
    account = make_account(make_user("trader"), deposit=D(1_000_000))
    start = timezone.now() - timedelta(seconds=300)
    btc_book(start)
    buy(account, "0.1")
    assert account.positions.get().quantity == D("0.1")
    btc_unstable_spread(start + timedelta(seconds=1))

    # Selling what is held takes risk off: it passes the halt; selling more would not.
    with pytest.raises(OrderRefused, match="halted"):
        order_place(account_id=account.pk, symbol="BTC-USDT", side="sell",
                    order_type="market", quantity="0.2")  # fmt: skip
    order_place(account_id=account.pk, symbol="BTC-USDT", side="sell", order_type="market",
                quantity="0.05")  # fmt: skip
    assert account.positions.get().quantity == D("0.05")

    # The wide spread leaves the last 100 touches: stability falls, the halt lifts.
    for n in range(120):
        btc_book(start + timedelta(seconds=100 + n))
    assert breaker_kinds() == ["halt", "resume"]
    assert InstrumentBreaker.objects.get(instrument=btc).halted_since is None
    buy(account)


def test_a_quiet_feed_still_halts_and_the_beat_writes_it(btc):
    account = make_account(make_user("quiet"), deposit=D(1_000_000))
    start = timezone.now() - timedelta(seconds=90)
    for n in range(25):  # unstable from second 21 on, then the feed stops
        btc_book(start + timedelta(seconds=n), spread_ticks=5000 if n == 21 else 2)
    row = InstrumentBreaker.objects.get(instrument=btc)
    assert row.unstable_since is not None and row.halted_since is None
    # More than 60 s since it turned unstable: orders are refused before anything is written.
    with pytest.raises(OrderRefused, match="halted"):
        buy(account)
    assert instrument_halts_advance() == 1
    assert instrument_halts_advance() == 0  # written once
    row.refresh_from_db()
    assert row.halted_since == row.unstable_since + timedelta(seconds=60)
    assert breaker_kinds() == ["halt"]


def test_the_kill_switch_stops_new_risk_from_every_entry_point(btc):
    account = make_account(make_user("kill"), deposit=D(1_000_000))
    btc_book(timezone.now())
    buy(account, "0.1")
    account_kill_switch_set(account_id=account.pk, on=True, reason="operator stop")
    with pytest.raises(OrderRefused, match="kill switch is on"):
        buy(account)
    # Closing is allowed: the switch exists to take risk off.
    order_place(account_id=account.pk, symbol="BTC-USDT", side="sell", order_type="market",
                quantity="0.1", reduce_only=True)  # fmt: skip
    assert account.positions.get().quantity == 0
    account_kill_switch_set(account_id=account.pk, on=False, reason="resumed")
    buy(account)
    with pytest.raises(DomainError, match="needs a reason"):
        account_kill_switch_set(account_id=account.pk, on=True, reason="  ")


def test_urgency_overrides_are_granted_five_times_an_hour(btc):
    account = make_account(make_user("override"), deposit=D(10_000_000))
    start = timezone.now()
    for n in range(5):  # stable: a strong signal plans a passive maker order
        btc_book(start + timedelta(seconds=n))
    now = start + timedelta(seconds=5)
    outcomes = []
    for n in range(6):
        outcome = signal_execute(account_id=account.pk, symbol="BTC-USDT", side="buy",
                                 strength=0.9, base_quantity="0.01",
                                 urgency_override="aggressive_limit",
                                 now=now + timedelta(seconds=n))  # fmt: skip
        outcomes.append(outcome)
    assert [o.urgency for o in outcomes[:5]] == [UrgencyLevel.AGGRESSIVE_LIMIT] * 5
    assert all(o.override_refused is None for o in outcomes[:5])
    sixth = outcomes[5]
    assert sixth.urgency is UrgencyLevel.PASSIVE_MAKER  # refused: executes as planned
    assert sixth.override_refused and "5 overrides already" in sixth.override_refused
    assert breaker_kinds() == ["override_granted"] * 5 + ["override_refused"]
    # Asking for less urgency than planned is no override and is not counted.
    later = signal_execute(account_id=account.pk, symbol="BTC-USDT", side="buy", strength=0.9,
                           base_quantity="0.01", urgency_override="passive_maker",
                           now=now + timedelta(seconds=10))  # fmt: skip
    assert later.urgency is UrgencyLevel.PASSIVE_MAKER and later.override_refused is None
    with pytest.raises(DomainError, match="urgency 'now' is not one of"):
        signal_execute(account_id=account.pk, symbol="BTC-USDT", side="buy", strength=0.9,
                       base_quantity="0.01", urgency_override="now")  # fmt: skip
