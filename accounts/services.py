"""Writes: API tokens issued and revoked, failed sign-ins counted and cleared."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.keys import key_hash, sign_in_key
from accounts.models import ApiToken, SignInFailures, TokenSource

logger = logging.getLogger(__name__)

KEY_BYTES = 30  # 240 random bits: 40 URL-safe characters
PREFIX_LENGTH = 8
# last_used_at is written at most this often per token: not one UPDATE per API request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenRefused(ValueError):
    """A token that cannot be issued, with a message the user can act on."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: ApiToken
    key: str  # the only time the key exists outside its owner's hands


@transaction.atomic
def api_token_create(
    *,
    user_id: int,
    name: str,
    expires_in: timedelta | None = None,
    source: str = TokenSource.API,
    now: datetime | None = None,
) -> IssuedToken:
    """A new token for the user; its key is in the result and nowhere else.

    Named tokens (page, API, command) count against API_TOKENS_PER_USER. Password sign-ins do
    not: a script that signs in on every run would soon hit the limit; instead only the newest
    API_TOKEN_PASSWORD_KEEP of them are kept and older ones are revoked."""
    name = name.strip()
    if not name:
        raise TokenRefused("Name the token, so you can tell it apart when you revoke it.")
    if expires_in is not None and expires_in <= timedelta(0):
        raise TokenRefused("A token must expire in the future.")
    # The user's row serialises concurrent creations, so the limit holds.
    get_user_model().objects.select_for_update().filter(pk=user_id).first()
    named = ApiToken.objects.filter(user_id=user_id).exclude(source=TokenSource.PASSWORD)
    held = named.count() if source != TokenSource.PASSWORD else 0
    if held >= settings.API_TOKENS_PER_USER:
        raise TokenRefused(
            f"You have {held} tokens, the most allowed: revoke one you no longer use first."
        )
    now = now or timezone.now()
    key = secrets.token_urlsafe(KEY_BYTES)
    token = ApiToken.objects.create(
        user_id=user_id,
        name=name,
        prefix=key[:PREFIX_LENGTH],
        key_hash=key_hash(key),
        created_at=now,
        expires_at=now + expires_in if expires_in is not None else None,
        source=source,
    )
    if source == TokenSource.PASSWORD:
        kept = ApiToken.objects.filter(user_id=user_id, source=TokenSource.PASSWORD)
        stale = kept.order_by("-created_at", "-id")[settings.API_TOKEN_PASSWORD_KEEP :]
        ApiToken.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
    # Never the key: its prefix is enough to find the token in the list.
    logger.info("API token %s (%s…) made for user %s", token.pk, token.prefix, user_id)
    return IssuedToken(token=token, key=key)


def api_token_revoke(*, user_id: int, token_id: int) -> None:
    """Deletes one of the user's tokens; anyone else's is as unknown as a missing one."""
    deleted, _ = ApiToken.objects.filter(user_id=user_id, pk=token_id).delete()
    if not deleted:
        raise ApiToken.DoesNotExist(f"there is no API token {token_id}")
    logger.info("API token %s of user %s revoked", token_id, user_id)


def api_token_mark_used(*, token: ApiToken, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


@transaction.atomic
def sign_in_failure_record(
    *, username: str, ip_address: str, now: datetime | None = None
) -> datetime | None:
    """Counts a failed sign-in; the time the username is locked out from that address until,
    once SIGN_IN_FAILURE_LIMIT failures fall within SIGN_IN_COOL_OFF_SECONDS."""
    now = now or timezone.now()
    cool_off = timedelta(seconds=settings.SIGN_IN_COOL_OFF_SECONDS)
    key = sign_in_key(username)
    # Rows whose window and lock have both passed say nothing any more.
    SignInFailures.objects.filter(first_failed_at__lt=now - cool_off).filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    ).exclude(username=key, ip_address=ip_address).delete()
    rows = SignInFailures.objects.select_for_update()
    row = rows.filter(username=key, ip_address=ip_address).first()
    if row is None:
        try:
            with transaction.atomic():
                row = SignInFailures.objects.create(
                    username=key, ip_address=ip_address, first_failed_at=now
                )
        except IntegrityError:  # a concurrent first failure made it
            row = rows.get(username=key, ip_address=ip_address)
    if row.locked_until is not None and row.locked_until > now:
        return row.locked_until
    if row.locked_until is not None or now - row.first_failed_at >= cool_off:
        row.failures, row.first_failed_at, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= settings.SIGN_IN_FAILURE_LIMIT:
        row.locked_until = now + cool_off
        logger.warning(
            "sign-ins as %r from %s refused until %s after %d failures",
            key,
            ip_address,
            row.locked_until.isoformat(),
            row.failures,
        )
    row.save()
    return row.locked_until


def sign_in_failures_clear(*, username: str, ip_address: str) -> None:
    """A successful sign-in forgives the failures before it."""
    SignInFailures.objects.filter(username=sign_in_key(username), ip_address=ip_address).delete()
