"""The copy trading page: summary, settings, the strategies followed, the 30-day P&L chart, the
leaderboard and the drift ledgers. Thin: selectors and statistics read, the services write,
Django forms check the input. Every change is a POST (CSRF) answered by a redirect; a refused
one shows the page again with the errors next to their fields and nothing saved. Another
user's subscription ids answer 404 before anything is read or written."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from copytrading.domain.terms import InvalidCopyTerms
from copytrading.drift import subscription_drift
from copytrading.forms import (
    AllocationForm,
    FollowForm,
    SettingsForm,
    StopForm,
    add_service_errors,
    risk_level_of,
)
from copytrading.models import LIVE_STATUSES, CopySubscription
from copytrading.selectors import followable_strategies, subscriptions_for_follower
from copytrading.services.amendments import subscription_terms_update
from copytrading.services.subscriptions import (
    SubscriptionNotFound,
    subscription_create,
    subscription_pause,
    subscription_resume,
    subscription_stop,
)
from copytrading.statistics import (
    WindowStatistics,
    follower_pnl_series,
    follower_summary,
    leader_statistics,
    public_strategies,
)
from execution.domain.values import plain
from execution.pages import page_owner_id
from execution.selectors import account_valuation, accounts_for_owner

LEADERBOARD_SIZE = 20


def _own(request: HttpRequest, subscription_id: int) -> CopySubscription:
    found = subscriptions_for_follower(page_owner_id(request)).filter(pk=subscription_id).first()
    if found is None:
        raise Http404("no such subscription of yours")
    return found


def _follow_form(request: HttpRequest, data: Any = None) -> FollowForm:
    initial = {}
    wanted = request.GET.get("follow", "")
    if wanted.isdigit():
        initial["strategy"] = int(wanted)
    return FollowForm(
        data,
        strategies=followable_strategies(page_owner_id(request)),
        accounts=accounts_for_owner(page_owner_id(request)).order_by("pk"),
        initial=initial,
        prefix="follow",
    )


def _settings_form(subscription: CopySubscription, data: Any = None) -> SettingsForm:
    return SettingsForm(
        data,
        initial={
            "allocation_percent": plain(subscription.allocation_percent),
            "capital_cap": subscription.capital_cap,
            "risk_level": risk_level_of(subscription),
        },
        prefix="settings",
    )


def _allocation_form(subscription: CopySubscription, data: Any = None) -> AllocationForm:
    return AllocationForm(
        data,
        initial={"allocation_percent": plain(subscription.allocation_percent)},
        prefix=f"sub{subscription.pk}",
    )


def _page(
    request: HttpRequest,
    *,
    follow_form: FollowForm | None = None,
    settings_for: CopySubscription | None = None,
    settings_form: SettingsForm | None = None,
    allocation_forms: dict[int, AllocationForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The whole page; a refused POST passes its bound form to show with its errors."""
    follower_id = page_owner_id(request)
    summary = follower_summary(follower_id)
    subscriptions = [f.subscription for f in summary.subscriptions]
    live = [s for s in subscriptions if s.status in LIVE_STATUSES]
    if settings_for is None:
        chosen = request.GET.get("settings", "")
        settings_for = next((s for s in live if str(s.pk) == chosen), live[0] if live else None)
    if settings_for is not None and settings_form is None:
        settings_form = _settings_form(settings_for)
    bound = allocation_forms or {}
    now = timezone.now()
    rows = [
        {
            "figures": figures,
            "allocation_form": bound.get(figures.subscription.pk)
            or _allocation_form(figures.subscription),
            "stop_form": StopForm(prefix=f"stop{figures.subscription.pk}"),
        }
        for figures in summary.subscriptions
    ]
    drifts = [
        (s, subscription_drift(s, start=s.created_at, end=s.stopped_at or now))
        for s in subscriptions
    ]
    series = follower_pnl_series(follower_id)
    chart = {
        "days": [p.day.isoformat() for p in series],
        "pnl": [float(p.pnl) for p in series],
        "cumulative": _cumulative([p.pnl for p in series]),
    }
    followed = {s.strategy_id for s in live}
    context = {
        "summary": summary,
        "rows": rows,
        "allocated": _allocated(live),
        "settings_for": settings_for,
        "settings_choices": live,
        "settings_form": settings_form,
        "follow_form": follow_form or _follow_form(request),
        "return_percent": None if summary.return_ is None else summary.return_ * 100,
        "leaders": [
            (leader, [_window_row(w) for w in leader.windows])
            for leader in leader_statistics(list(public_strategies()[:LEADERBOARD_SIZE]))
        ],
        "followed": followed,
        "drifts": drifts,
        "chart": chart,
        "has_series": bool(series),
    }
    return render(request, "copytrading/home.html", context, status=status)


