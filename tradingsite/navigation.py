"""The dashboard's main navigation: one entry per page, by URL name, in the order shown.

Each app serves its own pages (``<app>/views.py`` and ``<app>/urls.py``, templates under
``templates/<app>/``); this list is the one place that says which pages the site has.
``navigation`` is a context processor, so every page's ``base.html`` can render it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    url_name: str


NAV: tuple[NavItem, ...] = (
    NavItem("Overview", "home"),
    NavItem("Strategies", "strategies:list"),
    NavItem("Copy trading", "copytrading:home"),
    NavItem("Execution", "execution:monitor"),
    NavItem("Models", "mlmodels:models"),
)


def navigation(request: HttpRequest) -> dict[str, object]:
    """``nav``: (label, url, current) for each page that exists (a page still being built is
    left out rather than breaking every other page)."""
    items = []
    for item in NAV:
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        current = request.path == url or (url != "/" and request.path.startswith(url))
        items.append((item.label, url, current))
    return {"nav": items}
