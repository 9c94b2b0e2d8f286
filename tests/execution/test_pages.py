"""The execution monitor through Django's test client against the real database: a live
paper book's features and the execution it recommends, the breakers, and the signed-in user's
parent orders with their slippage against the market-order baseline (no one else's)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.test import Client

from execution.services.algos import parent_order_place
from execution.services.breakers import account_kill_switch_set
from execution.services.marketdata import paper_book_update
from execution.services.venues import paper_reset
from tests.factories import btc_book, btc_unstable_spread, make_account, make_instrument, make_user

MONITOR = "/execution/"

pytestmark = pytest.mark.django_db(transaction=True)  # children go out on commit


@pytest.fixture(autouse=True)
def clean_market():
    paper_reset()
    yield
    paper_reset()


@pytest.fixture
def trader():
    make_instrument("BTC-USDT", mark="20000", tick="0.1", lot="0.001", min_notional="5")
    return make_user("monitor")


@pytest.fixture
def web(trader) -> Client:
    client = Client()
    client.force_login(trader)
    return client


def instrument_row(html: str, symbol: str) -> str:
    start = html.index(f'data-symbol="{symbol}"')
    return html[start : html.index("</article>", start)]


def test_signing_in_is_required(db):
    for path in (MONITOR, MONITOR + "state/"):
        response = Client().get(path)
        assert response.status_code == 302 and "login" in response["Location"]


def test_without_a_book_the_instrument_says_so(web):
    html = web.get(MONITOR).content.decode()
    assert "No book yet" in instrument_row(html, "BTC-USDT")


def test_a_live_book_shows_its_features_and_the_recommended_execution(web, trader):
    start = datetime.now(UTC) - timedelta(seconds=30)
    # Bids growing and asks shrinking at the touch: buying pressure (positive OFI).
    for n in range(20):
        paper_book_update(
            symbol="BTC-USDT",
            bids=[(D("19999.9") - D(k) / 10, D(2) + D(n) / 4) for k in range(10)],
            asks=[(D("20000.1") + D(k) / 10, max(D("0.5"), D(6) - D(n) / 4)) for k in range(10)],
            at=start + timedelta(seconds=n),
        )
    response = web.get(MONITOR)
    assert response.status_code == 200
    row = instrument_row(response.content.decode(), "BTC-USDT")
    assert "<dd>19999.9 / 20000.1</dd>" in row
    assert "▲ buying" in row  # OFI direction
    assert 'data-field="stability">0.00<' in row  # the same spread every second: stable
    # A stable spread with a full-strength signal: passive, a post-only limit at the touch.
    plan = re.search(r'data-field="plan-buy">\s*(.*?)</dd>', row, re.S)
    assert plan
    assert re.sub(r"<[^>]+>", " ", plan.group(1)).split() == ["limit", "passive", "maker"]
    assert '<span class="badge status-active">trading</span>' in row
    assert "<summary>Why (buy)</summary>" in row and "on a stable spread" in row


def test_an_unstable_spread_shows_the_halt(web):
    btc_unstable_spread(datetime.now(UTC) - timedelta(seconds=100))
    row = instrument_row(web.get(MONITOR).content.decode(), "BTC-USDT")
    assert "halted since" in row or "unstable since" in row
    assert "status-active" not in row


def test_breakers_show_the_kill_switch_and_overrides(web, trader):
    account = make_account(trader, name="Alpha")
    account_kill_switch_set(account_id=account.pk, on=True, reason="going to lunch")
    html = web.get(MONITOR).content.decode()
    table = html[html.index('id="breaker-table"') :]
    assert "Alpha" in table and "ON" in table and "going to lunch" in table
    assert "0 of 5" in table


def test_parent_orders_show_slippage_against_the_baseline_and_only_ones_own(web, trader):
    account = make_account(trader, deposit=D(10_000_000))
    btc_book(datetime.now(UTC), depth=D(1))
    mine = parent_order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", quantity="1.5", algorithm="market"
    )
    other = make_account(make_user("other"), name="Theirs", deposit=D(10_000_000))
    theirs = parent_order_place(
        account_id=other.pk, symbol="BTC-USDT", side="sell", quantity="0.1", algorithm="market"
    )
    html = web.get(MONITOR).content.decode()
    table = html[html.index('id="parent-table"') :]
    assert f'data-parent="{mine.pk}"' in table
    assert f'data-parent="{theirs.pk}"' not in html
    row = table[table.index(f'data-parent="{mine.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "market" in row and "1.5 / 1.5" in row and "status-active" in row
    # A market order for 1.5 walks two levels: 1 at 20000.1 and 0.5 at 20000.2, against a mid
    # of 20000: (1 x 0.1 + 0.5 x 0.2) / 1.5 / 20000 = 0.0667 bps of slippage, 5.0667 with the
    # taker fee; the baseline walked the same book.
    assert row.count('<td class="num">0.0667</td>') == 2
    assert row.count('<td class="num">5.0667</td>') == 2
    assert "0.0000" in row  # no improvement over the market order: it was one


def test_the_state_fragment_is_the_live_part(web, trader):
    btc_book(datetime.now(UTC))
    response = web.get(MONITOR + "state/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-symbol="BTC-USDT"' in html and 'id="parent-table"' in html
    assert "<html" not in html  # the fragment alone
    page = web.get(MONITOR).content.decode()
    assert 'data-url="/execution/state/"' in page and "js/execution.js" in page
    assert web.post(MONITOR).status_code == 405


def test_another_users_breakers_are_not_shown(web, trader):
    make_account(trader, name="Mine")
    theirs = make_account(make_user("other"), name="Theirs")
    account_kill_switch_set(account_id=theirs.pk, on=True, reason="their secret")
    html = web.get(MONITOR + "state/").content.decode()
    assert "Mine" in html and "Theirs" not in html and "their secret" not in html