def _allocated(live: list[CopySubscription]) -> list[tuple[str, Decimal]]:
    """Each copying account's name and the percent of its equity its subscriptions use (each
    account has its own 100%)."""
    totals: dict[int, tuple[str, Decimal]] = {}
    for s in live:
        name, used = totals.get(s.account_id, (s.account.name, Decimal(0)))
        totals[s.account_id] = (name, used + s.allocation_percent)
    return [(name, plain(used)) for name, used in totals.values()]


def _window_row(window: WindowStatistics) -> dict[str, Any]:
    """A window's figures with its fractions as percentages, as the leaderboard shows them."""
    return {
        "roi": window.roi,
        "roi_percent": None if window.roi is None else window.roi * 100,
        "pnl": window.pnl,
        "trades": window.trades,
        "max_drawdown_percent": None if window.max_drawdown is None else window.max_drawdown * 100,
        "win_rate_percent": window.win_rate * 100,
        "sharpe": window.sharpe,
    }


def _cumulative(values: list[Decimal]) -> list[float]:
    total, out = Decimal(0), []
    for value in values:
        total += value
        out.append(float(total))
    return out


def _home() -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("copytrading:home"))


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
def follow(request: HttpRequest) -> HttpResponse:
    form = _follow_form(request, request.POST)
    if form.is_valid():
        account = form.cleaned_data["account"]
        strategy = form.cleaned_data["strategy"]
        try:
            subscription_create(
                follower_id=page_owner_id(request),
                account_id=account.pk,
                strategy_id=strategy.pk,
                account_mode=account.mode,
                terms=form.terms(equity=account_valuation(account).equity),
            )
        except InvalidCopyTerms as error:
            add_service_errors(form, error.errors)
        else:
            messages.success(request, f"You now copy {strategy.name} with {account.name}.")
            return _home()
    return _page(request, follow_form=form, status=400)


@login_required
@require_POST
def subscription_settings(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _own(request, subscription_id)
    form = _settings_form(subscription, request.POST)
    if form.is_valid():
        try:
            subscription_terms_update(
                subscription_id=subscription.pk,
                follower_id=page_owner_id(request),
                changes=form.terms(equity=account_valuation(subscription.account).equity),
            )
        except SubscriptionNotFound:
            raise Http404("no such subscription of yours") from None
        except InvalidCopyTerms as error:
            add_service_errors(form, error.errors)
        else:
            messages.success(request, f"Settings of {subscription.strategy.name} saved.")
            return HttpResponseRedirect(f"{reverse('copytrading:home')}?settings={subscription.pk}")
    return _page(request, settings_for=subscription, settings_form=form, status=400)


@login_required
@require_POST
def allocation(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _own(request, subscription_id)
    form = _allocation_form(subscription, request.POST)
    if form.is_valid():
        try:
            subscription_terms_update(
                subscription_id=subscription.pk,
                follower_id=page_owner_id(request),
                changes={"allocation_percent": form.cleaned_data["allocation_percent"]},
            )
        except SubscriptionNotFound:
            raise Http404("no such subscription of yours") from None
        except InvalidCopyTerms as error:
            add_service_errors(form, error.errors)
        else:
            percent = plain(form.cleaned_data["allocation_percent"])
            messages.success(
                request, f"Allocation of {subscription.strategy.name} saved: {percent}%."
            )
            return _home()
    return _page(request, allocation_forms={subscription.pk: form}, status=400)


def _status_change(request: HttpRequest, subscription_id: int, action: str) -> HttpResponse:
    subscription = _own(request, subscription_id)
    name = subscription.strategy.name
    try:
        if action == "pause":
            subscription_pause(subscription_id=subscription.pk, follower_id=page_owner_id(request))
            messages.success(request, f"{name}: paused. Nothing new is copied until you resume.")
        elif action == "resume":
            subscription_resume(subscription_id=subscription.pk, follower_id=page_owner_id(request))
            messages.success(request, f"{name}: copying again from the next trade.")
        else:
            form = StopForm(request.POST, prefix=f"stop{subscription.pk}")
            close = form.is_valid() and form.cleaned_data["close"]
            subscription_stop(
                subscription_id=subscription.pk, follower_id=page_owner_id(request), close=close
            )
            kept = "its positions closed" if close else "its positions kept"
            messages.success(request, f"{name}: stopped, {kept}.")
    except SubscriptionNotFound:
        raise Http404("no such subscription of yours") from None
    except InvalidCopyTerms as error:
        for field_messages in error.errors.values():
            for message in field_messages:
                messages.error(request, f"{name}: {message}.")
    return _home()


@login_required
@require_POST
def pause(request: HttpRequest, subscription_id: int) -> HttpResponse:
    return _status_change(request, subscription_id, "pause")


@login_required
@require_POST
def resume(request: HttpRequest, subscription_id: int) -> HttpResponse:
    return _status_change(request, subscription_id, "resume")


@login_required
@require_POST
def stop(request: HttpRequest, subscription_id: int) -> HttpResponse:
    return _status_change(request, subscription_id, "stop")
