"""Dashboard pages of execution: the execution monitor. Thin: the selectors read, the
templates show. The monitor's state fragment is re-read every few seconds, after each order or
fill push and after a reconnect (static/js/execution.js): nothing lives only in a push."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from execution.pages import page_owner_id
from execution.selectors import (
    MONITOR_BASE_QUANTITY,
    MONITOR_SIGNAL_STRENGTH,
    account_breakers_for_owner,
    instrument_monitors,
    recent_parent_orders_for_owner,
)

POLL_SECONDS = 3


def _state(request: HttpRequest) -> dict[str, object]:
    owner_id = page_owner_id(request)
    now = timezone.now()
    return {
        "now": now,
        "instruments": instrument_monitors(now=now),
        "account_breakers": account_breakers_for_owner(owner_id, now=now),
        "parents": recent_parent_orders_for_owner(owner_id),
        "signal_strength": MONITOR_SIGNAL_STRENGTH,
        "base_quantity": MONITOR_BASE_QUANTITY,
    }


@login_required
@require_GET
def monitor(request: HttpRequest) -> HttpResponse:
    context = {**_state(request), "poll_seconds": POLL_SECONDS}
    return render(request, "execution/monitor.html", context)


@login_required
@require_GET
def monitor_state(request: HttpRequest) -> HttpResponse:
    """The monitor's live part alone, as the page polls it."""
    return render(request, "execution/_monitor_state.html", _state(request))
