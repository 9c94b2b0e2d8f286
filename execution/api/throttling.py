"""Request rates per user and per anonymous client (settings API_THROTTLE_USER and _ANON)."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class _CurrentRate:
    scope: str | None

    def get_rate(self) -> str | None:
        # DRF reads the rates once at import; this reads them per request, so a changed
        # setting (override_settings in tests, a reload) takes effect.
        rates: dict[str, str | None] = api_settings.DEFAULT_THROTTLE_RATES  # type: ignore[assignment]
        return rates[self.scope or ""]


class UserThrottle(_CurrentRate, UserRateThrottle):
    pass


class AnonThrottle(_CurrentRate, AnonRateThrottle):
    pass
