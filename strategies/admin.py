"""Strategies in the admin: rows change only through the services (actions), so a strategy's
config is validated the same way wherever it is changed; signals and backtests are read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from execution.admin import ReadOnlyAdmin
from execution.domain.errors import DomainError
from strategies.models import Backtest, BacktestStatus, Signal, Strategy
from strategies.report import backtest_report, market_for, run_from_backtest
from strategies.services import (
    backtest_start,
    strategy_clone,
    strategy_pause,
    strategy_resume,
)


@admin.register(Strategy)
class StrategyAdmin(ReadOnlyAdmin):
    """Created and edited through the API (validated config); managed here by actions."""

    list_display = (
        "name", "kind", "owner", "account", "interval", "preset", "status", "visibility",
        "updated_at",
    )  # fmt: skip
    list_filter = ("status", "kind", "preset", "visibility", "interval")
    search_fields = ("name", "owner__username", "account__name")
    list_select_related = ("owner", "account")
    actions = (
        "activate",
        "pause",
        "run_backtest",
        "clone_conservative",
        "clone_aggressive",
        "clone_high_frequency",
    )

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("strategies.change_strategy"))

    @admin.action(
        description="Activate: signals go to the strategy's account", permissions=["manage"]
    )
    def activate(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._each(request, queryset, lambda s: strategy_resume(strategy_id=s.pk), "active")

    @admin.action(description="Pause from the next bar", permissions=["manage"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._each(request, queryset, lambda s: strategy_pause(strategy_id=s.pk), "paused")

    @admin.action(description="Run a backtest on its stored candles", permissions=["manage"])
    def run_backtest(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._each(
            request, queryset,
            lambda s: backtest_start(owner_id=s.owner_id, strategy_id=s.pk), "backtest queued",
        )  # fmt: skip

    @admin.action(description="Clone with the conservative preset", permissions=["manage"])
    def clone_conservative(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._clone(request, queryset, "conservative")

    @admin.action(description="Clone with the aggressive preset", permissions=["manage"])
    def clone_aggressive(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._clone(request, queryset, "aggressive")

    @admin.action(description="Clone with the high-frequency preset", permissions=["manage"])
    def clone_high_frequency(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._clone(request, queryset, "high_frequency")

    def _clone(self, request: HttpRequest, queryset: QuerySet[Strategy], preset: str) -> None:
        self._each(
            request, queryset,
            lambda s: strategy_clone(strategy_id=s.pk, preset=preset), f"cloned ({preset})",
        )  # fmt: skip

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Strategy], act: Any, done: str
    ) -> None:
        for strategy in queryset:
            try:
                act(strategy)
            except DomainError as error:
                self.message_user(request, f"{strategy.name}: {error}", messages.WARNING)
            else:
                self.message_user(request, f"{strategy.name}: {done}")


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdmin):
    list_display = (
        "at", "strategy", "instrument", "side", "target_position", "strength", "outcome",
    )  # fmt: skip
    list_filter = ("outcome", "side")
    search_fields = ("strategy__name", "instrument__symbol")
    list_select_related = ("strategy", "instrument")
    date_hierarchy = "at"


@admin.register(Backtest)
class BacktestAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "kind", "symbol", "interval", "owner", "status", "progress", "created_at",
        "report",
    )  # fmt: skip
    list_filter = ("status", "kind")
    search_fields = ("symbol", "owner__username", "strategy__name")
    list_select_related = ("owner",)
    exclude = ("equity_curve", "trades")  # long: in the API's result
    readonly_fields = ("report",)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.report_view)
        return [
            path("<int:pk>/report/", view, name="strategies_backtest_report"),
            *super().get_urls(),
        ]

    @admin.display(description="report")
    def report(self, backtest: Backtest) -> str:
        if backtest.status != BacktestStatus.SUCCEEDED:
            return "-"
        url = reverse("admin:strategies_backtest_report", args=[backtest.pk])
        return format_html('<a href="{}" target="_blank">report</a>', url)

    def report_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The Plotly report for staff who may view backtests (the API's is owner-only)."""
        backtest = get_object_or_404(Backtest, pk=pk)
        if not self.has_view_permission(request, backtest):
            raise PermissionDenied
        if backtest.status != BacktestStatus.SUCCEEDED:
            return HttpResponse(f"backtest {pk} is {backtest.status}: no report yet", status=409)
        run = run_from_backtest(backtest)
        return HttpResponse(backtest_report(run, market_for(run)).html(reverse("plotly-js")))
