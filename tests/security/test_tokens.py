"""API tokens: made, listed and revoked by their owner through the API, the page and the
command; stored as a SHA-256 only; expired, revoked and others' tokens refused."""

import hashlib
import logging
import re
from datetime import datetime, timedelta
from importlib import import_module
from io import StringIO

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create
from tests.factories import make_user

TOKENS = "/api/v1/auth/tokens/"
PASSWORD_TOKEN = "/api/v1/auth/token/"
ACCOUNTS = "/api/v1/trading/accounts/"


def _parse(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def keyed(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def signed_in(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def bob(db):
    return make_user("bob")


def test_a_token_made_through_the_api_is_shown_once_and_stored_as_a_hash(user):
    made = signed_in(user).post(TOKENS, {"name": "notebook", "expires_in_days": 30}, format="json")

    assert made.status_code == 201 and made["Cache-Control"] == "no-store"
    key = made.data["key"]
    assert len(key) >= 40 and made.data["prefix"] == key[:8]
    assert made.data["name"] == "notebook" and made.data["expired"] is False
    expires = timezone.now() + timedelta(days=30)
    assert abs(_parse(made.data["expires_at"]) - expires) < timedelta(minutes=1)
    stored = ApiToken.objects.get()
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in [str(v) for v in ApiToken.objects.values().get().values()]

    listed = keyed(key).get(TOKENS)
    assert listed.status_code == 200
    assert [t["name"] for t in listed.data] == ["notebook"]
    assert "key" not in listed.data[0] and "key_hash" not in listed.data[0]
    assert key not in listed.content.decode()
    assert keyed(key).get(ACCOUNTS).status_code == 200


def test_a_revoked_token_stops_working_at_once(user):
    key = api_token_create(user_id=user.pk, name="ci").key
    token_id = ApiToken.objects.get().pk
    assert keyed(key).get(ACCOUNTS).status_code == 200

    assert keyed(key).delete(f"{TOKENS}{token_id}/").status_code == 204

    refused = keyed(key).get(ACCOUNTS)
    assert refused.status_code == 401 and refused.data["code"] == "authentication_failed"
    assert not ApiToken.objects.exists()


def test_another_user_can_neither_list_nor_revoke_your_tokens(user, bob):
    key = api_token_create(user_id=user.pk, name="mine").key
    token_id = ApiToken.objects.get().pk
    bobs = signed_in(bob)

    assert bobs.get(TOKENS).data == []
    refused = bobs.delete(f"{TOKENS}{token_id}/")
    assert refused.status_code == 404 and refused.data["code"] == "not_found"
    for pk in ["999999", "abc", "-1", "99999999999999999999"]:
        assert bobs.delete(f"{TOKENS}{pk}/").status_code == 404
    assert keyed(key).get(ACCOUNTS).status_code == 200

    page = Client()
    page.force_login(bob)
    assert page.post(f"/accounts/tokens/{token_id}/revoke/").status_code == 404
    assert keyed(key).get(ACCOUNTS).status_code == 200


def test_an_expired_token_is_refused_and_listed_as_expired(user):
    two_days_ago = timezone.now() - timedelta(days=2)
    issued = api_token_create(
        user_id=user.pk, name="short", expires_in=timedelta(days=1), now=two_days_ago
    )

    refused = keyed(issued.key).get(ACCOUNTS)

    assert refused.status_code == 401 and "expired" in refused.data["detail"]
    assert signed_in(user).get(TOKENS).data[0]["expired"] is True


def test_bad_token_requests_are_refused_by_field_and_save_nothing(user, settings):
    api = signed_in(user)
    for body, field in [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 0}, "name"),  # a number is not a name (schemathesis' coverage phase)
        ({"name": ["a"]}, "name"),
        ({"name": "ok", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "ok", "expires_in_days": 3651}, "expires_in_days"),
        ({"name": "ok", "expires_in_days": "soon"}, "expires_in_days"),
    ]:
        response = api.post(TOKENS, body, format="json")
        assert response.status_code == 400, body
        assert field in response.data["errors"], (body, response.data)
    assert not ApiToken.objects.exists()

    settings.API_TOKENS_PER_USER = 2
    for name in ("a", "b"):
        assert api.post(TOKENS, {"name": name}, format="json").status_code == 201
    third = api.post(TOKENS, {"name": "c"}, format="json")
    assert third.status_code == 400 and "revoke one" in third.data["errors"]["name"][0]
    assert ApiToken.objects.count() == 2


def test_last_use_is_recorded_to_the_minute(user):
    key = api_token_create(user_id=user.pk, name="bot").key
    assert ApiToken.objects.get().last_used_at is None

    keyed(key).get(ACCOUNTS)
    first = ApiToken.objects.get().last_used_at
    keyed(key).get(ACCOUNTS)

    assert first is not None and timezone.now() - first < timedelta(seconds=30)
    assert ApiToken.objects.get().last_used_at == first  # not one write per request


def test_the_password_endpoint_issues_a_new_expiring_token_each_time(user, settings):
    settings.API_TOKEN_PASSWORD_DAYS = 7
    client = APIClient()
    body = {"username": "trader", "password": "pw-trader"}

    first = client.post(PASSWORD_TOKEN, body, format="json")
    second = client.post(PASSWORD_TOKEN, body, format="json")

    assert first.status_code == second.status_code == 200
    assert first["Cache-Control"] == "no-store"
    assert first.data["token"] == first.data["key"] != second.data["token"]
    assert ApiToken.objects.filter(user=user).count() == 2
    expires = _parse(first.data["expires_at"])
    assert abs(expires - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    assert keyed(first.data["token"]).get(ACCOUNTS).status_code == 200


def test_password_sign_ins_keep_their_newest_tokens_and_do_not_count_against_the_limit(
    user, settings
):
    settings.API_TOKEN_PASSWORD_KEEP = 3
    settings.API_TOKENS_PER_USER = 1
    api = signed_in(user)
    assert api.post(TOKENS, {"name": "named"}, format="json").status_code == 201
    body = {"username": "trader", "password": "pw-trader"}
    keys = [APIClient().post(PASSWORD_TOKEN, body, format="json").data["token"] for _ in range(5)]

    listed = api.get(TOKENS).data
    assert sorted(t["source"] for t in listed) == ["api", "password", "password", "password"]
    assert [keyed(key).get(ACCOUNTS).status_code for key in keys] == [401, 401, 200, 200, 200]
    assert api.post(TOKENS, {"name": "second"}, format="json").status_code == 400


def test_a_token_of_an_inactive_user_is_refused(user):
    key = api_token_create(user_id=user.pk, name="old").key
    user.is_active = False
    user.save()
    assert keyed(key).get(ACCOUNTS).status_code == 401


def test_the_tokens_page_shows_a_new_key_once_and_revokes(user):
    page = Client()
    page.force_login(user)

    made = page.post("/accounts/tokens/", {"name": "spreadsheet", "expires_in_days": "90"})

    assert made.status_code == 200
    assert "no-store" in made["Cache-Control"]
    key = re.search(r'id="issued-key"[^>]*value="([^"]+)"', made.content.decode()).group(1)
    assert keyed(key).get(ACCOUNTS).status_code == 200
    again = page.get("/accounts/tokens/").content.decode()
    assert key not in again and "spreadsheet" in again and key[:8] in again

    token = ApiToken.objects.get()
    assert token.expires_at - token.created_at == timedelta(days=90)
    assert token.source == "page" and "the API tokens page" in again
    revoked = page.post(f"/accounts/tokens/{token.pk}/revoke/", follow=True)
    assert revoked.status_code == 200 and "Token revoked" in revoked.content.decode()
    assert keyed(key).get(ACCOUNTS).status_code == 401

    refused = page.post("/accounts/tokens/", {"name": ""})
    assert refused.status_code == 400 and not ApiToken.objects.exists()
    assert page.get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405


def test_the_tokens_page_needs_a_signed_in_user(db):
    response = Client().get("/accounts/tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_command_prints_a_working_key(user):
    out = StringIO()
    call_command("api_token_create", "trader", "--name", "cron job", "--days", "3", stdout=out)
    key = out.getvalue().strip()
    assert keyed(key).get(ACCOUNTS).status_code == 200
    assert ApiToken.objects.get().name == "cron job"
    assert ApiToken.objects.get().source == "command"


def test_the_schema_documents_the_token_operations(user):
    schema = signed_in(user).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/auth/tokens/"])
    assert "delete" in paths["/api/v1/auth/tokens/{id}/"]
    assert "post" in paths["/api/v1/auth/token/"]
    created = paths["/api/v1/auth/tokens/"]["post"]["responses"]["201"]
    assert "key" in str(created) or "ApiTokenIssued" in str(created)


@pytest.mark.django_db(transaction=True)
def test_plain_text_tokens_from_before_are_hashed_and_deleted_by_the_migration(user):
    """Migration 0002 against a table left by rest_framework.authtoken."""
    migration = import_module("accounts.migrations.0002_legacy_drf_tokens")
    legacy_key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "created timestamp with time zone NOT NULL, user_id bigint NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [legacy_key, timezone.now(), user.pk],
        )
    try:
        with connection.schema_editor() as editor:
            migration.hash_legacy_tokens(django_apps, editor)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM authtoken_token")
            assert cursor.fetchone()[0] == 0  # no plain-text key left behind
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE authtoken_token")

    token = ApiToken.objects.get()
    assert token.user == user and token.prefix == legacy_key[:8]
    assert keyed(legacy_key).get(ACCOUNTS).status_code == 200


def test_the_logs_name_tokens_by_prefix_never_by_key(user, caplog):
    caplog.set_level(logging.DEBUG)
    made = signed_in(user).post(TOKENS, {"name": "logged"}, format="json").data
    keyed(made["key"]).get(ACCOUNTS)
    keyed(made["key"]).delete(f"{TOKENS}{made['id']}/")
    keyed(made["key"]).get(ACCOUNTS)  # refused: a revoked key

    assert f"API token {made['id']} ({made['prefix']}…) made" in caplog.text
    assert f"API token {made['id']} of user {user.pk} revoked" in caplog.text
    assert made["key"] not in caplog.text
