"""Sign in and out in a real browser; the overview and the sign-in page at both widths."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_shows_the_overview_and_sign_out_returns_to_sign_in(browser_page):
    page = browser_page
    user = make_user("alice")

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".form-errors")).to_contain_text("correct username and password")
    screenshot(page, "sign-in")

    sign_in(page, user)
    expect(page.get_by_text("Signed in as alice")).to_be_visible()
    expect(page.locator("#live-status")).to_have_attribute("data-status", "live")
    screenshot(page, "overview")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
