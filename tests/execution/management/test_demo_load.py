"""`manage.py demo_load`: the demo `make run` shows, loaded the same way every time."""

from decimal import Decimal as D
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from execution.models import (
    Account,
    AccountDay,
    Balance,
    ExecutionEvent,
    Fill,
    Instrument,
    Order,
    Position,
)
from execution.services.venues import paper_reset

MODELS = [Account, AccountDay, Balance, ExecutionEvent, Fill, Instrument, Order, Position]


@pytest.fixture(autouse=True)
def clean_paper_market():
    paper_reset()
    yield
    paper_reset()


def counts():
    return {model.__name__: model.objects.count() for model in [get_user_model(), *MODELS]}


def load():
    out = StringIO()
    call_command("demo_load", stdout=out)
    return out.getvalue()


# Transactional: the command relies on each order's task running when its transaction commits,
# as it does under `make run`.
@pytest.mark.django_db(transaction=True)
def test_demo_load_builds_the_demo_and_a_second_run_changes_nothing():
    output = load()

    assert "sign in as 'demo' with password 'demo-trader'" in output
    user = get_user_model().objects.get(username="demo")
    assert user.is_staff and user.is_superuser and user.check_password("demo-trader")
    assert sorted(Instrument.objects.values_list("symbol", flat=True)) == [
        "AAPL",
        "EURUSD",
        "IBM",
        "MSFT",
    ]
    account = Account.objects.get(owner=user)
    assert (account.name, account.mode, account.base_currency) == ("Paper", "paper", "USD")
    orders = Order.objects.filter(account=account)
    filled = orders.filter(status="filled")
    assert filled.count() == 2 and Fill.objects.filter(order__in=filled).exists()
    resting = orders.get(order_type="limit")
    assert resting.status == "submitted" and resting.instrument.symbol == "IBM"
    assert resting.sent_at is not None and not resting.fills.exists()
    ibm = Position.objects.get(account=account, instrument__symbol="IBM")
    assert ibm.quantity == D(100)
    entry = ibm.average_entry_price
    assert (ibm.stop_loss_price, ibm.take_profit_price) == (
        (entry * D("0.9")).quantize(D(1)),
        (entry * D("1.2")).quantize(D(1)),
    )
    first = counts()

    paper_reset()  # `make run` again: a new process
    output = load()

    assert "demo-trader" in output
    assert counts() == first
    resting.refresh_from_db()
    assert resting.status == "submitted"
