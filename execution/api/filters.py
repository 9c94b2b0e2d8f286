"""Query filters of the list endpoints (django-filter)."""

from __future__ import annotations

from typing import Any

import django_filters as filters
from django import forms
from django.db.models import Q, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from execution.api.serializers import ALGORITHMS
from execution.domain.algos import ParentStatus
from execution.domain.orders import OrderStatus, OrderType
from execution.domain.values import Liquidity, Side
from execution.models import Fill, Order, ParentOrder, Position

BIGINT_MAX = 2**63 - 1


def _choices(enum: Any) -> list[tuple[str, str]]:
    return [(member.value, member.value) for member in enum]


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.Filter):
    """A whole number (the database would read an id of 1.5 as 1), within a bigint."""

    field_class = forms.IntegerField

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(**kwargs)


class SymbolFilter(filters.CharFilter):
    """An instrument symbol, in any case (BTC-USDT, btc-usdt)."""

    def filter(self, qs: QuerySet[Any], value: str) -> QuerySet[Any]:
        filtered: QuerySet[Any] = super().filter(qs, value.strip().upper() if value else value)
        return filtered


class OrderFilter(filters.FilterSet):
    symbol = SymbolFilter(field_name="instrument__symbol", help_text="Instrument, e.g. BTC-USDT.")
    status = filters.MultipleChoiceFilter(
        choices=_choices(OrderStatus), help_text="Repeat for several: status=new&status=filled."
    )
    side = filters.ChoiceFilter(choices=_choices(Side))
    order_type = filters.ChoiceFilter(choices=_choices(OrderType))
    strategy_id = IdFilter(help_text="Orders of one strategy.")
    account = IdFilter(field_name="account_id", help_text="One of your account ids.")
    client_order_id = filters.CharFilter()
    created = filters.DateFromToRangeFilter(
        field_name="created_at",
        help_text="created_after and created_before: UTC dates, both inclusive.",
    )

    class Meta:
        model = Order
        fields: list[str] = []


class TradeFilter(filters.FilterSet):
    symbol = SymbolFilter(field_name="order__instrument__symbol", help_text="e.g. BTC-USDT.")
    side = filters.ChoiceFilter(field_name="order__side", choices=_choices(Side))
    liquidity = filters.ChoiceFilter(choices=_choices(Liquidity))
    account = IdFilter(field_name="order__account_id", help_text="One of your account ids.")
    order = filters.UUIDFilter(field_name="order_id", help_text="Fills of one order.")
    strategy_id = IdFilter(field_name="order__strategy_id", help_text="Fills of one strategy.")
    filled = filters.DateFromToRangeFilter(
        field_name="filled_at",
        help_text="filled_after and filled_before: UTC dates, both inclusive.",
    )

    class Meta:
        model = Fill
        fields: list[str] = []


class PositionFilter(filters.FilterSet):
    symbol = SymbolFilter(field_name="instrument__symbol", help_text="e.g. BTC-USDT.")
    account = IdFilter(field_name="account_id", help_text="One of your account ids.")
    open = filters.BooleanFilter(
        method="filter_open", help_text="true: only positions that are not flat; false: flat."
    )

    class Meta:
        model = Position
        fields: list[str] = []

    def filter_open(self, qs: QuerySet[Position], name: str, value: bool) -> QuerySet[Position]:
        flat = Q(quantity=0)
        return qs.exclude(flat) if value else qs.filter(flat)


class ParentOrderFilter(filters.FilterSet):
    symbol = SymbolFilter(field_name="instrument__symbol", help_text="Instrument, e.g. BTC-USDT.")
    status = filters.MultipleChoiceFilter(
        choices=_choices(ParentStatus),
        help_text="Repeat for several: status=working&status=partially_filled.",
    )
    algorithm = filters.ChoiceFilter(
        choices=[(kind, kind) for kind in ALGORITHMS], help_text="e.g. twap."
    )
    side = filters.ChoiceFilter(choices=_choices(Side))
    strategy_id = IdFilter(help_text="Parent orders of one strategy.")
    account = IdFilter(field_name="account_id", help_text="One of your account ids.")

    class Meta:
        model = ParentOrder
        fields: list[str] = []


def blank_parameters(
    request: Request, names: Any, *, repeatable: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    """Query parameters among ``names`` given empty, or more than once (but the ``repeatable``
    ones, a list of choices): refused by name. A filter left out filters nothing; an empty one
    is a mistake, not a wildcard."""
    errors: dict[str, list[str]] = {}
    for name in names:
        values = request.query_params.getlist(name)
        if len(values) > 1 and name not in repeatable:
            errors[name] = ["give it once"]
        elif any(not value.strip() for value in values):
            errors[name] = ["empty: leave the parameter out to not filter by it"]
    return errors


def _parameter_names(filterset: Any) -> list[str]:
    """The query parameters a filter set reads: a range filter ``created`` reads
    ``created_after`` and ``created_before``."""
    names = []
    for name, declared in filterset.filters.items():
        suffixes = getattr(declared.field.widget, "suffixes", None)
        names += [f"{name}_{suffix}" if suffix else name for suffix in suffixes or [""]]
    return names


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, refusing empty or repeated filter parameters and booleans other than
    true or false (django-filter reads "" and "null" as no filter at all)."""

    def get_filterset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        filterset = super().get_filterset(request, queryset, view)
        if filterset is None:
            return None
        repeatable = frozenset(
            name
            for name, declared in filterset.filters.items()
            if isinstance(declared, filters.MultipleChoiceFilter)
        )
        errors = blank_parameters(request, _parameter_names(filterset), repeatable=repeatable)
        for name, declared in filterset.filters.items():
            value = request.query_params.get(name)
            boolean = isinstance(declared, filters.BooleanFilter) and value is not None
            if boolean and name not in errors and str(value).lower() not in ("true", "false"):
                errors[name] = ["true or false"]
        if errors:
            raise ValidationError(errors)
        return filterset
