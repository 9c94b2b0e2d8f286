"""Sign in and out, change password, API tokens (``accounts:*``).

Sign-in is throttled per username and address (accounts.backends); sign-out is POST only
(Django's LogoutView refuses GET), so a link or an image on another site cannot sign anyone
out; the header's form carries the CSRF token.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("tokens/", views.api_tokens, name="api-tokens"),
    path("tokens/<int:token_id>/revoke/", views.api_token_revoke_view, name="api-token-revoke"),
]
