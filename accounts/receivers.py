"""Failed sign-ins are counted here: Django signals user_login_failed once every backend
has said no (or one refused outright, which is not counted again)."""

from __future__ import annotations

import math
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.utils import timezone

from accounts.backends import WAIT_ATTRIBUTE, sign_in_wait
from accounts.keys import client_ip
from accounts.services import sign_in_failure_record


@receiver(user_login_failed, dispatch_uid="accounts.sign_in_failed")
def sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    username = credentials.get("username", credentials.get(get_user_model().USERNAME_FIELD))
    if request is None or not username or sign_in_wait(request) is not None:
        return
    now = timezone.now()
    locked_until = sign_in_failure_record(
        username=str(username), ip_address=client_ip(request.META), now=now
    )
    if locked_until is not None:  # this failure was the last one allowed: say so at once
        setattr(request, WAIT_ATTRIBUTE, max(1, math.ceil((locked_until - now).total_seconds())))
