"""API tests of copy trading: real tokens, the real database, copies through the paper venue."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.apps import apps

from tests.execution.api.conftest import client_for
from tests.factories import make_account, make_user

BASE = "/api/v1/copytrading/"


@pytest.fixture
def follower(db):
    return make_user("follower")


@pytest.fixture
def follower_account(follower, market):
    return make_account(follower, deposit=Decimal(10_000))


@pytest.fixture
def follower_api(follower):
    return client_for(follower)


def row_counts() -> dict[str, int]:
    models = apps.get_app_config("copytrading").get_models()
    return {model.__name__: model._default_manager.count() for model in models}
