"""`Authorization: Token <key>` against the hashed API tokens (accounts.models.ApiToken)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from accounts.models import ApiToken
from accounts.selectors import api_token_for_key
from accounts.services import api_token_mark_used


class ApiTokenAuthentication(TokenAuthentication):
    """DRF's header parsing (and its OpenAPI security scheme); the key is looked up by hash."""

    keyword = "Token"

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        token = api_token_for_key(key)
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        now = timezone.now()
        if token.expires_at is not None and token.expires_at <= now:
            raise AuthenticationFailed("Token expired: make a new one.")
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        api_token_mark_used(token=token, now=now)
        return token.user, token
