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
def test_the_home_page_sends_a_visitor_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next=/"


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


@pytest.mark.django_db
def test_sign_in_page_signs_in_and_out_by_post_only(client):
    make_user("alice")
    page = client.get(reverse("accounts:login"))
    assert page.status_code == 200
    assert '<label for="id_username">' in page.text and "csrfmiddlewaretoken" in page.text

    refused = client.post(reverse("accounts:login"), {"username": "alice", "password": "wrong"})
    assert refused.status_code == 200
    assert 'class="form-errors"' in refused.text and 'aria-invalid="true"' in refused.text

    signed_in = client.post(
        reverse("accounts:login"), {"username": "alice", "password": "pw-alice"}
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == reverse("home")
    assert client.get(reverse("home")).status_code == 200

    assert client.get(reverse("accounts:logout")).status_code == 405  # GET cannot sign out
    assert client.get(reverse("home")).status_code == 200
    signed_out = client.post(reverse("accounts:logout"))
    assert signed_out.status_code == 302 and signed_out["Location"] == reverse("accounts:login")
    assert client.get(reverse("home")).status_code == 302


def test_the_overview_state_is_the_users_own_with_todays_and_30_day_pnl(client, account, btc):
    buy(account, "0.5", "20000.5", "mine1")  # fee 5, marked at 20000: -0.25 unrealized
    other = make_user("someone")
    buy(make_account(other, name="Secret Fund Omega"), "1.2345", "20001.0", "theirs1")
    client.force_login(account.owner)

    state = client.get(reverse("overview-state")).json()

    [acct] = state["accounts"]
    assert acct["name"] == "Main" and acct["equity"] == "99994.75"
    # The day opened at the first order (100,000): today's P&L is the fee and the mark.
    assert acct["today_pnl"] == "-5.25" and acct["pnl_30d"] == "-5.25"
    assert [point["pnl"] for point in acct["daily_pnl"]] == ["-5.25"]
    assert acct["kill_switch"]["on"] is False
    [position] = state["positions"]
    assert position["quantity"] == "0.5" and position["unrealized_pnl"] == "-0.25"
    assert [o["symbol"] for o in state["orders"]] == ["BTC-USDT"]
    assert [(f["quantity"], f["price"], f["fee"]) for f in state["fills"]] == [
        ("0.5", "20000.5", "5")
    ]
    assert "Secret Fund Omega" not in str(state) and "1.2345" not in str(state)


@pytest.mark.django_db
def test_the_overview_state_needs_sign_in(client):
    response = client.get(reverse("overview-state"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_the_kill_switch_turns_on_with_a_reason_and_a_confirmation(client, account):
    client.force_login(account.owner)
    url = reverse("kill-switch", args=[account.pk])
    prefix = f"ks{account.pk}"

    refused = client.post(url, {f"{prefix}-action": "on", f"{prefix}-reason": " "})
    assert refused.status_code == 400
    page = refused.text
    assert "Say why: the reason goes into the audit trail." in page
    assert "Tick the box to confirm." in page
    assert f'aria-describedby="id_{prefix}-reason-errors"' in page
    assert client.get(reverse("overview-state")).json()["accounts"][0]["kill_switch"]["on"] is False

    done = client.post(
        url, {f"{prefix}-action": "on", f"{prefix}-reason": "news day", f"{prefix}-confirm": "on"}
    )
    assert done.status_code == 302 and done["Location"] == reverse("home")
    switch = client.get(reverse("overview-state")).json()["accounts"][0]["kill_switch"]
    assert switch["on"] is True and switch["reason"] == "news day"
    page = client.get(reverse("home")).text
    assert "Kill switch of Main turned on" in page and "Turn kill switch off" in page

    client.post(
        url, {f"{prefix}-action": "off", f"{prefix}-reason": "calm", f"{prefix}-confirm": "on"}
    )
    assert client.get(reverse("overview-state")).json()["accounts"][0]["kill_switch"]["on"] is False


def test_the_kill_switch_of_anothers_account_is_not_found_and_needs_post(client, account):
    intruder = make_user("intruder")
    client.force_login(intruder)
    prefix = f"ks{account.pk}"
    data = {f"{prefix}-action": "on", f"{prefix}-reason": "x", f"{prefix}-confirm": "on"}
    assert client.post(reverse("kill-switch", args=[account.pk]), data).status_code == 404
    client.force_login(account.owner)
    assert client.get(reverse("kill-switch", args=[account.pk])).status_code == 405
    assert client.get(reverse("overview-state")).json()["accounts"][0]["kill_switch"]["on"] is False
