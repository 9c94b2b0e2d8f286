"""What every app's dashboard pages share (the apps above execution import it from here)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


def page_owner_id(request: HttpRequest) -> int:
    """The signed-in user's id; the pages calling this are behind login_required, so an
    anonymous visitor here is refused rather than served anyone's data."""
    owner_id = request.user.pk
    if not request.user.is_authenticated or owner_id is None:
        raise PermissionDenied
    return int(owner_id)
