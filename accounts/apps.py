"""Accounts: API tokens (hashed), sign-in throttling, and the admin site with a second factor."""

from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    default = True
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import checks, receivers  # noqa: F401  (registers checks and receivers)


class StaffAdminConfig(admin_apps.AdminConfig):
    """Django's admin with our site: staff only, and a TOTP code when ADMIN_REQUIRE_OTP."""

    default = False

    default_site = "accounts.admin_site.StaffAdminSite"
