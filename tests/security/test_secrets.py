"""Secrets: exchange API keys are encrypted at rest and rotate; no plaintext key, secret or
passphrase is in a database dump (``manage.py dumpdata``, and pg_dump or the SQLite file
itself), in a log line, an error message, an API answer or an admin page. Production takes
SECRET_KEY and the encryption keys from the environment only.

The credentials are stored the way an operator stores them: ``manage.py
exchange_credentials_set`` reading them from the environment; rotation through ``manage.py
exchange_credentials_rotate``. The exchange is the fake OKX at the network edge
(tests/okx_fake.py); everything else is real.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection

from accounts.services import api_token_create
from execution.domain.errors import DomainError
from execution.models import AccountMode, ExchangeCredential, ExecutionEvent
from execution.services.accounts import account_open
from execution.services.live import exchange_credentials_decrypt, exchange_credentials_rotate
from execution.services.orders import order_place
from execution.services.venues import live_venues_reset, paper_reset, venue_for_account
from execution.venues.credentials import CredentialsError, decrypt_secret, generate_key
from tests.factories import make_instrument, make_user
from tests.okx_fake import FakeOkx, install_fake_okx
from tests.security.conftest import session_client, token_client
from tests.security.test_isolation_matrix import concrete, routes

# A fresh cache and paper exchange, no rate limit: a refusal seen is the one under test.
pytestmark = pytest.mark.usefixtures("clean_state")

ROOT = Path(__file__).resolve().parents[2]
OWNERS = ("erin", "frank", "grace")


def plaintexts(owner: str) -> dict[str, str]:
    """An owner's key, secret and passphrase: random, so no fixture text can match by chance."""
    tag = secrets.token_hex(6)
    return {
        "EXCHANGE_API_KEY": f"{owner}-apikey-{tag}-{secrets.token_hex(8)}",
        "EXCHANGE_API_SECRET": f"{owner}-SECRET-{secrets.token_hex(16)}",
        "EXCHANGE_API_PASSPHRASE": f"{owner}-Pass-{secrets.token_hex(4)}",
    }


@pytest.fixture(autouse=True)
def clean_venues():
    paper_reset()
    live_venues_reset()
    yield
    paper_reset()
    live_venues_reset()


@pytest.fixture
def okx(monkeypatch) -> FakeOkx:
    return install_fake_okx(monkeypatch)


def store_credentials(monkeypatch: Any, settings: Any) -> dict[str, Any]:
    """Three live accounts of three owners, credentials set by the command from the env."""
    key = generate_key()
    settings.EXCHANGE_KEY_ENCRYPTION_KEYS = [key]
    make_instrument("BTC-USDT", mark="20000", tick="0.1", lot="0.001", min_notional="5")
    accounts, texts = {}, {}
    for owner in OWNERS:
        user = make_user(owner, staff=owner == "grace")
        account = account_open(
            owner=user, name=f"{owner}-live", mode=AccountMode.LIVE, deposit=Decimal(100_000)
        )
        texts[owner] = plaintexts(owner)
        for name, value in texts[owner].items():
            monkeypatch.setenv(name, value)
        call_command("exchange_credentials_set", "--account", str(account.pk), stdout=StringIO())
        accounts[owner] = account
    for name in texts[OWNERS[0]]:
        monkeypatch.delenv(name)
    return {"key": key, "accounts": accounts, "texts": texts}


def every_plaintext(stored: dict[str, Any]) -> list[str]:
    return [value for texts in stored["texts"].values() for value in texts.values()]


def leaks(text: str, stored: dict[str, Any]) -> list[str]:
    return [value for value in every_plaintext(stored) if value in text]


def test_credentials_are_stored_encrypted_and_decrypt_to_what_was_set(db, monkeypatch, settings):
    stored = store_credentials(monkeypatch, settings)
    rows = ExchangeCredential.objects.order_by("account_id")
    assert rows.count() == len(OWNERS)
    for row in rows:
        owner = row.account.owner.username
        texts = stored["texts"][owner]
        assert not leaks(" ".join(map(str, row.__dict__.values())), stored)
        decrypted = exchange_credentials_decrypt(row)
        assert (decrypted.api_key, decrypted.secret, decrypted.password) == (
            texts["EXCHANGE_API_KEY"],
            texts["EXCHANGE_API_SECRET"],
            texts["EXCHANGE_API_PASSPHRASE"],
        )


