"""Dashboard pages of execution (the API is execution.api.urls)."""

from django.urls import path

from execution import views

app_name = "execution"

urlpatterns = [
    path("", views.monitor, name="monitor"),
    path("state/", views.monitor_state, name="monitor-state"),
]
