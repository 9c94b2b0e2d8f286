"""The paper exchange lives in the feed's process; a web process (here, this test's: no feed,
tasks through the broker) that cancels or amends a paper order sends the venue's half there
as a task instead of opening a paper venue of its own, whose books would not be the
exchange's."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from execution.models import EventKind, ExecutionEvent, Order
from execution.services.orders import order_amend, order_cancel, order_place
from execution.services.venues import paper_reset, paper_venues
from tests.factories import make_account, make_instrument, make_user
from tests.production.conftest import celery_worker

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TIMEOUT = 30.0


@pytest.fixture
def feed_worker(tasks_through_the_broker):
    """The Procfile's feed: a worker that runs the simulated market and the paper exchange."""
    paper_reset()
    with celery_worker("execution,copy", MARKET_FEED="simulated", MARKET_SOURCE="walk") as log:
        yield log
    paper_reset()


def wait_for(order: Order, condition, what: str, log) -> Order:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        order.refresh_from_db()
        if condition(order):
            return order
        time.sleep(0.2)
    pytest.fail(f"{what}: order still {order.status} after {TIMEOUT} s; feed log:\n{log()}")


def test_a_web_processs_cancel_and_amend_happen_in_the_paper_exchanges_process(feed_worker):
    make_instrument("BTC-USDT", mark="20000")
    account = make_account(make_user("paper"), deposit=Decimal(100_000))
    order = order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
        quantity="0.1", price="19500",  # 2.5% under the market: it rests
    )  # fmt: skip
    order = wait_for(order, lambda o: o.status == "submitted", "sent by the feed", feed_worker)

    answered = order_amend(order_id=order.pk, price="19400", actor="user:1")
    assert answered.price == Decimal(19500)  # checked here, amended there
    order = wait_for(order, lambda o: o.price == Decimal(19400), "amended", feed_worker)

    answered = order_cancel(order_id=order.pk, actor="user:1")
    assert answered.status == "submitted"  # the exchange's answer comes as an order push
    order = wait_for(order, lambda o: o.status == "cancelled", "cancelled", feed_worker)

    events = ExecutionEvent.objects.filter(order=order)
    assert events.filter(kind=EventKind.ORDER_AMENDED, actor="user:1").count() == 1
    assert events.filter(kind=EventKind.ORDER_CANCEL_REQUESTED).count() == 1
    assert paper_venues() == []  # no second paper exchange was opened in this process
