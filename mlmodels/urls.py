"""The models pages under /models/ (the API is mlmodels.api.urls)."""

from __future__ import annotations

from django.urls import path

from mlmodels import views

app_name = "mlmodels"
urlpatterns = [
    path("", views.models, name="models"),
    path("<int:version_id>/", views.version_detail, name="version"),
    path("training/<str:run_id>/status/", views.training_run_status, name="training-status"),
]
