"""A commit followed by a failed publish loses nothing: the transactional outbox.

A leader fill commits while the broker is down: its outbox message stays unsent with the
error; once the broker is back, the relay (the beat of a real worker) publishes it and the
worker mirrors the fill to every follower, once. A process that dies between commit and
publish leaves its message to the relay as well, and a message published twice copies
nothing twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from decimal import Decimal as D

import pytest
from django.utils import timezone

from copytrading.models import CopyTrade
from copytrading.services.subscriptions import subscription_create
from execution.models import Fill, Order, OutboxMessage
from execution.outbox import FILL_COMMITTED, GRACE, Message, messages_publish
from tests.copytrading.conftest import leader_trade, make_strategy
from tests.execution.tasks.test_celery_worker import ROOT, _test_database_url
from tests.factories import btc_book, make_account, make_instrument, make_user
from tests.faults.conftest import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

FOLLOWERS = 3
TIMEOUT = 60.0


@pytest.fixture
def leader():
    make_instrument("BTC-USDT", mark="20000")
    btc_book(timezone.now(), depth=D(50))
    owner = make_user("leader")
    strategy = make_strategy(owner, make_account(owner, deposit=D(100_000)))
    for n in range(FOLLOWERS):
        account = make_account(make_user(f"follower{n}"), deposit=D(10_000))
        subscription_create(
            follower_id=account.owner_id, account_id=account.pk, strategy_id=strategy.pk,
            terms={"allocation_percent": "50"},
        )  # fmt: skip
    return strategy


def copies_of(fill: Fill) -> int:
    return CopyTrade.objects.filter(leader_fill=fill).count()


def marked_sent(message: OutboxMessage) -> OutboxMessage | None:
    """The message once it is marked sent (the publisher marks within a fraction of a second)."""
    return OutboxMessage.objects.filter(pk=message.pk, sent_at__isnull=False).first()


def mirror_tasks_done(log: str) -> int:
    return sum(
        "copytrading.mirror_fill[" in line and " succeeded in " in line for line in log.splitlines()
    )


def follower_orders() -> int:
    return Order.objects.exclude(copy_trade=None).count()


def test_a_fill_committed_while_the_broker_is_down_is_mirrored_once_it_is_back(
    leader, through_broker, workers, figures
):
    through_broker.stop()
    started = time.monotonic()
    fill = leader_trade(leader, "buy", "1", "20000", "t-broker-down")
    commit_and_failed_publish = time.monotonic() - started

    message = OutboxMessage.objects.get(topic=FILL_COMMITTED, object_id=fill.pk)
    assert message.sent_at is None and "OperationalError" in message.last_error
    assert Fill.objects.filter(pk=fill.pk).exists() and copies_of(fill) == 0

    through_broker.start()
    worker = workers("relay", beat=True)
    worker.wait_ready()
    back = time.monotonic()
    wait_until(
        lambda: copies_of(fill) == FOLLOWERS, timeout=TIMEOUT,
        what="the follower copies of the fill", log=worker.text,
    )  # fmt: skip
    mirrored_after = time.monotonic() - back
    message = wait_until(lambda: marked_sent(message), timeout=TIMEOUT, what="the sent mark")
    assert message.attempts >= 1

    # Published again (a relay that died after publishing, before marking it sent): the
    # worker runs the mirror again and copies nothing twice.
    assert messages_publish([Message(message.pk, FILL_COMMITTED, fill.pk, message.payload)]) == 1
    wait_until(
        lambda: mirror_tasks_done(worker.text()) == 2, timeout=TIMEOUT,
        what="the repeated mirror task", log=worker.text,
    )  # fmt: skip
    assert copies_of(fill) == FOLLOWERS and follower_orders() == FOLLOWERS

    figures(
        f"commit + failed publish (broker down) {commit_and_failed_publish:.2f} s; "
        f"relay attempts {message.attempts}; mirrored to {copies_of(fill)}/{FOLLOWERS} "
        f"followers {mirrored_after:.1f} s after the worker was ready; after a second publish: "
        f"{copies_of(fill)} copies, {follower_orders()} follower orders (lost 0, doubled 0)"
    )


# Records a leader fill in a process that dies in the commit's callbacks, before the outbox
# message is published (the first callback registered runs first).
_DIE_AFTER_COMMIT = """
import os, django
django.setup()
from django.db import transaction
from execution.services.fills import fill_record
with transaction.atomic():
    transaction.on_commit(lambda: os._exit(3))
    fill_record(order_id={order_id!r}, venue_trade_id="t-died", quantity="1", price="20000")
"""


def test_a_process_that_dies_between_commit_and_publish_leaves_the_message_to_the_relay(
    leader, private_redis, workers, figures
):
    from execution.services.orders import order_place

    order = order_place(
        account_id=leader.account_id, symbol="BTC-USDT", side="buy", order_type="limit",
        quantity="1", price="20000", strategy_id=leader.pk, submit=False,
    )  # fmt: skip
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingsite.settings.test",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": private_redis.url(),
    }
    script = textwrap.dedent(_DIE_AFTER_COMMIT.format(order_id=str(order.pk)))
    died = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    assert died.returncode == 3, died.stderr
    fill = Fill.objects.get(order=order, venue_trade_id="t-died")
    message = OutboxMessage.objects.get(topic=FILL_COMMITTED, object_id=fill.pk)
    assert message.sent_at is None and message.attempts == 0 and copies_of(fill) == 0

    worker = workers("relay", beat=True)
    worker.wait_ready()
    ready = time.monotonic()
    wait_until(
        lambda: copies_of(fill) == FOLLOWERS, timeout=TIMEOUT + GRACE.total_seconds(),
        what="the follower copies of the fill", log=worker.text,
    )  # fmt: skip
    message = wait_until(lambda: marked_sent(message), timeout=TIMEOUT, what="the sent mark")
    assert message.attempts == 1
    figures(
        f"process died after commit, before publish: relayed after the {GRACE.seconds} s grace,"
        f" mirrored to {copies_of(fill)}/{FOLLOWERS} followers "
        f"{time.monotonic() - ready:.1f} s after the worker was ready (lost 0, doubled 0)"
    )
