"""API tokens: issued for a username and password, listed, made and revoked by their owner."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts.api.serializers import (
    ApiTokenCreateSerializer,
    ApiTokenIssuedSerializer,
    ApiTokenSerializer,
    PasswordTokenSerializer,
)
from accounts.backends import sign_in_wait
from accounts.forms import throttled_message
from accounts.models import TokenSource
from accounts.services import IssuedToken, TokenRefused, api_token_create, api_token_revoke
from execution.api.access import owned_or_404, request_owner_id
from execution.api.errors import ERROR_SCHEMA, error_responses
from execution.api.throttling import AnonThrottle


class SignInThrottled(exceptions.Throttled):
    """429 with Retry-After and our sentence (not DRF's "Expected available in ...")."""

    def __init__(self, wait: int) -> None:
        exceptions.APIException.__init__(self, throttled_message(wait), "throttled")
        self.wait = wait


# An answer holding a key is kept by no cache.
NO_STORE = {"Cache-Control": "no-store"}


def _issued(issued: IssuedToken) -> dict[str, Any]:
    return {**ApiTokenSerializer(issued.token).data, "key": issued.key}


class PasswordTokenView(APIView):
    """POST /api/v1/auth/token/: a new token for a username and password."""

    authentication_classes: list[type[Any]] = []
    permission_classes: list[type[Any]] = []
    throttle_classes = [AnonThrottle]

    @extend_schema(
        summary="Get an API token for your username and password",
        description='Each call issues a new token, named "Password sign-in", expiring after '
        "API_TOKEN_PASSWORD_DAYS days (30 by default); the newest API_TOKEN_PASSWORD_KEEP (10) "
        "are kept and older ones revoked. List and revoke them at /api/v1/auth/tokens/. Send "
        "it as `Authorization: Token <key>`. After "
        "SIGN_IN_FAILURE_LIMIT failed sign-ins (5 by default) for a username from one address, "
        "that username is refused from there (429 with Retry-After) for a cool-off, even with "
        "the right password; a successful sign-in clears the count.",
        request=AuthTokenSerializer,
        responses={
            200: PasswordTokenSerializer,
            400: OpenApiResponse(ERROR_SCHEMA, description="Wrong username or password."),
            429: OpenApiResponse(
                ERROR_SCHEMA, description="Too many requests, or too many failed sign-ins."
            ),
        },
        auth=[],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        credentials = AuthTokenSerializer(data=request.data, context={"request": request})
        if not credentials.is_valid():
            wait = sign_in_wait(request)
            if wait is not None:
                raise SignInThrottled(wait)
            raise exceptions.ValidationError(credentials.errors)
        user = credentials.validated_data["user"]
        try:
            issued = api_token_create(
                user_id=user.pk,
                name="Password sign-in",
                expires_in=timedelta(days=settings.API_TOKEN_PASSWORD_DAYS),
                source=TokenSource.PASSWORD,
            )
        except TokenRefused as refused:
            raise exceptions.ValidationError({"non_field_errors": [str(refused)]}) from None
        return Response({"token": issued.key, **_issued(issued)}, headers=NO_STORE)


class ApiTokenListView(APIView):
    """GET and POST /api/v1/auth/tokens/."""

    @extend_schema(
        summary="Your API tokens, newest first",
        description="Name, key prefix, when made, last used (to the minute) and expiry: never "
        "the key itself.",
        responses={200: ApiTokenSerializer(many=True), **error_responses("Invalid input.")},
    )
    def get(self, request: Request) -> Response:
        tokens = selectors.api_tokens_for_owner(request_owner_id(request))
        return Response(ApiTokenSerializer(tokens, many=True).data)

    @extend_schema(
        summary="Make an API token",
        description="The answer holds the key, this once: only its hash is kept. At most "
        "API_TOKENS_PER_USER tokens each (100 by default).",
        request=ApiTokenCreateSerializer,
        responses={
            201: ApiTokenIssuedSerializer,
            **error_responses("Invalid name or lifetime, or too many tokens.", 400),
        },
    )
    def post(self, request: Request) -> Response:
        form = ApiTokenCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        days = form.validated_data.get("expires_in_days")
        try:
            issued = api_token_create(
                user_id=request_owner_id(request),
                name=form.validated_data["name"],
                expires_in=timedelta(days=days) if days else None,
                source=TokenSource.API,
            )
        except TokenRefused as refused:
            raise exceptions.ValidationError({"name": [str(refused)]}) from None
        return Response(_issued(issued), status=status.HTTP_201_CREATED, headers=NO_STORE)


class ApiTokenView(APIView):
    """DELETE /api/v1/auth/tokens/{id}/."""

    @extend_schema(
        summary="Revoke one of your API tokens",
        description="It stops working at once. Another user's token is not found (404).",
        request=None,
        responses={204: None, **error_responses("Invalid input.", 404)},
    )
    def delete(self, request: Request, pk: str) -> Response:
        owner_id = request_owner_id(request)
        token = owned_or_404(selectors.api_tokens_for_owner(owner_id), pk, "API token")
        api_token_revoke(user_id=owner_id, token_id=token.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
