"""Dashboard pages of strategies (thin: selectors read, services write). Everything is the
signed-in user's own: another user's strategy or backtest answers 404."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from execution.domain.errors import DomainError
from execution.models import Instrument
from execution.pages import page_owner_id
from strategies import selectors
from strategies.forms import BacktestForm
from strategies.kinds import InvalidStrategyConfig
from strategies.models import Backtest, BacktestStatus, Strategy
from strategies.report import backtest_report, market_for, run_from_backtest
from strategies.services import backtest_start, strategy_pause, strategy_resume

RECENT_SIGNALS = 25
RECENT_BACKTESTS = 20
FINISHED = (BacktestStatus.SUCCEEDED, BacktestStatus.FAILED)


def _strategy(request: HttpRequest, strategy_id: int) -> Strategy:
    strategy = selectors.strategy_for_owner(page_owner_id(request), strategy_id)
    if strategy is None:
        raise Http404("there is no such strategy")
    return strategy


def _backtest(request: HttpRequest, backtest_id: int) -> Backtest:
    backtest = selectors.backtest_for_owner(page_owner_id(request), backtest_id)
    if backtest is None:
        raise Http404("there is no such backtest")
    return backtest


def _symbols(strategy: Strategy) -> list[str]:
    return sorted(instrument.symbol for instrument in strategy.instruments.all())


@login_required
@require_GET
def strategy_list(request: HttpRequest) -> HttpResponse:
    summaries = selectors.strategy_summaries(page_owner_id(request))
    return render(request, "strategies/list.html", {"summaries": summaries})


def _detail(
    request: HttpRequest, strategy: Strategy, form: BacktestForm, status: int
) -> HttpResponse:
    owner_id = page_owner_id(request)
    context = {
        "strategy": strategy,
        "symbols": _symbols(strategy),
        "signals": selectors.signals_for_owner(owner_id).filter(strategy=strategy)[:RECENT_SIGNALS],
        "backtests": selectors.backtests_of_strategy(owner_id, strategy.pk)[:RECENT_BACKTESTS],
        "form": form,
    }
    return render(request, "strategies/detail.html", context, status=status)


@login_required
@require_GET
def strategy_detail(request: HttpRequest, strategy_id: int) -> HttpResponse:
    strategy = _strategy(request, strategy_id)
    return _detail(request, strategy, BacktestForm(symbols=_symbols(strategy)), 200)


def _transition(request: HttpRequest, strategy_id: int, *, pause: bool) -> HttpResponse:
    strategy = _strategy(request, strategy_id)
    change = strategy_pause if pause else strategy_resume
    try:
        changed = change(strategy_id=strategy.pk, owner_id=page_owner_id(request))
    except DomainError as error:  # a stopped strategy stays stopped
        messages.error(request, str(error))
    else:
        messages.success(request, f"{changed.name} is {changed.status}.")
    return redirect("strategies:detail", strategy_id=strategy.pk)


@login_required
@require_POST
def strategy_pause_view(request: HttpRequest, strategy_id: int) -> HttpResponse:
    return _transition(request, strategy_id, pause=True)


@login_required
@require_POST
def strategy_resume_view(request: HttpRequest, strategy_id: int) -> HttpResponse:
    return _transition(request, strategy_id, pause=False)


@login_required
@require_POST
def backtest_create(request: HttpRequest, strategy_id: int) -> HttpResponse:
    """Start a backtest of the strategy; a refusal shows the form again with each message at
    its field and saves nothing. Without a worker the task runs before this returns."""
    strategy = _strategy(request, strategy_id)
    form = BacktestForm(request.POST, symbols=_symbols(strategy))
    if not form.is_valid():
        return _detail(request, strategy, form, 400)
    try:
        backtest = backtest_start(
            owner_id=page_owner_id(request),
            strategy_id=strategy.pk,
            symbol=form.cleaned_data["symbol"],
            start=form.cleaned_data["start"],
            end=form.cleaned_data["end"],
            costs=form.costs(),
        )
    except InvalidStrategyConfig as error:
        form.add_refusals(error.errors)
        return _detail(request, strategy, form, 400)
    return redirect("strategies:backtest", backtest_id=backtest.pk)


def _status_body(backtest: Backtest) -> dict[str, Any]:
    return {
        "id": backtest.pk,
        "status": backtest.status,
        "progress": backtest.progress,
        "message": backtest.message,
        "error": backtest.error,
        "finished": backtest.status in FINISHED,
        "report_url": reverse("strategies:backtest", kwargs={"backtest_id": backtest.pk}),
    }


@login_required
@require_GET
def backtest_status(request: HttpRequest, backtest_id: int) -> JsonResponse:
    """What the progress bar polls: the status and fraction done, read from the row (a worker
    elsewhere writes them as it goes)."""
    return JsonResponse(_status_body(_backtest(request, backtest_id)))


@login_required
@require_GET
def backtest_detail(request: HttpRequest, backtest_id: int) -> HttpResponse:
    """A backtest: its progress while it runs; then its report (the chart and every metric)
    inline, or why it failed."""
    backtest = _backtest(request, backtest_id)
    context: dict[str, Any] = {"backtest": backtest, "status": _status_body(backtest)}
    if backtest.status == BacktestStatus.SUCCEEDED:
        try:
            run = run_from_backtest(backtest)
            report = backtest_report(run, market_for(run))
        except (ValueError, Instrument.DoesNotExist) as error:  # its result or bars are gone
            context["report_problem"] = str(error) or type(error).__name__
            return render(request, "strategies/backtest.html", context)
        context.update(
            title=report.title,
            figure=json.loads(report.figure.to_json()),
            columns=report.columns,
            rows=report.rows,
            notes=report.notes,
        )
    return render(request, "strategies/backtest.html", context)
