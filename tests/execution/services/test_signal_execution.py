"""signal_execute: from a signal to a parent order through the breakers and the urgency plan."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.apps import apps
from django.utils import timezone

from execution.domain.errors import DomainError
from execution.domain.urgency import UrgencyLevel
from execution.models import EventKind, ExecutionEvent, ParentOrder
from execution.services.breakers import account_kill_switch_set
from execution.services.signal_execution import signal_execute
from execution.services.venues import paper_reset
from tests.factories import btc_book, make_account, make_instrument, make_user

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: tasks run on commit


@pytest.fixture(autouse=True)
def clean_market():
    paper_reset()
    yield
    paper_reset()


@pytest.fixture
def account():
    make_instrument("BTC-USDT", mark="20000", tick="0.1", lot="0.001", min_notional="5")
    return make_account(make_user("signals"), deposit=D(1_000_000))


def signal(account, strength, side="buy", base="0.2", now=None):
    return signal_execute(account_id=account.pk, symbol="BTC-USDT", side=side,
                          strength=strength, base_quantity=base, now=now)  # fmt: skip


def test_a_strong_signal_on_a_stable_book_works_a_passive_order(account):
    start = timezone.now()
    for n in range(5):  # the same spread every second: perfectly stable
        btc_book(start + timedelta(seconds=n))
    outcome = signal(account, 0.9, now=start + timedelta(seconds=4))
    assert outcome.urgency is UrgencyLevel.PASSIVE_MAKER
    assert outcome.quantity == D("0.18")  # base 0.2 x strength 0.9
    parent = outcome.parent_order
    assert parent is not None and parent.algorithm == "limit" and parent.quantity == D("0.18")
    child = parent.children.get()
    assert child.order_type == "limit" and child.price == D("19999.9")  # joins the bid
    assert ExecutionEvent.objects.filter(kind=EventKind.SIGNAL_EXECUTED).count() == 1


def test_a_weak_signal_is_skipped_with_its_reason(account):
    btc_book(timezone.now())
    outcome = signal(account, 0.1)
    assert outcome.parent_order is None and outcome.skipped
    assert ParentOrder.objects.count() == 0
    assert ExecutionEvent.objects.filter(kind=EventKind.SIGNAL_SKIPPED).count() == 1


def test_an_unstable_spread_for_a_minute_halts_the_instrument(account):
    # One spread of 5000 ticks among one-tick spreads: cv ~ 4.9 at 25 s and ~ 9.6 at 90 s,
    # so spread_stability_norm_100 = cv / (1 + cv) stays above 0.8 the whole time.
    start = timezone.now()
    for n in range(96):
        btc_book(start + timedelta(seconds=n), spread_ticks=5000 if n == 21 else 1)
        if n == 25:
            early = signal(account, 0.9, now=start + timedelta(seconds=n))
    assert early.refused == ()  # unstable, but not for 60 s yet
    late = signal(account, 0.9, now=start + timedelta(seconds=95))
    assert late.parent_order is None
    assert any("halted" in reason for reason in late.refused)
    halt = ExecutionEvent.objects.filter(kind=EventKind.BREAKER, data__kind="halt").get()
    assert halt.data["instrument"] == "BTC-USDT"
    assert ExecutionEvent.objects.filter(kind=EventKind.SIGNAL_REFUSED).count() == 1


def test_the_kill_switch_refuses_new_risk_but_not_a_reduction(account):
    from execution.services.orders import order_place

    start = timezone.now()
    for n in range(3):
        btc_book(start + timedelta(seconds=n))
    order_place(account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="market",
                quantity="0.1")  # fmt: skip
    assert account.positions.get().quantity == D("0.1")
    account_kill_switch_set(account_id=account.pk, on=True, reason="operator stop")

    assert "kill switch" in signal(account, 1.0, side="buy", base="0.1").refused[0]
    reducing = signal(account, 0.9, side="sell", base="0.1")
    assert reducing.refused == () and reducing.parent_order is not None
    account_kill_switch_set(account_id=account.pk, on=False, reason="resumed")
    kinds = list(
        ExecutionEvent.objects.filter(kind=EventKind.BREAKER)
        .order_by("id")
        .values_list("data__kind", flat=True)
    )
    assert kinds[-2:] == ["kill_on", "kill_off"]


def test_no_market_data_means_no_order(account):
    outcome = signal(account, 0.9)
    assert outcome.parent_order is None and "no book" in (outcome.skipped or "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strength": 1.5}, "from 0 to 1"),
        ({"strength": float("nan")}, "from 0 to 1"),
        ({"strength": True}, "must be a number"),
        ({"side": "long"}, "side 'long'"),
        ({"base_quantity": "0"}, "greater than zero"),
        ({"symbol": "NOPE-USDT"}, "unknown instrument"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(account, kwargs, message):
    btc_book(timezone.now())
    before = {m.__name__: m.objects.count() for m in apps.get_app_config("execution").get_models()}
    args = {"account_id": account.pk, "symbol": "BTC-USDT", "side": "buy", "strength": 0.9,
            "base_quantity": "0.2"}  # fmt: skip
    args.update(kwargs)
    with pytest.raises(DomainError, match=message):
        signal_execute(**args)
    after = {m.__name__: m.objects.count() for m in apps.get_app_config("execution").get_models()}
    assert after == before
