"""Strategies in the admin: actions go through the services; signals and backtests are
read-only."""

from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.urls import reverse

from strategies.models import Backtest, Signal, Strategy
from tests.factories import make_user
from tests.strategies.services.conftest import make_strategy

pytestmark = pytest.mark.django_db


@pytest.fixture
def eurusd_candles(db):
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())


@pytest.fixture
def staff_client(client):
    client.force_login(make_user("boss", staff=True))
    return client


def act(client, action, strategy):
    response = client.post(
        reverse("admin:strategies_strategy_changelist"),
        {"action": action, "_selected_action": [str(strategy.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_activate_pause_and_clone_with_a_preset(staff_client, account, btc):
    strategy = make_strategy(account)
    assert strategy.status == "paused"  # new strategies start paused
    assert act(staff_client, "activate", strategy) == ["sma: active"]
    assert Strategy.objects.get(pk=strategy.pk).status == "active"
    assert act(staff_client, "pause", strategy) == ["sma: paused"]
    assert Strategy.objects.get(pk=strategy.pk).status == "paused"

    assert act(staff_client, "clone_conservative", strategy) == ["sma: cloned (conservative)"]
    clone = Strategy.objects.get(name="sma (conservative)")
    assert clone.preset == "conservative" and clone.status == "paused"
    assert float(clone.confidence_threshold) == 0.8
    assert float(clone.max_position_size) == 0.05


def test_run_backtest_from_the_admin(
    staff_client,
    account,
    btc,
    eurusd_candles,
    django_capture_on_commit_callbacks,
):
    strategy = make_strategy(account, symbols=["EURUSD"])
    with django_capture_on_commit_callbacks(execute=True):  # the task is queued on commit
        assert act(staff_client, "run_backtest", strategy) == ["sma: backtest queued"]
    backtest = Backtest.objects.get(strategy=strategy)
    assert backtest.status == "succeeded" and backtest.metrics  # eager tasks in tests
    page = staff_client.get(reverse("admin:strategies_backtest_change", args=[backtest.pk]))
    assert page.status_code == 200 and "EURUSD" in page.text


@pytest.mark.parametrize("model", [Strategy, Signal, Backtest], ids=lambda m: m.__name__)
def test_rows_are_not_edited_by_hand(staff_client, model):
    name = model._meta.model_name
    assert staff_client.get(reverse(f"admin:strategies_{name}_changelist")).status_code == 200
    assert staff_client.get(reverse(f"admin:strategies_{name}_add")).status_code == 403
