"""Subscriptions: bad input named by field with nothing written; owner-only changes."""

from decimal import Decimal as D

import pytest

from copytrading.domain.terms import InvalidCopyTerms
from copytrading.models import CopySubscription, SubscriptionStatus
from copytrading.services.subscriptions import (
    SubscriptionNotFound,
    subscription_create,
    subscription_pause,
    subscription_resume,
    subscription_stop,
)
from tests.copytrading.conftest import make_strategy
from tests.factories import make_account, make_user


@pytest.fixture
def follower(market):
    user = make_user("follower")
    return make_account(user, deposit=D(10_000))


def subscribe(account, strategy, **terms):
    mode = terms.pop("account_mode", "paper")
    return subscription_create(
        follower_id=account.owner_id, account_id=account.pk, strategy_id=strategy.pk,
        account_mode=mode, terms=terms,
    )  # fmt: skip


def test_a_subscription_starts_active_with_its_capital(follower, leader):
    subscription = subscribe(follower, leader)
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.allocation_percent == 35
    assert subscription.start_capital == D(3500) == subscription.peak_equity
    assert subscription.copy_stop_loss_percent == 40


def test_allocations_of_one_account_sum_to_at_most_100(follower, leader):
    other = make_strategy(leader.owner, leader.account, name="second")
    subscribe(follower, leader, allocation_percent="60")
    with pytest.raises(InvalidCopyTerms) as refused:
        subscribe(follower, other, allocation_percent="50")
    assert "allocation_percent" in refused.value.errors
    assert CopySubscription.objects.count() == 1
    assert subscribe(follower, other, allocation_percent="40").allocation_percent == 40


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"capital_cap": "-100"}, "capital_cap"),
        ({"allocation_percent": "101"}, "allocation_percent"),
        ({"account_mode": "live"}, "account"),
        ({"mode": "fixed_amount"}, "fixed_amount"),
    ],
)
def test_bad_terms_write_nothing(follower, leader, terms, field):
    with pytest.raises(InvalidCopyTerms) as refused:
        subscribe(follower, leader, **terms)
    assert field in refused.value.errors
    assert not CopySubscription.objects.exists()


def test_no_copying_of_your_own_or_a_private_strategy(follower, leader):
    with pytest.raises(InvalidCopyTerms) as own:
        subscribe(leader.account, leader)
    assert own.value.errors == {"strategy": ["you cannot copy your own strategy"]}
    private = make_strategy(leader.owner, leader.account, name="hidden", visibility="private")
    with pytest.raises(InvalidCopyTerms) as hidden:
        subscribe(follower, private)
    assert "strategy" in hidden.value.errors
    assert not CopySubscription.objects.exists()


def test_one_live_subscription_per_account_and_strategy(follower, leader):
    subscribe(follower, leader, allocation_percent="10")
    with pytest.raises(InvalidCopyTerms) as twice:
        subscribe(follower, leader, allocation_percent="10")
    assert "strategy" in twice.value.errors


def test_another_followers_subscription_can_be_neither_seen_nor_changed(follower, leader):
    subscription = subscribe(follower, leader)
    intruder = make_user("intruder")
    for change in (subscription_pause, subscription_resume):
        with pytest.raises(SubscriptionNotFound):
            change(subscription_id=subscription.pk, follower_id=intruder.pk)
    with pytest.raises(SubscriptionNotFound):
        subscription_stop(subscription_id=subscription.pk, follower_id=intruder.pk, close=True)
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_pause_resume_stop_with_times(follower, leader):
    subscription = subscribe(follower, leader)
    owner = follower.owner_id
    paused = subscription_pause(subscription_id=subscription.pk, follower_id=owner)
    assert paused.status == "paused" and paused.paused_at is not None
    resumed = subscription_resume(subscription_id=subscription.pk, follower_id=owner)
    assert resumed.status == "active" and resumed.resumed_at is not None
    stopped = subscription_stop(subscription_id=subscription.pk, follower_id=owner, close=False)
    assert stopped.status == "stopped" and stopped.stopped_at is not None
    with pytest.raises(InvalidCopyTerms):
        subscription_resume(subscription_id=subscription.pk, follower_id=owner)
