"""The execution monitor in a real browser against a server whose simulated market feed moves
its paper books: the features and recommendations appear and refresh without a reload;
screenshots at desktop and phone width."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from playwright.sync_api import expect

from execution.services.algos import parent_order_place
from execution.services.breakers import account_kill_switch_set
from execution.services.venues import paper_reset
from tests.browser.conftest import DESKTOP, AsgiServer, _server_env, screenshot, sign_in
from tests.factories import btc_book, make_account, make_instrument, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_market():
    paper_reset()
    yield
    paper_reset()


@pytest.fixture
def market_server(transactional_db: None) -> Iterator[AsgiServer]:
    """A server of its own with the simulated feed on: paper books live in the process that
    feeds them, and the feed starts from the instruments there when the server starts."""
    make_instrument("BTC-USDT", mark="20000", tick="0.1", lot="0.0001")
    make_instrument("ETH-USDT", mark="1500", tick="0.01", lot="0.001")
    server = AsgiServer({**_server_env(), "MARKET_FEED": "simulated"})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def market_page(browser: Any, market_server: AsgiServer) -> Iterator[Any]:
    context = browser.new_context(base_url=market_server.url, viewport=DESKTOP)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def test_the_monitor_shows_a_live_book_and_refreshes_it(market_page):
    trader = make_user("monitor")
    account = make_account(trader, name="Alpha", deposit=D(1_000_000))
    # A parent order placed in this process on a book of its own, before the kill switch.
    btc_book(datetime.now(UTC), depth=D(1))
    parent = parent_order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", quantity="1.5", algorithm="market"
    )
    account_kill_switch_set(account_id=account.pk, on=True, reason="end of day")
    page = market_page
    sign_in(page, trader)
    page.goto("/execution/")
    expect(page.get_by_role("heading", name="Execution monitor", level=1)).to_be_visible()
    for symbol in ("BTC-USDT", "ETH-USDT"):
        row = page.locator(f'#instrument-cards [data-symbol="{symbol}"]')
        # The feed's first books arrive within a second or two; the poll brings them in.
        expect(row.locator('[data-field="stability"]')).to_have_text(re.compile(r"^0\.\d\d$"))
        expect(row.locator('[data-field="ofi"]')).to_contain_text(
            re.compile(r"buying|selling|balanced")
        )
        expect(row.locator('[data-field="plan-buy"]')).to_contain_text(
            re.compile(r"limit|market|twap|iceberg|skip")
        )
    expect(page.locator("#breaker-table")).to_contain_text("end of day")
    parent_row = page.locator(f'#parent-table tr[data-parent="{parent.pk}"]')
    expect(parent_row).to_contain_text("1.5 / 1.5")
    first = page.locator("#monitor-state").get_attribute("data-refreshed-at")
    page.wait_for_function(
        "(before) => document.querySelector('#monitor-state').dataset.refreshedAt !== before",
        arg=first,
    )
    assert page.url.endswith("/execution/")  # refreshed in place, never reloaded
    # A "why" opened by the reader stays open across refreshes.
    page.locator('[data-symbol="BTC-USDT"] summary').click()
    before = page.locator("#monitor-state").get_attribute("data-refreshed-at")
    page.wait_for_function(
        "(before) => document.querySelector('#monitor-state').dataset.refreshedAt !== before",
        arg=before,
    )
    expect(page.locator('[data-symbol="BTC-USDT"] details')).to_have_attribute("open", "")
    screenshot(page, "execution-monitor")
