"""Sessions, sign-in throttling and password validation, through the real sign-in form, the
admin's and the token endpoint."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.admin.forms import AdminPasswordChangeForm
from django.contrib.auth.forms import UserCreationForm
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import SignInFailures
from tests.factories import make_user

LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.SIGN_IN_FAILURE_LIMIT = 3
    settings.SIGN_IN_COOL_OFF_SECONDS = 600
    # The API's per-address rate limit off: these tests are about sign-in throttling.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": None, "anon": None},
    }


def sign_in(client, password, username="trader"):
    return client.post(LOGIN, {"username": username, "password": password})


def test_signing_in_rotates_the_session_and_sets_safe_cookies(user):
    client = Client()
    client.get(LOGIN)
    client.cookies["sessionid"] = "a-fixed-session-id-from-an-attacker"

    response = sign_in(client, "pw-trader")

    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session.value != "a-fixed-session-id-from-an-attacker"
    assert session["httponly"] and session["samesite"] == "Lax"
    assert int(session["max-age"]) == django_settings.SESSION_COOKIE_AGE == 12 * 60 * 60
    csrf = response.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"
    assert client.get("/").status_code == 200


def test_the_sign_in_form_locks_a_username_out_after_the_limit_and_says_when(user):
    client = Client()
    assert [sign_in(client, "wrong").status_code for _ in range(2)] == [200, 200]
    locking = sign_in(client, "wrong")

    assert locking.status_code == 429 and 0 < int(locking["Retry-After"]) <= 600
    assert "Too many failed sign-ins" in locking.content.decode()
    assert "Try again in 10 minutes" in locking.content.decode()

    refused = sign_in(client, "pw-trader")  # the right password, during the cool-off
    assert refused.status_code == 429 and "_auth_user_id" not in client.session
    assert "Too many failed sign-ins" in refused.content.decode()

    other_address = Client(REMOTE_ADDR="10.0.0.9")
    assert sign_in(other_address, "pw-trader").status_code == 302
    assert sign_in(client, "x", username="someone-else").status_code == 200


def test_the_lock_ends_after_the_cool_off_and_a_success_clears_the_count(user):
    client = Client()
    for _ in range(3):
        sign_in(client, "wrong")
    SignInFailures.objects.update(locked_until=timezone.now() - timedelta(seconds=1))

    assert sign_in(client, "pw-trader").status_code == 302
    assert not SignInFailures.objects.exists()

    fresh = Client()
    for _ in range(2):
        sign_in(fresh, "wrong")
    assert sign_in(fresh, "pw-trader").status_code == 302  # forgives the two failures
    for _ in range(2):
        assert sign_in(Client(), "wrong").status_code == 200  # counting from zero again


def test_usernames_are_counted_case_blind(user):
    client = Client()
    for name in ("trader", "TRADER", "Trader"):
        sign_in(client, "wrong", username=name)
    assert sign_in(client, "pw-trader").status_code == 429


def test_the_token_endpoint_is_throttled_with_retry_after(user):
    client = APIClient()
    body = {"username": "trader", "password": "wrong"}
    statuses = [client.post(TOKEN, body, format="json").status_code for _ in range(3)]
    assert statuses == [400, 400, 429]

    refused = client.post(TOKEN, {**body, "password": "pw-trader"}, format="json")
    assert refused.status_code == 429 and refused.data["code"] == "throttled"
    assert "Too many failed sign-ins" in refused.data["detail"]
    assert 0 < int(refused["Retry-After"]) <= 600

    SignInFailures.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    assert client.post(TOKEN, {**body, "password": "pw-trader"}, format="json").status_code == 200


def test_the_admin_sign_in_shares_the_count(db):
    make_user("boss", staff=True)
    client = Client()
    for _ in range(2):
        client.post("/admin/login/", {"username": "boss", "password": "wrong"})
    assert sign_in(client, "wrong", username="boss").status_code == 429

    refused = client.post("/admin/login/", {"username": "boss", "password": "pw-boss"})
    assert "Too many failed sign-ins" in refused.content.decode()
    assert client.get("/admin/").status_code == 302


def test_commands_and_tests_without_a_request_are_not_counted(user):
    for _ in range(5):
        assert not Client().login(username="trader", password="wrong")
    assert not SignInFailures.objects.exists()
    assert Client().login(username="trader", password="pw-trader")


def test_the_password_change_page_applies_the_validators(user):
    client = Client()
    client.force_login(user)
    page = "/accounts/password/"
    assert client.get(page).status_code == 200

    for weak in ["12345678", "password", "trader12", "short"]:
        response = client.post(
            page, {"old_password": "pw-trader", "new_password1": weak, "new_password2": weak}
        )
        assert response.status_code == 200 and "field-errors" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password("pw-trader")

    wrong_old = client.post(
        page,
        {"old_password": "nope", "new_password1": "amber-falcon-91", "new_password2": "x"},
    )
    assert "incorrectly" in wrong_old.content.decode()

    changed = client.post(
        page,
        {
            "old_password": "pw-trader",
            "new_password1": "amber-falcon-grid-91",
            "new_password2": "amber-falcon-grid-91",
        },
    )
    assert changed.status_code == 302
    user.refresh_from_db()
    assert user.check_password("amber-falcon-grid-91")
    assert client.get("/").status_code == 200  # this session stays signed in


def test_the_admins_password_forms_apply_the_validators(user):
    weak = AdminPasswordChangeForm(user, {"password1": "12345678", "password2": "12345678"})
    assert not weak.is_valid()
    new_user = UserCreationForm(
        {"username": "newbie", "password1": "password", "password2": "password"}
    )
    assert not new_user.is_valid() and "password2" in new_user.errors


def test_the_password_page_needs_a_signed_in_user(db):
    response = Client().get("/accounts/password/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_failures_are_each_counted_once(settings):
    make_user("trader")
    settings.SIGN_IN_FAILURE_LIMIT = 100

    def fail(_):
        try:
            return sign_in(Client(), "wrong").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(fail, range(24)))

    assert statuses == [200] * 24
    assert SignInFailures.objects.get().failures == 24
