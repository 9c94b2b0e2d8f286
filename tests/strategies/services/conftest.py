"""Strategies against the real database, built through the services."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from strategies.services import strategy_create


@pytest.fixture
def eurusd(db):
    """The real EURUSD hourly candles (5,000 bars, 2017-04-19 to 2018-02-07)."""
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())


def make_strategy(account, name="sma", **overrides):
    arguments = {
        "owner_id": account.owner_id,
        "name": name,
        "kind": "sma_crossover",
        "account_id": account.pk,
        "symbols": ["BTC-USDT"],
        "interval": "1h",
        "config": {"fast_window": 5, "slow_window": 30},
        **overrides,
    }
    return strategy_create(**arguments)
