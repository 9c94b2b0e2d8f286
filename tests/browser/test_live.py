"""Live updates in a real browser: a fill committed in this process reaches the page through the
Redis channel layer and the server's consumer, only for its owner, and survives a restart."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from execution.services.fills import fill_record
from execution.services.orders import order_place
from tests.browser.conftest import screenshot, sign_in
from tests.factories import make_account, make_instrument, make_user

# The push leaves this process over Redis: with the in-memory layer it could not reach the server.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

CHART_POINTS = "document.getElementById('pnl-chart').data[0].x.length"


def buy(account, quantity: str, price: str, trade_id: str) -> None:
    order = order_place(
        account_id=account.pk,
        symbol="BTC-USDT",
        side="buy",
        order_type="market",
        quantity=quantity,
        submit=False,
    )
    fill_record(order_id=order.pk, venue_trade_id=trade_id, quantity=quantity, price=price, fee="5")


def signed_in_page(new_page, user):
    page = new_page()
    sign_in(page, user)
    expect(page.locator("#live-status")).to_have_attribute("data-status", "live")
    page.evaluate("window.notReloaded = true")  # gone if the page reloads
    return page


def test_a_backend_fill_appears_in_positions_and_chart_for_its_owner_only(new_page):
    make_instrument("BTC-USDT", mark="20000")
    alice, bob = make_user("alice"), make_user("bob")
    account = make_account(alice, deposit=Decimal(100_000))
    make_account(bob, deposit=Decimal(50_000))
    page, other = signed_in_page(new_page, alice), signed_in_page(new_page, bob)
    expect(page.locator("#positions tbody")).to_contain_text("No open positions.")
    assert page.evaluate(CHART_POINTS) == 0  # the day opens with the first order

    buy(account, "0.5", "20000.5", "live-1")

    row = page.locator("#positions tbody tr[data-position]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("BTC-USDT")
    expect(row.locator("td").nth(2)).to_have_text("0.5")
    expect(page.locator("#fills tbody tr[data-fill]")).to_have_count(1)
    page.wait_for_function(f"{CHART_POINTS} === 1")
    # Today's cumulative P&L: the 5 fee and 0.25 below the 20,000 mark.
    assert page.evaluate("document.getElementById('pnl-chart').data[0].y[0]") == pytest.approx(
        -5.25
    )
    expect(page.locator('[data-field="today_pnl"]')).to_have_text("-5.25")
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "overview-with-position")

    # Bob's socket was open all along and got none of Alice's pushes.
    other.wait_for_timeout(500)
    assert other.evaluate("window.Live.log.length") == 0
    expect(other.locator("#positions tbody")).to_contain_text("No open positions.")
    assert other.evaluate("window.notReloaded") is True


def test_the_overview_recovers_after_the_server_restarts(asgi_server, new_page):
    make_instrument("BTC-USDT", mark="20000")
    alice = make_user("alice")
    account = make_account(alice, deposit=Decimal(100_000))
    page = signed_in_page(new_page, alice)

    asgi_server.stop()
    expect(page.locator("#live-status")).not_to_have_attribute("data-status", "live")
    buy(account, "0.5", "20000", "while-down")  # its push is lost: the page must re-read
    asgi_server.start()

    expect(page.locator("#live-status")).to_have_attribute("data-status", "live", timeout=30_000)
    quantity = page.locator("#positions tbody tr[data-position] td").nth(2)
    expect(quantity).to_have_text("0.5")

    buy(account, "0.25", "20000", "after-restart")
    expect(quantity).to_have_text("0.75")
    expect(page.locator("#fills tbody tr[data-fill]")).to_have_count(2)
    assert page.evaluate("window.notReloaded") is True
