"""Copy trading in the admin: subscriptions change only through the services (actions), so
every change is validated and recorded as the API's; copy trades and snapshots are read-only."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from copytrading.models import (
    CopySubscription,
    CopyTrade,
    FollowerAccountSnapshot,
    SubscriptionEquitySnapshot,
)
from copytrading.services.subscriptions import (
    subscription_pause,
    subscription_resume,
    subscription_stop,
)
from execution.admin import ReadOnlyAdmin
from execution.domain.errors import DomainError

ACTOR = "copytrading:admin"


@admin.register(CopySubscription)
class CopySubscriptionAdmin(ReadOnlyAdmin):
    """Created and changed through the API (validated terms); managed here by actions."""

    list_display = (
        "id", "follower", "account", "strategy", "mode", "allocation_percent", "status",
        "start_capital", "peak_equity", "created_at",
    )  # fmt: skip
    list_filter = ("status", "mode", "account_mode")
    search_fields = ("follower__username", "account__name", "strategy__name")
    list_select_related = ("follower", "account", "strategy")
    actions = ("pause", "resume", "stop_keep", "stop_close")

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("copytrading.change_copysubscription"))

    @admin.action(description="Pause: no new copies, positions stay", permissions=["manage"])
    def pause(self, request: HttpRequest, queryset: QuerySet[CopySubscription]) -> None:
        self._each(
            request, queryset,
            lambda s: subscription_pause(subscription_id=s.pk, follower_id=None), "paused",
        )  # fmt: skip

    @admin.action(description="Resume copying", permissions=["manage"])
    def resume(self, request: HttpRequest, queryset: QuerySet[CopySubscription]) -> None:
        self._each(
            request, queryset,
            lambda s: subscription_resume(subscription_id=s.pk, follower_id=None), "resumed",
        )  # fmt: skip

    @admin.action(description="Stop, keeping the copied positions", permissions=["manage"])
    def stop_keep(self, request: HttpRequest, queryset: QuerySet[CopySubscription]) -> None:
        self._stop(request, queryset, close=False)

    @admin.action(description="Stop, closing the copied positions", permissions=["manage"])
    def stop_close(self, request: HttpRequest, queryset: QuerySet[CopySubscription]) -> None:
        self._stop(request, queryset, close=True)

    def _stop(
        self, request: HttpRequest, queryset: QuerySet[CopySubscription], *, close: bool
    ) -> None:
        actor = f"{ACTOR}:{request.user.pk}"
        self._each(
            request, queryset,
            lambda s: subscription_stop(
                subscription_id=s.pk, follower_id=None, close=close,
                reason="stopped by an administrator", actor=actor,
            ),
            "stopped (closing)" if close else "stopped (kept)",
        )  # fmt: skip

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[CopySubscription],
        act: Callable[[CopySubscription], object],
        done: str,
    ) -> None:
        for subscription in queryset:
            try:
                act(subscription)
            except DomainError as error:
                self.message_user(request, f"{subscription}: {error}", messages.WARNING)
            else:
                self.message_user(request, f"subscription {subscription.pk}: {done}")


@admin.register(CopyTrade)
class CopyTradeAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "subscription", "kind", "instrument", "side", "leader_price",
        "intended_quantity", "quantity", "actual_quantity", "skipped_reason", "created_at",
    )  # fmt: skip
    list_filter = ("kind",)
    search_fields = ("subscription__follower__username", "instrument__symbol", "skipped_reason")
    list_select_related = ("instrument",)
    date_hierarchy = "created_at"


@admin.register(SubscriptionEquitySnapshot)
class SubscriptionEquitySnapshotAdmin(ReadOnlyAdmin):
    list_display = ("day", "subscription", "equity", "taken_at")
    date_hierarchy = "day"


@admin.register(FollowerAccountSnapshot)
class FollowerAccountSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("day", "account", "equity", "deposited", "taken_at")
    date_hierarchy = "day"
