"""Routes under /api/v1/copytrading/."""

from __future__ import annotations

from django.urls import path

from copytrading.api import views

subscriptions = views.SubscriptionViewSet.as_view({"get": "list", "post": "create"})
subscription = views.SubscriptionViewSet.as_view(
    {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
)

app_name = "copytrading-api"
urlpatterns = [
    path("subscriptions/", subscriptions, name="subscriptions"),
    path("subscriptions/<str:pk>/", subscription, name="subscription"),
    *(
        path(
            f"subscriptions/<str:pk>/{verb}/",
            views.SubscriptionViewSet.as_view({"post": verb}),
            name=f"subscription-{verb}",
        )
        for verb in ("pause", "resume", "stop")
    ),
    *(
        path(
            f"subscriptions/<str:pk>/{read}/",
            views.SubscriptionViewSet.as_view({"get": read}),
            name=f"subscription-{read}",
        )
        for read in ("drift", "pnl")
    ),
    path("copy-trades/", views.CopyTradeViewSet.as_view({"get": "list"}), name="copy-trades"),
    path("summary/", views.SummaryView.as_view(), name="summary"),
    path("pnl/", views.PnlSeriesView.as_view(), name="pnl"),
    path("leaderboard/", views.LeaderboardViewSet.as_view({"get": "list"}), name="leaderboard"),
]
