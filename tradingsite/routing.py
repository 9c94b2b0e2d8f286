"""Websocket routes of every app, gathered for the ASGI application."""

from django.urls import URLPattern, path

from execution.consumers import AccountConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/account/", AccountConsumer.as_asgi()),
]
