"""Sign-in throttling for every password sign-in that has a request: the sign-in page, the
admin's and POST /api/v1/auth/token/. Commands and tests that call authenticate() without a
request are not counted (they come from no address)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.keys import client_ip
from accounts.selectors import sign_in_wait_seconds
from accounts.services import sign_in_failures_clear

# Set on a refused request: how many seconds it must wait (forms and views read it).
WAIT_ATTRIBUTE = "sign_in_wait_seconds"


def sign_in_wait(request: Any) -> int | None:
    """Seconds the request's sign-in was told to wait, if it was refused for too many failures."""
    wait = getattr(request, WAIT_ATTRIBUTE, None)
    return wait if isinstance(wait, int) else None


class ThrottledModelBackend(ModelBackend):
    """Django's username and password check, refused outright while the username is locked out
    from the caller's address (the password is not even looked at), cleared on success."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        name = username if username is not None else kwargs.get(get_user_model().USERNAME_FIELD)
        if request is None or not name:
            return super().authenticate(request, username, password, **kwargs)
        address = client_ip(request.META)
        wait = sign_in_wait_seconds(username=str(name), ip_address=address)
        if wait is not None:
            setattr(request, WAIT_ATTRIBUTE, wait)
            raise PermissionDenied(f"too many failed sign-ins: wait {wait} s")
        user = super().authenticate(request, username, password, **kwargs)
        if user is not None:
            sign_in_failures_clear(username=str(name), ip_address=address)
        return user
