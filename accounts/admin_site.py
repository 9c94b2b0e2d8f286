"""The admin site: staff only, and with ADMIN_REQUIRE_OTP (the default; production must keep
it) a staff member also proves a TOTP code from a device enrolled with `manage.py totp_enrol`
or in the admin's TOTP devices."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin import AdminSite
from django.http import HttpRequest
from django_otp.admin import OTPAdminSite

from accounts.forms import StaffAdminOtpSignInForm, StaffAdminSignInForm


class StaffAdminSite(OTPAdminSite):
    site_header = "Trading platform administration"
    site_title = "Trading platform admin"

    def __init__(self, name: str = "admin") -> None:
        AdminSite.__init__(self, name)

    @property
    def login_form(self) -> Any:
        return StaffAdminOtpSignInForm if settings.ADMIN_REQUIRE_OTP else StaffAdminSignInForm

    @property
    def login_template(self) -> str | None:
        return "admin/otp_login.html" if settings.ADMIN_REQUIRE_OTP else None

    def has_permission(self, request: HttpRequest) -> bool:
        if settings.ADMIN_REQUIRE_OTP:
            return bool(super().has_permission(request))
        return AdminSite.has_permission(self, request)
