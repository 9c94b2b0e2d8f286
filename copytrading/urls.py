"""The copy trading page and its forms (the API is copytrading.api.urls)."""

from django.urls import path

from copytrading import views

app_name = "copytrading"

urlpatterns = [
    path("", views.home, name="home"),
    path("follow/", views.follow, name="follow"),
    path(
        "subscriptions/<int:subscription_id>/settings/",
        views.subscription_settings,
        name="settings",
    ),
    path("subscriptions/<int:subscription_id>/allocation/", views.allocation, name="allocation"),
    path("subscriptions/<int:subscription_id>/pause/", views.pause, name="pause"),
    path("subscriptions/<int:subscription_id>/resume/", views.resume, name="resume"),
    path("subscriptions/<int:subscription_id>/stop/", views.stop, name="stop"),
]
