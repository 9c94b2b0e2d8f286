"""Account pages in a real browser, under the site's Content-Security-Policy (the harness fails
a test on any violation): API tokens made, shown once, used and revoked; a password changed;
the API docs; the admin's sign-in with a TOTP code on a server that requires it."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from strategies.services import backtest_run, backtest_start
from tests.browser.conftest import AsgiServer, _server_env, screenshot, sign_in
from tests.factories import make_account, make_user
from tests.strategies.services.conftest import make_strategy

pytestmark = pytest.mark.django_db(transaction=True)


def api_status(base_url: str, key: str) -> int:
    request = urllib.request.Request(
        f"{base_url}/api/v1/trading/accounts/", headers={"Authorization": f"Token {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            json.load(response)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_an_api_token_is_made_shown_once_used_and_revoked(browser_page, asgi_server):
    page = browser_page
    user = make_user("carol")
    make_account(user)
    sign_in(page, user)

    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens", level=1)).to_be_visible()
    page.get_by_label("Name").fill("research notebook")
    page.get_by_label("Expires after").select_option("7")
    page.get_by_role("button", name="Make token").click()

    key = page.locator("#issued-key").input_value()
    assert len(key) >= 40
    expect(page.locator("#api-tokens")).to_contain_text("research notebook")
    screenshot(page, "api-tokens")
    assert api_status(asgi_server.url, key) == 200

    page.goto("/accounts/tokens/")
    assert key not in page.content()
    expect(page.locator("#api-tokens")).to_contain_text(key[:8])
    page.get_by_text("Revoke…").click()
    page.get_by_role("button", name="Revoke research notebook now").click()
    expect(page.locator(".messages")).to_contain_text("Token revoked")
    assert api_status(asgi_server.url, key) == 401


def test_a_password_is_changed_only_to_one_the_validators_accept(browser_page):
    page = browser_page
    user = make_user("dave")
    sign_in(page, user)

    page.goto("/accounts/password/")
    page.get_by_label("Old password").fill("pw-dave")
    page.get_by_label("New password", exact=True).fill("12345678")
    page.get_by_label("New password confirmation").fill("12345678")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".field-errors")).to_contain_text("too common")
    screenshot(page, "password-change")

    page.get_by_label("Old password").fill("pw-dave")
    page.get_by_label("New password", exact=True).fill("amber-falcon-grid-91")
    page.get_by_label("New password confirmation").fill("amber-falcon-grid-91")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".messages")).to_contain_text("Your password was changed")
    user.refresh_from_db()
    assert user.check_password("amber-falcon-grid-91")


def test_the_api_docs_render(browser_page):
    page = browser_page
    sign_in(page, make_user("erin"))
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Trading platform API")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()


@pytest.fixture(scope="module")
def otp_server(django_db_setup: None, django_db_blocker: Any) -> Iterator[AsgiServer]:
    """A second server, as production runs: the admin asks staff for a TOTP code."""
    with django_db_blocker.unblock():
        env = {**_server_env(), "ADMIN_REQUIRE_OTP": "true"}
    server = AsgiServer(env)
    server.start()
    yield server
    server.stop()


def test_the_admin_needs_a_staff_members_totp_code(browser, otp_server):
    staff = make_user("root", staff=True)
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    context = browser.new_context(base_url=otp_server.url)
    violations: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else 0)
    try:
        page.goto("/admin/")
        expect(page).to_have_url(re.compile(r"/admin/login/"))
        page.get_by_label("Username").fill("root")
        page.get_by_label("Password").fill("pw-root")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".errornote")).to_be_visible()
        expect(page).to_have_url(re.compile(r"/admin/login/"))

        page.get_by_label("Password").fill("pw-root")
        page.get_by_label("Authenticator code").fill(f"{totp(device.bin_key):06d}")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
        screenshot(page, "admin-after-totp")
    finally:
        context.close()
    assert not violations, violations


def test_the_standalone_backtest_report_draws_its_chart(browser_page):
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())
    user = make_user("frank")
    strategy = make_strategy(make_account(user), name="EUR", symbols=["EURUSD"])
    backtest = backtest_start(owner_id=user.pk, strategy_id=strategy.pk, queue=False)
    backtest_run(backtest_id=backtest.pk)
    page = browser_page
    sign_in(page, user)

    page.goto(f"/api/v1/strategies/backtests/{backtest.pk}/report/")

    expect(page.locator("#report-figure .main-svg").first).to_be_visible()
    expect(page.locator(".metrics table")).to_contain_text("total return")
