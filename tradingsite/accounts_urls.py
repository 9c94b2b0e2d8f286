"""Sign in and out (``accounts:login``, ``accounts:logout``): Django's auth views, our template.

Sign-out is POST only (Django's LogoutView refuses GET), so a link or an image on another site
cannot sign anyone out; the header's form carries the CSRF token.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

app_name = "accounts"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
