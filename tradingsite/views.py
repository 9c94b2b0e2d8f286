"""Site-wide pages: the overview (home), its JSON state, the kill switch and a health check."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from execution.domain.errors import DomainError
from execution.models import Fill, Order, Position
from execution.pages import page_owner_id
from execution.selectors import (
    AccountDashboard,
    account_dashboards_for_owner,
    accounts_for_owner,
    open_positions_for_owner,
    recent_fills_for_owner,
    recent_orders_for_owner,
)
from execution.services.breakers import account_kill_switch_set
from tradingsite.forms import KillSwitchForm


def _text(value: Decimal | None) -> str | None:
    """A decimal as plain text without trailing zeros ("0.5", not "0.500000000000000000")."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _account_state(board: AccountDashboard) -> dict[str, Any]:
    value = board.valuation
    switch = board.kill_switch
    return {
        "id": board.account.pk,
        "name": board.account.name,
        "mode": board.account.mode,
        "currency": value.currency,
        "equity": _text(value.equity),
        "cash": _text(value.cash),
        "unrealized_pnl": _text(value.unrealized_pnl),
        "realized_pnl": _text(value.realized_pnl),
        "available": _text(value.available),
        "day_baseline": _text(board.day_baseline),
        "today_pnl": _text(board.today_pnl),
        "pnl_30d": _text(board.pnl_30d),
        "daily_pnl": [{"day": p.day.isoformat(), "pnl": _text(p.pnl)} for p in board.daily_pnl],
        "kill_switch": {
            "on": switch.on,
            "automatic": switch.automatic,
            "reason": switch.reason,
            "since": switch.since.isoformat() if switch.since else None,
        },
    }


def _position_state(p: Position) -> dict[str, Any]:
    return {
        "id": p.pk,
        "account_id": p.account_id,
        "account": p.account.name,
        "symbol": p.instrument.symbol,
        "quantity": _text(p.quantity),
        "average_entry_price": _text(p.average_entry_price),
        "cost_basis": _text(p.cost_basis),
        "mark_price": _text(p.mark_price),
        "unrealized_pnl": _text(p.unrealized_pnl),
        "realized_pnl": _text(p.realized_pnl),
    }


def _order_state(o: Order) -> dict[str, Any]:
    return {
        "id": str(o.pk),
        "created_at": o.created_at.isoformat(),
        "account": o.account.name,
        "symbol": o.instrument.symbol,
        "side": o.side,
        "type": o.get_order_type_display(),
        "quantity": _text(o.quantity),
        "filled_quantity": _text(o.filled_quantity),
        "average_fill_price": _text(o.average_fill_price),
        "status": o.get_status_display(),
    }


def _fill_state(f: Fill) -> dict[str, Any]:
    return {
        "id": f.pk,
        "filled_at": f.filled_at.isoformat(),
        "account": f.order.account.name,
        "symbol": f.order.instrument.symbol,
        "side": f.order.side,
        "quantity": _text(f.quantity),
        "price": _text(f.price),
        "fee": _text(f.fee),
        "fee_currency": f.fee_currency,
    }


def overview_state(owner_id: int) -> dict[str, Any]:
    """Everything the overview shows, as JSON-ready values (money as decimal strings)."""
    return {
        "accounts": [_account_state(b) for b in account_dashboards_for_owner(owner_id)],
        "positions": [_position_state(p) for p in open_positions_for_owner(owner_id)],
        "orders": [_order_state(o) for o in recent_orders_for_owner(owner_id)],
        "fills": [_fill_state(f) for f in recent_fills_for_owner(owner_id)],
    }


def _render_overview(
    request: HttpRequest, *, bound: tuple[int, KillSwitchForm] | None = None, status: int = 200
) -> HttpResponse:
    owner_id = page_owner_id(request)
    boards = account_dashboards_for_owner(owner_id)
    accounts = []
    for board in boards:
        if bound is not None and bound[0] == board.account.pk:
            form = bound[1]
        else:
            action = "off" if board.kill_switch.on else "on"
            form = KillSwitchForm(initial={"action": action}, prefix=f"ks{board.account.pk}")
        accounts.append((board, form))
    state = overview_state(owner_id)
    context = {
        "accounts": accounts,
        "positions": state["positions"],
        "orders": state["orders"],
        "fills": state["fills"],
        "state": state,
    }
    return render(request, "home.html", context, status=status)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return _render_overview(request)


@login_required
@require_GET
def overview_state_json(request: HttpRequest) -> JsonResponse:
    """The overview's state: what live.js re-reads after a reconnect or a push."""
    response = JsonResponse(overview_state(page_owner_id(request)))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def kill_switch(request: HttpRequest, account_id: int) -> HttpResponse:
    owner_id = page_owner_id(request)
    account = accounts_for_owner(owner_id).filter(pk=account_id).first()
    if account is None:
        raise Http404("no such account")
    form = KillSwitchForm(request.POST, prefix=f"ks{account.pk}")
    if form.is_valid():
        try:
            account_kill_switch_set(
                account_id=account.pk,
                on=form.turn_on,
                reason=form.cleaned_data["reason"],
                actor=f"user:{request.user.get_username()}",
            )
        except DomainError as error:
            form.add_error(None, str(error))
        else:
            state = "on: no new orders" if form.turn_on else "off: trading resumes"
            messages.success(request, f"Kill switch of {account.name} turned {state}.")
            return redirect("home")
    return _render_overview(request, bound=(account.pk, form), status=400)


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
