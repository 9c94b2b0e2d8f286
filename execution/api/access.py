"""Who is calling, and what of theirs a request names: the helpers every app's API views share.

Each app's selectors scope its querysets to one owner; these take the owner from the request
and look one object up in such a queryset. Another user's object is simply not found (404), the
same answer as an id that never existed, so ids cannot be probed for existence.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import Http404
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

from execution.api.filters import BIGINT_MAX, blank_parameters

M = TypeVar("M", bound=Model)


def request_owner_id(request: Request) -> int:
    """The authenticated caller's user id."""
    owner_id = request.user.pk
    if owner_id is None:  # IsAuthenticated keeps anonymous callers out; this tells mypy so
        raise NotAuthenticated()
    return int(owner_id)


def request_actor(request: Request) -> str:
    """The caller as audit events name them."""
    return f"user:{request_owner_id(request)}"


def owned_or_404(queryset: QuerySet[M], pk: str, what: str) -> M:
    """The object with that id in an owner-scoped queryset; a malformed id, an unknown one and
    someone else's all answer the same 404."""
    if not pk.isascii() or not pk.isdigit() or int(pk) > BIGINT_MAX:
        raise Http404(f"there is no {what} {pk}")
    found = queryset.filter(pk=int(pk)).first()
    if found is None:
        raise Http404(f"there is no {what} {pk}")
    return found


def query_params(serializer_class: type[serializers.Serializer[Any]], request: Request) -> Any:
    """The request's query string, validated (400 naming the parameter otherwise; an empty or
    repeated parameter too)."""
    errors = blank_parameters(request, serializer_class().fields)
    if errors:
        raise serializers.ValidationError(errors)
    query = serializer_class(data=request.query_params, context={"request": request})
    query.is_valid(raise_exception=True)
    return query.validated_data
