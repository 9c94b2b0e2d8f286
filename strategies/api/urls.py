"""Routes under /api/v1/strategies/."""

from __future__ import annotations

from django.urls import path

from strategies.api import views
from strategies.api.kinds import KindCatalogueView

strategies = views.StrategyViewSet.as_view({"get": "list", "post": "create"})
strategy = views.StrategyViewSet.as_view(
    {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
)
backtests = views.BacktestViewSet.as_view({"get": "list", "post": "create"})
backtest = views.BacktestViewSet.as_view({"get": "retrieve"})
backtest_result = views.BacktestViewSet.as_view({"get": "result"})
# Routes spelt out by hand get none of an action's options: its renderers are given here.
backtest_report = views.BacktestViewSet.as_view(
    {"get": "report"}, renderer_classes=views.REPORT_RENDERERS
)
comparisons = views.ComparisonViewSet.as_view({"get": "list", "post": "create"})
comparison = views.ComparisonViewSet.as_view({"get": "retrieve"})
comparison_report = views.ComparisonViewSet.as_view(
    {"get": "report"}, renderer_classes=views.REPORT_RENDERERS
)

app_name = "strategies-api"
urlpatterns = [
    path("", strategies, name="strategies"),
    path("kinds/", KindCatalogueView.as_view(), name="kinds"),
    path("signals/", views.SignalViewSet.as_view({"get": "list"}), name="signals"),
    path("backtests/", backtests, name="backtests"),
    path("backtests/<str:pk>/", backtest, name="backtest"),
    path("backtests/<str:pk>/result/", backtest_result, name="backtest-result"),
    path("backtests/<str:pk>/report/", backtest_report, name="backtest-report"),
    path("comparisons/", comparisons, name="comparisons"),
    path("comparisons/<str:pk>/", comparison, name="comparison"),
    path("comparisons/<str:pk>/report/", comparison_report, name="comparison-report"),
    path("<str:pk>/", strategy, name="strategy"),
    *(
        path(f"<str:pk>/{verb}/", views.StrategyViewSet.as_view({"post": verb}), name=verb)
        for verb in ("pause", "resume", "stop")
    ),
]
