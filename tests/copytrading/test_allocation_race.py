"""Allocations under real concurrency (PostgreSQL): two subscriptions of one follower account
created at the same moment, whose allocations together pass 100%, cannot both get in."""

from __future__ import annotations

import threading
from decimal import Decimal as D

import pytest
from django.db import connection, connections

from copytrading.domain.terms import InvalidCopyTerms
from copytrading.models import CopySubscription
from copytrading.services.subscriptions import subscription_create
from tests.copytrading.conftest import make_strategy
from tests.factories import make_account, make_instrument, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 8  # each round a fresh account: the race is won by a different thread each time


def _race(account, strategies, allocation: str) -> tuple[list[CopySubscription], list[Exception]]:
    """Each strategy subscribed from its own thread (and connection), released together."""
    start = threading.Barrier(len(strategies))
    created: list[CopySubscription] = []
    refused: list[Exception] = []

    def subscribe(strategy) -> None:
        try:
            start.wait(timeout=30)
            created.append(
                subscription_create(
                    follower_id=account.owner_id, account_id=account.pk,
                    strategy_id=strategy.pk, terms={"allocation_percent": allocation},
                )
            )  # fmt: skip
        except Exception as error:  # surfaced by the caller
            refused.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=subscribe, args=(s,)) for s in strategies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a subscriber is stuck (deadlock?)"
    return created, refused


def test_two_subscriptions_racing_past_100_percent_exactly_one_is_created():
    assert connection.vendor == "postgresql"
    make_instrument("BTC-USDT", mark="20000")
    leaders = []
    for name in ("alpha", "beta"):
        owner = make_user(f"leader-{name}")
        leaders.append(make_strategy(owner, make_account(owner), name=name))
    for n in range(ROUNDS):
        account = make_account(make_user(f"follower{n}"), deposit=D(10_000))
        created, refused = _race(account, leaders, "60")
        assert len(created) == 1, (created, refused)
        assert len(refused) == 1 and isinstance(refused[0], InvalidCopyTerms), refused
        assert "allocation_percent" in refused[0].errors
        # Nothing partial: the winner's row alone, with its own terms and capital.
        rows = list(CopySubscription.objects.filter(account=account))
        assert [(r.pk, r.allocation_percent, r.start_capital) for r in rows] == [
            (created[0].pk, D(60), D(6000))
        ]


def test_racing_subscriptions_that_fit_in_100_percent_are_both_created():
    make_instrument("BTC-USDT", mark="20000")
    leaders = []
    for name in ("alpha", "beta"):
        owner = make_user(f"leader-{name}")
        leaders.append(make_strategy(owner, make_account(owner), name=name))
    account = make_account(make_user("follower"), deposit=D(10_000))
    created, refused = _race(account, leaders, "50")
    assert not refused and len(created) == 2
    rows = CopySubscription.objects.filter(account=account)
    assert sorted(r.strategy_id for r in rows) == sorted(s.pk for s in leaders)
    assert sum(r.allocation_percent for r in rows) == 100
