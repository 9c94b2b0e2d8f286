"""Shared fixtures. Services run against the real database: SQLite locally, PostgreSQL in CI."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from django.conf import settings

from tests.factories import make_account, make_instrument, make_user


def _missing_service(item: pytest.Item) -> str | None:
    if item.get_closest_marker("postgres") and not os.environ.get("DATABASE_URL", "").startswith(
        ("postgres://", "postgresql://")
    ):
        return "needs PostgreSQL (set DATABASE_URL=postgres://...)"
    if item.get_closest_marker("redis") and not os.environ.get("REDIS_URL"):
        return "needs Redis (set REDIS_URL=redis://...)"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _missing_service(item)
    if reason:
        if getattr(settings, "REQUIRE_SERVICES", False):
            pytest.fail(f"REQUIRE_SERVICES is set but this test {reason}")
        pytest.skip(reason)


@pytest.fixture
def user(db):
    return make_user("trader")


@pytest.fixture
def btc(db):
    return make_instrument("BTC-USDT", mark="20000")


@pytest.fixture
def account(user):
    return make_account(user, deposit=Decimal(100_000))
