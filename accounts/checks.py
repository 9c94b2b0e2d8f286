"""`manage.py check --deploy`: the admin must ask staff for a second factor in production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register


@register(Tags.security, deploy=True)
def admin_requires_otp(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if settings.ADMIN_REQUIRE_OTP:
        return []
    return [
        Error(
            "ADMIN_REQUIRE_OTP is off: staff sign into the admin with a password alone.",
            hint="Leave ADMIN_REQUIRE_OTP unset (it defaults to on) and enrol each staff "
            "member's authenticator with `manage.py totp_enrol <username>`.",
            id="accounts.E001",
        )
    ]
