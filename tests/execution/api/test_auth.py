"""Token and session authentication, anonymous callers, throttling."""

import pytest
from rest_framework.test import APIClient

from tests.execution.api.conftest import BASE, order_body, row_counts
from tests.execution.api.test_isolation import OPERATIONS

TOKEN = "/api/v1/auth/token/"


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_anonymous_callers_are_refused_everywhere(db, method, path):
    url = BASE + path.format(id="00000000-0000-0000-0000-000000000000", symbol="BTC-USDT")
    before = row_counts()

    response = getattr(APIClient(), method)(url, {}, format="json")

    assert response.status_code == 401
    assert response.data["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"
    assert row_counts() == before


def test_a_wrong_token_is_refused(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get(BASE + "accounts/")
    assert response.status_code == 401 and response.data["code"] == "authentication_failed"


def test_a_token_for_a_username_and_password(user, account):
    client = APIClient()
    wrong = client.post(TOKEN, {"username": "trader", "password": "nope"}, format="json")
    assert wrong.status_code == 400
    assert wrong.data["errors"] == {
        "non_field_errors": ["Unable to log in with provided credentials."]
    }

    response = client.post(TOKEN, {"username": "trader", "password": "pw-trader"}, format="json")

    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.data['token']}")
    assert [a["id"] for a in client.get(BASE + "accounts/").data] == [account.pk]


def test_a_session_works_and_writes_need_the_csrf_token(user, account, btc):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="trader", password="pw-trader")
    assert client.get(BASE + "accounts/").status_code == 200

    before = row_counts()
    refused = client.post(BASE + "orders/", order_body(account), format="json")
    assert refused.status_code == 403 and "CSRF" in refused.data["detail"]
    assert row_counts() == before


def test_throttling_answers_429_with_retry_after(settings, api, account):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "3/minute", "anon": "2/minute"},
    }
    assert [api.get(BASE + "accounts/").status_code for _ in range(4)] == [200, 200, 200, 429]
    throttled = api.get(BASE + "accounts/")
    assert throttled.data["code"] == "throttled" and int(throttled["Retry-After"]) > 0

    anonymous = APIClient()
    statuses = [
        anonymous.post(TOKEN, {"username": "x", "password": "y"}, format="json").status_code
        for _ in range(3)
    ]
    assert statuses == [400, 400, 429]


def test_the_browsable_api_renders_for_a_signed_in_user(user, account, btc):
    client = APIClient()
    client.login(username="trader", password="pw-trader")
    for path in ["orders/", "orders/active/", "positions/", "trades/", "accounts/", "statistics/"]:
        response = client.get(BASE + path, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, path
        assert b"<html" in response.content
