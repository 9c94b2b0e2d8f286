"""The copy trading page in a real browser: change an allocation and see it saved, a refused
one shown by its field, pause a followed strategy; screenshots at desktop and phone width."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from playwright.sync_api import expect

from copytrading.models import CopySubscription
from copytrading.services.snapshots import equity_snapshots_take
from copytrading.services.subscriptions import subscription_create
from execution.selectors import utc_today
from execution.services.orders import order_place
from execution.services.positions import positions_mark
from execution.services.venues import paper_reset
from tests.browser.conftest import screenshot, sign_in
from tests.copytrading.conftest import leader_trade, make_strategy
from tests.factories import btc_book, make_account, make_instrument, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_market():
    paper_reset()
    yield
    paper_reset()


@pytest.fixture
def copying():
    """A follower copying two public strategies, with a month of daily snapshots behind the
    chart and one copied leader trade behind the drift ledger."""
    make_instrument("BTC-USDT", mark="20000")
    btc_book(datetime.now(UTC), depth=D(50))
    leaders = []
    for name in ("Trend rider", "Mean reverter"):
        owner = make_user(name.split()[0].lower())
        leaders.append(make_strategy(owner, make_account(owner, deposit=D(100_000)), name=name))
    follower = make_user("follower")
    account = make_account(follower, deposit=D(10_000))
    first = subscription_create(
        follower_id=follower.pk, account_id=account.pk, strategy_id=leaders[0].pk,
        terms={"allocation_percent": "35"},
    )  # fmt: skip
    subscription_create(
        follower_id=follower.pk, account_id=account.pk, strategy_id=leaders[1].pk,
        terms={"allocation_percent": "25"},
    )  # fmt: skip
    order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="market", quantity="0.1"
    )
    today = utc_today()
    for offset, mark in enumerate(("19800", "20150", "19900", "20400", "20650", "20300", "20500")):
        positions_mark(symbol="BTC-USDT", mark_price=D(mark))
        equity_snapshots_take(day=today - timedelta(days=6 - offset))
    leader_trade(leaders[0], "buy", "1", "20000", "L1")
    return follower, first


def test_change_an_allocation_and_see_it_saved(browser_page, copying):
    follower, subscription = copying
    page = browser_page
    sign_in(page, follower)
    page.goto("/copy/")
    expect(page.get_by_role("heading", name="Copy trading", level=1)).to_be_visible()
    expect(page.locator("#pnl-chart .main-svg").first).to_be_attached()  # Plotly drew
    screenshot(page, "copy-trading")

    field = page.get_by_label("Allocation of Trend rider (%)")
    field.fill("42.5")
    field.press("Enter")  # the keyboard submits the inline form
    expect(page.get_by_text("Allocation of Trend rider saved: 42.5%")).to_be_visible()
    expect(page.get_by_label("Allocation of Trend rider (%)")).to_have_value("42.5")
    subscription.refresh_from_db()
    assert subscription.allocation_percent == D("42.5")

    # Over 100% with the other subscription's 25%: shown by the field, nothing saved.
    field = page.get_by_label("Allocation of Trend rider (%)")
    field.fill("80")
    page.locator(f'tr[data-subscription="{subscription.pk}"]').get_by_role(
        "button", name="Save"
    ).click()
    error = page.locator(f"#id_sub{subscription.pk}-allocation_percent_error")
    expect(error).to_contain_text("more than 100%")
    expect(page.get_by_label("Allocation of Trend rider (%)")).to_have_attribute(
        "aria-describedby", re.compile("_error")
    )
    screenshot(page, "copy-trading-refused")
    subscription.refresh_from_db()
    assert subscription.allocation_percent == D("42.5")


def test_pause_and_resume_a_followed_strategy(browser_page, copying):
    follower, subscription = copying
    page = browser_page
    sign_in(page, follower)
    page.goto("/copy/")
    row = page.locator(f'tr[data-subscription="{subscription.pk}"]').first
    row.get_by_role("button", name="Pause Trend rider").click()
    expect(page.get_by_text("Trend rider: paused.")).to_be_visible()
    expect(
        page.locator(f'#subscriptions tr[data-subscription="{subscription.pk}"] .badge')
    ).to_have_text("paused")
    assert CopySubscription.objects.get(pk=subscription.pk).status == "paused"
    page.locator(f'#subscriptions tr[data-subscription="{subscription.pk}"]').get_by_role(
        "button", name="Resume Trend rider"
    ).click()
    expect(
        page.locator(f'#subscriptions tr[data-subscription="{subscription.pk}"] .badge')
    ).to_have_text("active")


def test_follow_a_strategy_from_the_leaderboard(browser_page, copying):
    follower, _ = copying
    owner = make_user("carol")
    strategy = make_strategy(owner, make_account(owner), name="Breakout hunter")
    page = browser_page
    sign_in(page, follower)
    page.goto("/copy/")
    page.locator(f'#leaderboard tr[data-strategy="{strategy.pk}"]').get_by_role(
        "link", name="Follow Breakout hunter"
    ).click()
    form = page.get_by_role("region", name="Follow a strategy")
    expect(form.get_by_label("Strategy", exact=True)).to_have_value(str(strategy.pk))
    form.get_by_label("Allocation (%)").fill("20")
    form.get_by_label("Risk level").select_option("conservative")
    form.get_by_role("button", name="Start copying").click()
    expect(page.get_by_text("You now copy Breakout hunter")).to_be_visible()
    assert CopySubscription.objects.get(follower=follower, strategy=strategy).max_position_value


@pytest.mark.redis  # the push leaves this process over Redis to the server's consumer
def test_a_copied_fill_updates_the_summary_without_a_reload(browser_page, copying):
    follower, subscription = copying
    page = browser_page
    sign_in(page, follower)
    page.goto("/copy/")
    expect(page.locator("#live-status")).to_have_attribute("data-status", "live")
    expect(page.locator('#copy-summary [data-field="trades"]')).to_have_text("1")
    page.evaluate("window.notReloaded = true")

    leader_trade(subscription.strategy, "sell", "1", "20000", "L2")  # copied at once

    expect(page.locator('#copy-summary [data-field="trades"]')).to_have_text("2")
    assert page.evaluate("window.notReloaded") is True