def test_dumpdata_shows_no_plaintext(db, monkeypatch, settings):
    stored = store_credentials(monkeypatch, settings)
    out = StringIO()
    # The feature catalogue's admin model has no table (mlmodels.FeatureCatalogueEntry).
    call_command("dumpdata", "--exclude", "mlmodels.FeatureCatalogueEntry", stdout=out)
    dump = out.getvalue()
    tokens = ExchangeCredential.objects.values_list("secret", flat=True)
    assert all(token in dump for token in tokens)  # the control: the rows are in the dump
    assert not leaks(dump, stored)


@pytest.mark.django_db(transaction=True)
def test_the_database_itself_shows_no_plaintext(monkeypatch, settings):
    """pg_dump of the test database on PostgreSQL; the database file's bytes on SQLite (both
    after commit: what a stolen backup or disk holds)."""
    stored = store_credentials(monkeypatch, settings)
    tokens = list(ExchangeCredential.objects.values_list("secret", flat=True))
    database = connection.settings_dict
    if connection.vendor == "postgresql":
        env = {**os.environ, "PGPASSWORD": database.get("PASSWORD") or ""}
        command = ["pg_dump", "--no-owner", "-h", database.get("HOST") or "127.0.0.1",
                   "-p", str(database.get("PORT") or 5432),
                   "-U", database.get("USER") or "postgres", database["NAME"]]  # fmt: skip
        dump = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    else:
        connection.close()  # everything on disk
        dump = Path(database["NAME"]).read_bytes().decode("latin-1")
    assert all(token in dump for token in tokens), "the control: the rows are in the dump"
    assert not leaks(dump, stored)


def test_rotation_re_encrypts_every_row_for_the_new_key_alone(db, monkeypatch, settings):
    stored = store_credentials(monkeypatch, settings)
    old_key, new_key = stored["key"], generate_key()
    before = {
        row["account_id"]: row
        for row in ExchangeCredential.objects.values("account_id", "api_key", "secret", "password")
    }
    settings.EXCHANGE_KEY_ENCRYPTION_KEYS = [new_key, old_key]
    out = StringIO()
    call_command("exchange_credentials_rotate", stdout=out)
    assert f"{len(OWNERS)} credential(s) re-encrypted" in out.getvalue()
    assert not leaks(out.getvalue(), stored)

    settings.EXCHANGE_KEY_ENCRYPTION_KEYS = [new_key]  # the old key is retired
    for row in ExchangeCredential.objects.select_related("account__owner"):
        texts = stored["texts"][row.account.owner.username]
        old = before[row.account_id]
        for column, name in (("api_key", "EXCHANGE_API_KEY"), ("secret", "EXCHANGE_API_SECRET"),
                             ("password", "EXCHANGE_API_PASSPHRASE")):  # fmt: skip
            token = getattr(row, column)
            assert token != old[column], f"{column} of account {row.account_id} not rotated"
            assert decrypt_secret(token, [new_key]) == texts[name]
            with pytest.raises(CredentialsError):
                decrypt_secret(token, [old_key])
        assert row.rotated_at is not None
    # And the platform trades with the rotated credentials and the new key alone.
    decrypted = exchange_credentials_decrypt(ExchangeCredential.objects.first())
    assert decrypted.secret in every_plaintext(stored)


