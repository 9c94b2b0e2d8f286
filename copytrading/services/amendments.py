"""Changing a live subscription's terms: the same validation as creating one (CopyTerms and
the account's 100% cap), under the account's lock; a refusal writes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import Sum

from copytrading.domain.terms import HUNDRED, CopyTerms, InvalidCopyTerms
from copytrading.models import LIVE_STATUSES, CopySubscription
from copytrading.selectors import subscription_terms
from copytrading.services.subscriptions import SubscriptionNotFound
from execution.domain.values import ZERO, plain
from execution.models import Account


def subscription_terms_update(
    *, subscription_id: int, follower_id: int | None, changes: Mapping[str, Any]
) -> CopySubscription:
    """The terms given replace the current ones; the rest stay. A stopped subscription is
    refused; the capital it started with stays (the copy stop loss measures from it)."""
    found = CopySubscription.objects.filter(pk=subscription_id)
    if follower_id is not None:
        found = found.filter(follower_id=follower_id)
    account_id = found.values_list("account_id", flat=True).first()
    if account_id is None:
        raise SubscriptionNotFound(f"you have no subscription {subscription_id}")
    with transaction.atomic():
        # The account's lock first, as create and order placement take it.
        Account.objects.select_for_update().get(pk=account_id)
        subscription = CopySubscription.objects.select_for_update().get(pk=subscription_id)
        if subscription.status not in LIVE_STATUSES:
            raise InvalidCopyTerms({"status": ["a stopped subscription cannot change"]})
        terms = CopyTerms.parse({**subscription_terms(subscription).as_dict(), **changes})
        others = (
            CopySubscription.objects.filter(account_id=account_id, status__in=LIVE_STATUSES)
            .exclude(pk=subscription.pk)
            .aggregate(total=Sum("allocation_percent"))["total"]
            or ZERO
        )
        if others + terms.allocation_percent > HUNDRED:
            raise InvalidCopyTerms(
                {
                    "allocation_percent": [
                        f"{plain(terms.allocation_percent)}% with the "
                        f"{plain(others)}% your other subscriptions on this account "
                        "use is more than 100%"
                    ]
                }
            )
        columns = terms.as_dict()
        for name, value in columns.items():
            setattr(subscription, name, value)
        subscription.save(update_fields=[*columns, "updated_at"])
    return subscription
