"""API tests of strategies: DRF's APIClient with real tokens, against the real database."""

from __future__ import annotations

import pytest
from django.apps import apps

from tests.execution.api.conftest import client_for
from tests.strategies.services.conftest import eurusd  # noqa: F401 (a fixture)

BASE = "/api/v1/strategies/"


@pytest.fixture
def api(user):
    return client_for(user)


def row_counts() -> dict[str, int]:
    models = apps.get_app_config("strategies").get_models()
    return {model.__name__: model._default_manager.count() for model in models}


def body(account, **overrides):
    return {
        "name": "sma",
        "kind": "sma_crossover",
        "account": account.pk,
        "instruments": ["BTC-USDT"],
        "interval": "1h",
        "config": {"fast_window": 5, "slow_window": 30},
        **overrides,
    }
