"""Reads: a user's API tokens, a key's token, and how long a sign-in must wait."""

from __future__ import annotations

import math
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from accounts.keys import key_hash, sign_in_key
from accounts.models import ApiToken, SignInFailures


def api_tokens_for_owner(owner_id: int) -> QuerySet[ApiToken]:
    """The user's tokens, newest first; never anyone else's."""
    return ApiToken.objects.filter(user_id=owner_id)


def api_token_for_key(key: str) -> ApiToken | None:
    """The token a presented key belongs to (with its user), expired or not."""
    return ApiToken.objects.select_related("user").filter(key_hash=key_hash(key)).first()


def sign_in_wait_seconds(
    *, username: str, ip_address: str, now: datetime | None = None
) -> int | None:
    """Seconds until this username may try to sign in again from this address; None if now."""
    now = now or timezone.now()
    locked_until = (
        SignInFailures.objects.filter(
            username=sign_in_key(username), ip_address=ip_address, locked_until__gt=now
        )
        .values_list("locked_until", flat=True)
        .first()
    )
    if locked_until is None:
        return None
    return max(1, math.ceil((locked_until - now).total_seconds()))
