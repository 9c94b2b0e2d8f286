"""Routes under /api/v1/ml/."""

from __future__ import annotations

from django.urls import path

from mlmodels.api import views

models = views.ModelVersionViewSet.as_view({"get": "list"})
model = views.ModelVersionViewSet.as_view({"get": "retrieve"})
model_activate = views.ModelVersionViewSet.as_view({"post": "activate"})
model_retire = views.ModelVersionViewSet.as_view({"post": "retire"})
model_drift = views.ModelVersionViewSet.as_view({"get": "drift"})
training_runs = views.TrainingRunViewSet.as_view({"get": "list", "post": "create"})
training_run = views.TrainingRunViewSet.as_view({"get": "retrieve"})

app_name = "ml-api"
urlpatterns = [
    path("models/", models, name="models"),
    path("models/<str:pk>/", model, name="model"),
    path("models/<str:pk>/activate/", model_activate, name="model-activate"),
    path("models/<str:pk>/retire/", model_retire, name="model-retire"),
    path("models/<str:pk>/drift/", model_drift, name="model-drift"),
    path("training-runs/", training_runs, name="training-runs"),
    path("training-runs/<str:pk>/", training_run, name="training-run"),
    path("features/", views.FeatureCatalogueView.as_view(), name="features"),
]
