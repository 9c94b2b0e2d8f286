"""Site-wide pages: the home page and a health check."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from execution.selectors import (
    account_valuation,
    accounts_for_owner,
    orders_for_owner,
    positions_for_owner,
)


def _owner_id(request: HttpRequest) -> int:
    """The signed-in user's id (the views calling this are behind login_required)."""
    if not request.user.is_authenticated:
        raise PermissionDenied
    return request.user.pk


@login_required
def home(request: HttpRequest) -> HttpResponse:
    owner_id = _owner_id(request)
    context = {
        "accounts": [(a, account_valuation(a)) for a in accounts_for_owner(owner_id)],
        "positions": positions_for_owner(owner_id).exclude(quantity=0),
        "orders": orders_for_owner(owner_id)[:20],
    }
    return render(request, "home.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
