"""Sign-in forms: Django's, with a clear message when sign-ins are throttled."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm

from accounts.backends import sign_in_wait

TOKEN_LIFETIMES = [
    ("30", "30 days"),
    ("7", "7 days"),
    ("90", "90 days"),
    ("365", "1 year"),
    ("", "Never"),
]


def throttled_message(wait_seconds: int) -> str:
    when = (
        f"{wait_seconds} seconds"
        if wait_seconds < 60
        else f"{math.ceil(wait_seconds / 60)} minute{'s' if wait_seconds > 60 else ''}"
    )
    return f"Too many failed sign-ins for this username from your address. Try again in {when}."


class ThrottledSignInMixin:
    """AuthenticationForm's error for a refused sign-in says when to try again, instead of
    blaming the password (which was not even checked)."""

    request: Any

    def get_invalid_login_error(self) -> ValidationError:
        wait = sign_in_wait(self.request)
        if wait is not None:
            return ValidationError(throttled_message(wait), code="throttled")
        return super().get_invalid_login_error()  # type: ignore[misc,no-any-return]


class SignInForm(ThrottledSignInMixin, AuthenticationForm):
    pass


class StaffAdminSignInForm(ThrottledSignInMixin, AdminAuthenticationForm):
    """The admin's sign-in when ADMIN_REQUIRE_OTP is off (development)."""


class StaffAdminOtpSignInForm(ThrottledSignInMixin, OTPAdminAuthenticationForm):
    """The admin's sign-in: password, then the current code of the staff member's TOTP app."""

    def _chosen_device(self, user: Any) -> Any:
        """The device picked, or the staff member's only confirmed device: most have one
        phone, and should not have to choose it."""
        chosen = super()._chosen_device(user)
        if chosen is None and not self.cleaned_data.get("otp_device"):
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                return devices[0]
        return chosen

    otp_token = forms.CharField(
        required=False,
        label="Authenticator code",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 8}
        ),
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        strip=True,
        help_text="What uses it, e.g. “research notebook”.",
        error_messages={"required": "Name the token, so you can tell it apart later."},
    )
    expires_in_days = forms.TypedChoiceField(
        choices=TOKEN_LIFETIMES,
        coerce=int,
        empty_value=None,
        required=False,
        initial="30",  # expiring by default: a forgotten token stops working by itself
        label="Expires after",
    )
