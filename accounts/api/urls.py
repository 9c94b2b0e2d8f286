"""Routes under /api/v1/auth/."""

from __future__ import annotations

from django.urls import path

from accounts.api import views

app_name = "auth-api"
urlpatterns = [
    path("token/", views.PasswordTokenView.as_view(), name="token"),
    path("tokens/", views.ApiTokenListView.as_view(), name="tokens"),
    path("tokens/<str:pk>/", views.ApiTokenView.as_view(), name="token-detail"),
]
