"""The strategies pages under /strategies/ (the API is strategies.api.urls)."""

from __future__ import annotations

from django.urls import path

from strategies import views

app_name = "strategies"
urlpatterns = [
    path("", views.strategy_list, name="list"),
    path("<int:strategy_id>/", views.strategy_detail, name="detail"),
    path("<int:strategy_id>/pause/", views.strategy_pause_view, name="pause"),
    path("<int:strategy_id>/resume/", views.strategy_resume_view, name="resume"),
    path("<int:strategy_id>/backtests/", views.backtest_create, name="backtest-create"),
    path("backtests/<int:backtest_id>/", views.backtest_detail, name="backtest"),
    path("backtests/<int:backtest_id>/status/", views.backtest_status, name="backtest-status"),
]