def test_no_plaintext_in_logs_errors_events_api_or_admin(db, monkeypatch, settings, okx, caplog):
    caplog.set_level(logging.DEBUG)
    stored = store_credentials(monkeypatch, settings)
    erin = stored["accounts"]["erin"]
    said: list[str] = []
    # Use: the exchange client is built from the decrypted credentials and signs requests.
    okx.set_balance("USDT", "1000")
    venue_for_account(erin).balances()
    order_place(account_id=erin.pk, symbol="BTC-USDT", side="buy", order_type="limit",
                quantity="0.01", price="19990")  # fmt: skip
    assert okx.requests[-1].headers["OK-ACCESS-KEY"] in every_plaintext(stored)  # the control
    # Errors: a lost reply, a rotation without the key that encrypted them, a wrong setting.
    okx.lose_next_reply = True
    order_place(account_id=erin.pk, symbol="BTC-USDT", side="buy", order_type="limit",
                quantity="0.01", price="19980")  # fmt: skip
    settings.EXCHANGE_KEY_ENCRYPTION_KEYS = [generate_key()]
    with pytest.raises(DomainError) as refused:
        exchange_credentials_rotate(actor="test")
    said.append(str(refused.value))
    settings.EXCHANGE_KEY_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    live_venues_reset()
    try:
        venue_for_account(erin).balances()
    except Exception as error:  # the message the operator sees, whatever its class
        said.append(f"{type(error).__name__}: {error}")
    settings.EXCHANGE_KEY_ENCRYPTION_KEYS = [stored["key"]]
    live_venues_reset()

    said += [record.getMessage() for record in caplog.records]
    said += [f"{e.message} {json.dumps(e.data, default=str)}" for e in ExecutionEvent.objects.all()]
    # Every page and endpoint without parameters, as the owner (by token and session) and as
    # staff, and the admin's credential and account pages.
    owner_api, owner_page = token_client(erin.owner), session_client(erin.owner)
    staff = session_client(stored["accounts"]["grace"].owner)
    answered = 0
    for route in routes():
        if route.has_parameters or "logout" in route.pattern:
            continue
        path = concrete(route.pattern, {})
        for client in (owner_api, owner_page, staff):
            response = client.get(path)
            if getattr(response, "streaming", False):
                continue
            said.append(response.content.decode("utf-8", "replace"))
            answered += 1
    credential = ExchangeCredential.objects.get(account=erin)
    for path in (f"/admin/execution/exchangecredential/{credential.pk}/change/",
                 f"/admin/execution/account/{erin.pk}/change/",
                 "/admin/execution/exchangecredential/?q=apikey",
                 "/admin/execution/executionevent/"):  # fmt: skip
        response = staff.get(path)
        assert response.status_code == 200, path
        said.append(response.content.decode())
    key = api_token_create(user_id=erin.owner.pk, name="reader").key
    assert key  # a token of the owner's own: its key is no exchange secret
    assert answered > 50
    found = leaks("\n".join(said), stored)
    assert not found, f"plaintext credentials were shown: {found}"


# --- production settings ---------------------------------------------------------------------


def production_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps({'secret_key': settings.SECRET_KEY, "
        "'keys': settings.EXCHANGE_KEY_ENCRYPTION_KEYS, 'debug': settings.DEBUG}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "EXCHANGE"))}
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**clean, "DJANGO_SETTINGS_MODULE": "tradingsite.settings.production", **env},
    )  # fmt: skip


def test_production_takes_its_secrets_from_the_environment_only():
    secret_key = secrets.token_urlsafe(64)
    keys = [generate_key(), generate_key()]
    env = {
        "SECRET_KEY": secret_key,
        "EXCHANGE_KEY_ENCRYPTION_KEYS": ",".join(keys),
        "DATABASE_URL": "postgres://trading@db.internal:5432/trading",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "ALLOWED_HOSTS": "trading.example.com",
    }
    ran = production_settings(env)
    assert ran.returncode == 0, ran.stderr[-2000:]
    loaded = json.loads(ran.stdout.strip().splitlines()[-1])
    assert loaded == {"secret_key": secret_key, "keys": keys, "debug": False}
    # Without SECRET_KEY in the environment production does not start: no default to fall on.
    missing = production_settings({k: v for k, v in env.items() if k != "SECRET_KEY"})
    assert missing.returncode != 0 and "SECRET_KEY" in missing.stderr
    assert secret_key not in missing.stderr
    # No settings module of the site carries a secret of its own, except the test settings'.
    for path in (ROOT / "tradingsite" / "settings").glob("*.py"):
        source = path.read_text()
        assert "EXCHANGE_KEY_ENCRYPTION_KEYS = [" not in source.replace(" ", " "), path
        if path.name not in ("test.py", "local.py"):
            assert 'SECRET_KEY = "' not in source, path
    assert django_settings.SECRET_KEY == "test-only-secret-key"  # tests run on their own key
