"""API tests: DRF's APIClient against the real database, authenticated with real tokens."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.services import api_token_create
from execution.services.fills import fill_record
from execution.services.orders import order_place
from execution.services.venues import paper_reset
from tests.factories import make_account, make_user

BASE = "/api/v1/trading/"


@pytest.fixture(autouse=True)
def clean_state():
    """Throttle counters live in the cache and paper venues in the process: start afresh."""
    cache.clear()
    paper_reset()
    yield
    cache.clear()
    paper_reset()


def client_for(user) -> APIClient:
    client = APIClient()
    key = api_token_create(user_id=user.pk, name="tests").key
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def api(user):
    return client_for(user)


@pytest.fixture
def intruder(db):
    """Another user, with an account of their own; they must never reach the trader's data."""
    return make_user("intruder")


@pytest.fixture
def intruder_api(intruder):
    make_account(intruder, name="Theirs")
    return client_for(intruder)


def row_counts() -> dict[str, int]:
    models = apps.get_app_config("execution").get_models()
    return {model.__name__: model._default_manager.count() for model in models}


def order_body(account, /, **overrides) -> dict[str, Any]:
    body = {
        "account": account.pk,
        "symbol": "BTC-USDT",
        "side": "buy",
        "order_type": "limit",
        "quantity": "0.5",
        "price": "20000",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def place_filled(account, *, side: str, quantity: str, price: str, fee: str = "0", trade: str):
    """An order placed and filled through the services (as the venue would report it)."""
    order = order_place(
        account_id=account.pk,
        symbol="BTC-USDT",
        side=side,
        order_type="limit",
        quantity=quantity,
        price=price,
        submit=False,
    )
    fill_record(order_id=order.pk, venue_trade_id=trade, quantity=quantity, price=price, fee=fee)
    order.refresh_from_db()
    return order


def amounts(data: dict[str, Any], *names: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(data[name]) for name in names)
