"""Page-number pagination with a ceiling on the page size.

A page or page size that is not a whole number from 1 is refused with 400 naming the parameter,
as the schema says (DRF would quietly fall back to the default size); a page size over the
ceiling is the ceiling. A page past
the last answers an empty list with the count, where DRF answered 404, a status the lists do
not document.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


def _whole_number(request: Request, name: str, *, maximum: int, clamp: bool = False) -> int | None:
    values = request.query_params.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise ValidationError({name: ["give it once"]})
    raw = values[0]
    if not (raw.isascii() and raw.isdigit()) or int(raw[:30]) < 1:
        raise ValidationError({name: ["a whole number, 1 or more"]})
    value = int(raw) if len(raw) < 30 else maximum + 1  # int() of 5,000 digits raises
    if value > maximum:
        if clamp:
            return maximum
        raise ValidationError({name: [f"at most {maximum}"]})
    return value


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        size = _whole_number(
            request, self.page_size_query_param, maximum=self.max_page_size, clamp=True
        )
        return size if size is not None else int(self.page_size or 50)

    def get_page_number(self, request: Request, paginator: Paginator[Any]) -> int:
        return _whole_number(request, self.page_query_param, maximum=2**31) or 1

    def paginate_queryset(
        self, queryset: Any, request: Request, view: Any = None
    ) -> list[Any] | None:
        self.request = request
        paginator = self.django_paginator_class(queryset, self.get_page_size(request))
        number = self.get_page_number(request, paginator)
        # A page past the last is empty (the count says how many there are), not an error.
        if number > paginator.num_pages:
            self.page = Page([], number, paginator)
        else:
            self.page = paginator.page(number)
        return list(self.page)

    def get_previous_link(self) -> str | None:
        page = self.page
        if page is not None and page.number > page.paginator.num_pages:
            return None  # past the last page: there is no page before to speak of
        link: str | None = super().get_previous_link()
        return link

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            schema = parameter["schema"]
            schema["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = f"Results per page (at most {self.max_page_size})."
            else:
                schema["maximum"] = 2**31
        return parameters
