"""Routes under /api/v1/trading/."""

from __future__ import annotations

from django.urls import path

from execution.api import breakers, views

orders = views.OrderViewSet.as_view({"get": "list", "post": "create"})
active_orders = views.OrderViewSet.as_view({"get": "active"})
order = views.OrderViewSet.as_view(
    {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
)
parent_orders = views.ParentOrderViewSet.as_view({"get": "list", "post": "create"})
parent_order = views.ParentOrderViewSet.as_view({"get": "retrieve", "delete": "destroy"})

app_name = "trading-api"
urlpatterns = [
    path("orders/", orders, name="orders"),
    path("orders/active/", active_orders, name="orders-active"),
    path("orders/<str:pk>/", order, name="order"),
    path("parent-orders/", parent_orders, name="parent-orders"),
    path("parent-orders/<str:pk>/", parent_order, name="parent-order"),
    path("execution-quality/", views.ExecutionQualityView.as_view(), name="execution-quality"),
    path("positions/", views.PositionListView.as_view(), name="positions"),
    path("positions/sync/", views.PositionsSyncView.as_view(), name="positions-sync"),
    path("positions/<str:symbol>/", views.PositionBySymbolView.as_view(), name="position"),
    path("trades/", views.TradeListView.as_view(), name="trades"),
    path("performance/", views.PerformanceView.as_view(), name="performance"),
    path("statistics/", views.StatisticsView.as_view(), name="statistics"),
    path("accounts/", views.AccountListView.as_view(), name="accounts"),
    path("accounts/<str:pk>/kill-switch/", breakers.KillSwitchView.as_view(), name="kill-switch"),
    path("breakers/", breakers.BreakersView.as_view(), name="breakers"),
    path("breakers/events/", breakers.BreakerEventListView.as_view(), name="breaker-events"),
]
