"""Account pages: sign in (throttled), change password, API tokens (make, list, revoke).

The page that makes a token shows its key in that one answer (never stored, never in a
cookie or a redirect's message) and is not cached."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.backends import sign_in_wait
from accounts.forms import ApiTokenForm, SignInForm
from accounts.models import ApiToken, TokenSource
from accounts.selectors import api_tokens_for_owner
from accounts.services import TokenRefused, api_token_create, api_token_revoke
from execution.pages import page_owner_id


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    redirect_authenticated_user = True

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        wait = sign_in_wait(self.request)
        if wait is not None:  # tools see the refusal without reading the page
            response.status_code = 429
            response["Retry-After"] = str(wait)
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's: the current password, then a new one that passes AUTH_PASSWORD_VALIDATORS;
    other sessions of the user are signed out, this one stays."""

    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("accounts:api-tokens")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, "Your password was changed.")
        return response


def _tokens_page(
    request: HttpRequest, form: ApiTokenForm, *, issued: tuple[ApiToken, str] | None = None
) -> HttpResponse:
    tokens = api_tokens_for_owner(page_owner_id(request))
    context = {
        "form": form,
        "tokens": tokens,
        "issued": issued,
        "now": timezone.now(),
        "password_keep": settings.API_TOKEN_PASSWORD_KEEP,
    }
    return render(request, "accounts/tokens.html", context, status=400 if form.errors else 200)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _tokens_page(request, ApiTokenForm())
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _tokens_page(request, form)
    days = form.cleaned_data["expires_in_days"]
    try:
        issued = api_token_create(
            user_id=page_owner_id(request),
            name=form.cleaned_data["name"],
            expires_in=timedelta(days=days) if days else None,
            source=TokenSource.PAGE,
        )
    except TokenRefused as refused:
        form.add_error("name", str(refused))
        return _tokens_page(request, form)
    return _tokens_page(request, ApiTokenForm(), issued=(issued.token, issued.key))


@login_required
@require_POST
def api_token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponseRedirect:
    try:
        api_token_revoke(user_id=page_owner_id(request), token_id=token_id)
    except ApiToken.DoesNotExist:
        raise Http404("no such API token of yours") from None
    messages.success(request, "Token revoked: it no longer works.")
    return HttpResponseRedirect(reverse("accounts:api-tokens"))
