"""The strategies pages in a real browser: the list and a strategy's detail at both widths,
pausing a strategy from its page, a backtest form's field errors, and a backtest followed by
its progress bar until the report's chart renders (run by a worker elsewhere, and run from
the form where the server runs tasks in-process)."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from strategies.models import Backtest, BacktestStatus, StrategyStatus
from strategies.services import backtest_run, backtest_start, strategy_resume
from tests.browser.conftest import screenshot, sign_in
from tests.factories import make_account, make_user
from tests.strategies.services.conftest import make_strategy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def trader():
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())
    user = make_user("alice")
    account = make_account(user)
    strategy = make_strategy(
        account, name="EUR trend", symbols=["EURUSD"], config={"fast_window": 10, "slow_window": 20}
    )
    strategy_resume(strategy_id=strategy.pk)
    return user, strategy


def test_pause_a_strategy_from_its_page(browser_page, trader):
    user, strategy = trader
    page = browser_page
    sign_in(page, user)

    page.goto("/strategies/")
    expect(page.get_by_role("heading", name="Strategies")).to_be_visible()
    expect(page.get_by_role("navigation").get_by_role("link", name="Strategies")).to_have_attribute(
        "aria-current", "page"
    )
    row = page.get_by_role("row", name=re.compile("EUR trend"))
    expect(row.locator(".badge")).to_have_text("active")
    screenshot(page, "strategies-list")

    page.get_by_role("link", name="EUR trend").click()
    expect(page.locator("#strategy-status")).to_have_text("active")
    screenshot(page, "strategy-detail")
    page.get_by_role("button", name="Pause").click()

    expect(page.locator("#strategy-status")).to_have_text("paused")
    expect(page.get_by_text("EUR trend is paused.")).to_be_visible()
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.PAUSED


def test_a_backtest_run_by_a_worker_is_followed_until_its_chart_renders(browser_page, trader):
    user, strategy = trader
    backtest = backtest_start(owner_id=user.pk, strategy_id=strategy.pk, queue=False)
    page = browser_page
    sign_in(page, user)

    page.goto(f"/strategies/backtests/{backtest.pk}/")
    expect(page.locator("#backtest-progress")).to_be_visible()
    expect(page.locator("#backtest-message")).to_have_text("waiting for a worker")
    screenshot(page, "backtest-queued")

    backtest_run(backtest_id=backtest.pk)  # the worker, in another process than the server

    expect(page.locator("#backtest-status")).to_have_text("succeeded", timeout=15_000)
    expect(page.locator("#backtest-progress")).to_have_count(0)
    expect(page.locator("#report-figure")).to_have_attribute("data-rendered", "true")
    expect(page.locator("#report-figure .main-svg").first).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("^total return"))).to_be_visible()
    screenshot(page, "backtest-report")


def test_the_backtest_form_shows_errors_then_runs(browser_page, trader):
    user, strategy = trader
    page = browser_page
    sign_in(page, user)
    page.goto(f"/strategies/{strategy.pk}/")

    page.get_by_label("Fee rate (fraction per fill)").fill("0")
    page.get_by_label("Latency (seconds)").fill("-5")
    page.get_by_role("button", name="Run backtest").click()

    fee = page.get_by_label("Fee rate (fraction per fill)")
    expect(fee).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_fee_rate_errors")).to_contain_text("greater than zero")
    expect(page.locator("#id_latency_seconds_errors")).to_contain_text("at least 0")
    assert Backtest.objects.count() == 0
    page.locator("#run-backtest").scroll_into_view_if_needed()
    screenshot(page, "strategy-backtest-form-errors")

    fee.fill("0.001")
    page.get_by_label("Latency (seconds)").fill("0")
    page.get_by_role("button", name="Run backtest").click()

    expect(page).to_have_url(re.compile(r"/strategies/backtests/\d+/(#.*)?$"))
    expect(page.locator("#backtest-status")).to_have_text("succeeded", timeout=30_000)
    expect(page.locator("#report-figure .main-svg").first).to_be_visible()
    backtest = Backtest.objects.get()
    assert backtest.status == BacktestStatus.SUCCEEDED and backtest.costs["fee_rate"] == "0.001"

    page.goto(f"/strategies/{strategy.pk}/")
    expect(page.get_by_role("link", name=f"Report of backtest {backtest.pk}")).to_be_visible()
