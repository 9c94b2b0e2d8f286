"""The home page and the health check."""

import pytest
from django.db import connection
from django.urls import reverse

from execution.selectors import account_valuation
from execution.services.fills import fill_record
from execution.services.orders import order_place
from tests.factories import make_account, make_user


def buy(account, quantity, price, trade_id):
    order = order_place(
        account_id=account.pk,
        symbol="BTC-USDT",
        side="buy",
        order_type="market",
        quantity=quantity,
        submit=False,
    )
    fill_record(order_id=order.pk, venue_trade_id=trade_id, quantity=quantity, price=price, fee="5")
    return order


@pytest.mark.django_db
def test_the_home_page_asks_a_visitor_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 200
    assert f'href="{reverse("admin:login")}?next=/"' in response.text
    assert "Sign in" in response.text
    assert "Your accounts" not in response.text


def test_the_home_page_shows_the_users_own_accounts_and_positions(client, account, btc):
    buy(account, "0.5", "20000.5", "mine1")
    other = make_user("someone")
    secret = make_account(other, name="Secret Fund Omega")
    buy(secret, "1.2345", "20001.0", "theirs1")
    client.force_login(account.owner)

    response = client.get("/")

    assert response.status_code == 200
    page = response.text
    equity = account_valuation(account).equity  # 100000 - 5 fee - 0.25 unrealized
    assert f"{equity:,.2f}" == "99,994.75" and "99,994.75 USDT" in page
    assert "Main" in page and "BTC-USDT" in page and ">0.5<" in page
    assert "Secret Fund Omega" not in page
    assert "1.2345" not in page


@pytest.mark.django_db
def test_healthz_reports_ok_and_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": connection.vendor}
