"""API tokens (revocable, never shown) and sign-in lockouts (deleting one unlocks)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.models import ApiToken, SignInFailures


class _ViewOrDelete(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(_ViewOrDelete):
    """Keys are made by their owners (the API tokens page, the API, `manage.py
    api_token_create`); here staff see them and revoke them (delete)."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "expires_at")
    list_filter = ("created_at", "last_used_at")
    search_fields = ("name", "prefix", "user__username")
    exclude = ("key_hash",)


@admin.register(SignInFailures)
class SignInFailuresAdmin(_ViewOrDelete):
    """Delete a row to let that username sign in from that address again at once."""

    list_display = ("username", "ip_address", "failures", "first_failed_at", "locked_until")
    search_fields = ("username", "ip_address")
