"""Site-wide pages: the home page and a health check."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from execution.selectors import (
    account_valuation,
    accounts_for_owner,
    orders_for_owner,
    positions_for_owner,
)


def home(request: HttpRequest) -> HttpResponse:
    context: dict[str, object] = {}
    if request.user.is_authenticated:
        owner_id = request.user.pk
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
