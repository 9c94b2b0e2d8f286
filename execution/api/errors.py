"""One JSON shape for every error the API answers.

    {"detail": "a sentence for people",
     "code": "machine-readable, e.g. invalid, rule_violation, order_refused, not_found",
     "errors": {"<field>" or "non_field_errors": ["message", ...]},
     "violations": [{"rule": ..., "message": ..., "field": ... or null}]   (rules and risk only)}

Status codes: 400 for invalid input and for anything the trading rules refuse (a DomainError,
a RuleViolation); 422 for an order that is valid but refused by pre-trade risk (OrderRefused,
with every failed check); 401 without credentials; 404 for what does not exist or is not the
caller's; 429 when throttled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from execution.domain.errors import DomainError, OrderRefused, RuleViolation

NON_FIELD = "non_field_errors"

# Rules that concern one request field whatever their message says.
_RULE_FIELDS = {
    "lot_size": "quantity",
    "min_quantity": "quantity",
    "min_notional": "quantity",
    "min_order_size": "quantity",
    "max_order_size": "quantity",
    "max_order_value": "quantity",
    "price_required": "price",
    "price_not_allowed": "price",
    "stop_price_required": "stop_price",
    "stop_price_not_allowed": "stop_price",
    "post_only_limit": "time_in_force",
    "reduce_only": "reduce_only",
}
# Rules checked on several fields ("positive", "tick_size", "price_deviation") name the field
# first in their message. "stop price" before "price", as the longer name.
_MESSAGE_PREFIXES = (("stop price ", "stop_price"), ("price ", "price"), ("quantity ", "quantity"))


def violation_field(violation: RuleViolation) -> str | None:
    """The request field a broken rule concerns, where that can be told."""
    if violation.rule in _RULE_FIELDS:
        return _RULE_FIELDS[violation.rule]
    for prefix, field in _MESSAGE_PREFIXES:
        if violation.message.startswith(prefix):
            return field
    return None


def error_body(
    detail: str,
    code: str,
    errors: Mapping[str, list[str]] | None = None,
    violations: Sequence[RuleViolation] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": detail, "code": code, "errors": dict(errors or {})}
    if violations is not None:
        body["violations"] = [{**v.as_dict(), "field": violation_field(v)} for v in violations]
    return body


def _by_field(violations: Sequence[RuleViolation]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for violation in violations:
        errors.setdefault(violation_field(violation) or NON_FIELD, []).append(violation.message)
    return errors


def _messages(detail: Any) -> list[str]:
    if isinstance(detail, Mapping):
        return [f"{key}: {m}" for key, value in detail.items() for m in _messages(value)]
    if isinstance(detail, list | tuple):
        return [m for item in detail for m in _messages(item)]
    return [str(detail)]


def _field_errors(detail: Any) -> dict[str, list[str]]:
    """DRF's validation detail as {field: [messages]}; nested details flatten to dotted keys."""
    if not isinstance(detail, Mapping):
        return {NON_FIELD: _messages(detail)}
    errors: dict[str, list[str]] = {}
    for key, value in detail.items():
        if isinstance(value, Mapping):
            for inner, messages in _field_errors(value).items():
                errors[f"{key}.{inner}"] = messages
        else:
            errors[str(key)] = _messages(value)
    return errors


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OrderRefused):
        return Response(
            error_body(str(exc), "order_refused", _by_field(exc.violations), exc.violations),
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if isinstance(exc, RuleViolation):
        return Response(
            error_body(exc.message, "rule_violation", _by_field([exc]), [exc]),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DomainError):
        return Response(
            error_body(str(exc), "domain_error", {NON_FIELD: [str(exc)]}),
            status=status.HTTP_400_BAD_REQUEST,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django answers 500 and logs it
    if isinstance(exc, exceptions.ValidationError):
        messages = _messages(exc.detail)
        response.data = error_body(
            "; ".join(messages) or "Invalid input.",
            "invalid",
            _field_errors(exc.detail),
        )
    elif isinstance(exc, exceptions.APIException):
        response.data = error_body(str(exc.detail), _code(exc))
    else:  # Http404 and Django's PermissionDenied, which DRF converted
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        code = "not_found" if response.status_code == 404 else "permission_denied"
        response.data = error_body(str(detail), code)
    return response


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other path under /api/: JSON like the rest of the API, not an HTML page."""
    return JsonResponse(
        error_body(f"There is no API endpoint at {request.path}.", "not_found"), status=404
    )


ERROR_SCHEMA = inline_serializer(
    "Error",
    {
        "detail": serializers.CharField(help_text="What went wrong, in a sentence."),
        "code": serializers.CharField(
            help_text="invalid, parse_error, rule_violation, order_refused, domain_error, "
            "not_authenticated, authentication_failed, not_found, method_not_allowed, "
            "throttled, ..."
        ),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="Messages by request field; non_field_errors for the request as a whole.",
        ),
        "violations": inline_serializer(
            "Violation",
            {
                "rule": serializers.CharField(help_text="e.g. tick_size, max_order_value"),
                "message": serializers.CharField(),
                "field": serializers.CharField(allow_null=True),
            },
            many=True,
            required=False,
            help_text="Every broken rule or failed risk check.",
        ),
    },
)
"""The schema of every error response (documentation only)."""


_DESCRIBED = {
    401: "No valid credentials.",
    403: "Signed in, but not staff.",
    404: "Not found, or not yours.",
    422: "Valid, but refused by pre-trade risk: every failed check is listed.",
    429: "Too many requests.",
}


def error_responses(invalid: str, *codes: int) -> dict[int, OpenApiResponse]:
    """The documented error answers of an operation: ``codes`` plus 401 and 429, every one in
    the shared error shape; ``invalid`` says what a 400 means for this API."""
    described = {**_DESCRIBED, 400: invalid}
    return {
        code: OpenApiResponse(ERROR_SCHEMA, description=described[code])
        for code in (*codes, 401, 429)
    }
