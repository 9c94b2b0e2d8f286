"""Exchange credentials: stored encrypted through the service (and its command and admin form),
rotated to the newest key, refused with clear errors, and never shown anywhere in plaintext."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from accounts.services import api_token_create
from execution.domain.errors import DomainError
from execution.models import AccountMode, EventKind, ExchangeCredential, ExecutionEvent
from execution.services.accounts import account_open
from execution.services.live import (
    exchange_credentials_decrypt,
    exchange_credentials_rotate,
    exchange_credentials_set,
)
from execution.services.orders import order_place
from execution.services.venues import venue_for_account
from execution.venues.credentials import decrypt_secret, generate_key
from tests.execution.live.conftest import API_KEY, DEPOSIT, PASSPHRASE, SECRET, secrets_in
from tests.factories import make_account, make_user

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: orders are sent on commit


def credential_events():
    return ExecutionEvent.objects.filter(kind=EventKind.CREDENTIALS_CHANGED).order_by("id")


def everything_said(events):
    return " ".join(e.message + json.dumps(e.data) for e in events)


def set_credentials(account, **kw):
    args = {"account_id": account.pk, "exchange_id": "okx", "api_key": API_KEY, "secret": SECRET,
            "password": PASSPHRASE, "sandbox": True, "actor": "test"}  # fmt: skip
    args.update(kw)
    return exchange_credentials_set(**args)


@pytest.fixture
def live(btc, encryption_key, okx):
    return account_open(
        owner=make_user("keys"), name="Keys", mode=AccountMode.LIVE, deposit=DEPOSIT
    )


def test_credentials_are_stored_as_tokens_with_the_keys_last_four_characters(live, encryption_key):
    credential = set_credentials(live)

    row = ExchangeCredential.objects.get(account=live)
    assert (row.exchange_id, row.sandbox, row.key_hint) == ("okx", True, API_KEY[-4:])
    for token, plaintext in ((row.api_key, API_KEY), (row.secret, SECRET),
                             (row.password, PASSPHRASE)):  # fmt: skip
        assert plaintext not in token
        assert decrypt_secret(token, [encryption_key]) == plaintext
    assert exchange_credentials_decrypt(row).api_key == API_KEY
    (event,) = credential_events()
    assert event.account == live and event.actor == "test"
    assert event.message == "okx API key ...b6f1 set (sandbox)"
    assert not secrets_in(everything_said([event]))
    for text in (repr(credential), str(credential), repr(exchange_credentials_decrypt(row))):
        assert not secrets_in(text)


def test_setting_them_again_replaces_them_and_says_so(live):
    set_credentials(live)
    set_credentials(live, api_key="x" * 28 + "NEW2", sandbox=False)

    row = ExchangeCredential.objects.get(account=live)
    assert (row.key_hint, row.sandbox) == ("NEW2", False)
    replaced = credential_events().last()
    assert replaced.message == "okx API key ...NEW2 replaces ...b6f1 (live trading)"
    assert replaced.data["previous"] == {"exchange_id": "okx", "sandbox": True, "key_hint": "b6f1"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"exchange_id": "nosuchexchange"}, "'nosuchexchange' is not a ccxt exchange id"),
        ({"api_key": "  "}, "need both an API key and its secret"),
        ({"secret": ""}, "need both an API key and its secret"),
        ({"password": None}, "okx needs the API key's passphrase"),
        ({"exchange_id": "bitbank", "password": None}, "bitbank has no sandbox"),
        ({"exchange_id": "coinmate", "sandbox": False}, "coinmate also needs uid"),
        ({"account_id": 999_999}, "account 999999 does not exist"),
    ],
)
def test_bad_credentials_are_refused_clearly_and_store_nothing(live, change, message):
    with pytest.raises(DomainError, match=message) as raised:
        set_credentials(live, **change)
    assert not secrets_in(str(raised.value))
    assert not ExchangeCredential.objects.exists() and not credential_events().exists()


def test_a_paper_account_has_no_exchange_credentials(btc, encryption_key):
    paper = make_account(make_user("paperkeys"))
    with pytest.raises(DomainError, match="is a paper account: exchange credentials are for live"):
        set_credentials(paper)


def test_without_an_encryption_key_the_error_says_what_to_set(live, settings):
    settings.EXCHANGE_KEY_ENCRYPTION_KEYS = []
    with pytest.raises(DomainError, match="set EXCHANGE_KEY_ENCRYPTION_KEYS") as raised:
        set_credentials(live)
    assert "Fernet.generate_key()" in str(raised.value)
    assert not ExchangeCredential.objects.exists()


def test_rotation_moves_every_token_to_the_newest_key(live, settings, encryption_key, okx):
    set_credentials(live)
    old_tokens = ExchangeCredential.objects.values_list("api_key", "secret", "password").get()
    new_key = generate_key()
    settings.EXCHANGE_KEY_ENCRYPTION_KEYS = [new_key, encryption_key]

    assert exchange_credentials_rotate(actor="test") == 1

    row = ExchangeCredential.objects.get()
    assert row.rotated_at is not None
    new_tokens = (row.api_key, row.secret, row.password)
    assert all(new != old for new, old in zip(new_tokens, old_tokens, strict=True))
    settings.EXCHANGE_KEY_ENCRYPTION_KEYS = [new_key]  # the old key can go now
    assert [decrypt_secret(t, [new_key]) for t in new_tokens] == [API_KEY, SECRET, PASSPHRASE]
    venue_for_account(live).balances()  # the client is rebuilt from the rotated tokens
    assert okx.requests[-1].headers["OK-ACCESS-KEY"] == API_KEY
    rotated = credential_events().last()
    assert rotated.message == "okx API key ...b6f1 re-encrypted with the newest key"


def test_rotation_without_the_key_that_encrypted_them_changes_nothing(live, settings):
    set_credentials(live)
    before = ExchangeCredential.objects.values_list("api_key", flat=True).get()
    settings.EXCHANGE_KEY_ENCRYPTION_KEYS = [generate_key()]

    with pytest.raises(DomainError, match="cannot be decrypted") as raised:
        exchange_credentials_rotate(actor="test")

    assert before not in str(raised.value)
    assert ExchangeCredential.objects.values_list("api_key", flat=True).get() == before
    assert credential_events().count() == 1


def test_no_secret_reaches_the_logs_the_events_or_the_api(live, okx, caplog, client):
    caplog.set_level(logging.DEBUG)
    set_credentials(live)
    okx.set_balance("USDT", "1000")
    okx.lose_next_reply = True
    order_place(account_id=live.pk, symbol="BTC-USDT", side="buy", order_type="limit",
                quantity="0.01", price="19990")  # fmt: skip
    venue_for_account(live).balances()

    assert any("OK-ACCESS" in record.getMessage() for record in caplog.records)  # ccxt logged
    assert not secrets_in("\n".join(record.getMessage() for record in caplog.records))
    assert not secrets_in(everything_said(ExecutionEvent.objects.all()))
    key = api_token_create(user_id=live.owner.pk, name="tests").key
    for path in ("/api/v1/trading/accounts/", "/api/v1/trading/orders/"):
        response = client.get(path, HTTP_AUTHORIZATION=f"Token {key}")
        assert response.status_code == 200, path
        assert not secrets_in(response.content.decode())


# -- management commands --------------------------------------------------------------------------


def test_the_command_reads_the_secrets_from_the_environment(live, monkeypatch, capsys):
    monkeypatch.setenv("EXCHANGE_API_KEY", API_KEY)
    monkeypatch.setenv("EXCHANGE_API_SECRET", SECRET)
    monkeypatch.setenv("EXCHANGE_API_PASSPHRASE", PASSPHRASE)

    call_command("exchange_credentials_set", account=live.pk)

    out = capsys.readouterr().out
    assert out.strip() == f"okx API key ...b6f1 set for account {live.pk} (sandbox)"
    row = ExchangeCredential.objects.get(account=live)
    assert exchange_credentials_decrypt(row).secret == SECRET
    assert credential_events().get().actor == "command:exchange_credentials_set"


def test_the_command_reads_the_secrets_from_standard_input(live, monkeypatch, capsys):
    monkeypatch.delenv("EXCHANGE_API_KEY", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{API_KEY}\n{SECRET}\n{PASSPHRASE}\n"))

    call_command("exchange_credentials_set", "--account", str(live.pk), "--no-sandbox")

    assert "(LIVE TRADING)" in capsys.readouterr().out
    row = ExchangeCredential.objects.get(account=live)
    assert row.sandbox is False
    assert exchange_credentials_decrypt(row).password == PASSPHRASE


def test_the_command_takes_no_secret_on_its_command_line(live, monkeypatch):
    with pytest.raises(CommandError, match="unrecognized arguments"):
        call_command("exchange_credentials_set", "--account", str(live.pk), "--api-key", API_KEY)
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{API_KEY}\n\n\n"))
    with pytest.raises(CommandError, match="need both an API key and its secret") as raised:
        call_command("exchange_credentials_set", account=live.pk)
    assert not secrets_in(str(raised.value))


def test_the_rotate_command(live, settings, encryption_key, capsys):
    set_credentials(live)
    settings.EXCHANGE_KEY_ENCRYPTION_KEYS = [generate_key(), encryption_key]
    call_command("exchange_credentials_rotate")
    assert "1 credential(s) re-encrypted" in capsys.readouterr().out
    settings.EXCHANGE_KEY_ENCRYPTION_KEYS = []
    with pytest.raises(CommandError, match="EXCHANGE_KEY_ENCRYPTION_KEYS"):
        call_command("exchange_credentials_rotate")


# -- admin ----------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    staff = make_user("boss", staff=True)
    client.force_login(staff)
    client.staff = staff
    return client


def admin_url(view, *args):
    return reverse(f"admin:execution_exchangecredential_{view}", args=args)


def test_the_admin_takes_credentials_write_only_through_the_service(live, staff_client):
    form = staff_client.get(admin_url("add")).content.decode()
    assert 'type="password"' in form and "new_api_key" in form

    response = staff_client.post(admin_url("add"), {
        "account": live.pk, "exchange_id": "okx", "sandbox": "on",
        "new_api_key": API_KEY, "new_secret": SECRET, "new_password": PASSPHRASE,
    })  # fmt: skip

    assert response.status_code == 302
    row = ExchangeCredential.objects.get(account=live)
    assert exchange_credentials_decrypt(row).api_key == API_KEY
    assert credential_events().get().actor == f"admin:{staff_client.staff.pk}"
    for page in (admin_url("changelist"), admin_url("change", live.pk)):
        html = staff_client.get(page).content.decode()
        assert "b6f1" in html
        assert not secrets_in(html)
        assert row.api_key not in html and row.secret not in html and row.password not in html


def test_the_admin_refuses_bad_credentials_with_the_services_message(live, staff_client):
    response = staff_client.post(admin_url("add"), {
        "account": live.pk, "exchange_id": "okx", "sandbox": "on",
        "new_api_key": API_KEY, "new_secret": SECRET, "new_password": "",
    })  # fmt: skip

    assert response.status_code == 200
    html = response.content.decode()
    assert "okx needs the API key&#x27;s passphrase" in html
    assert not secrets_in(html)  # a refused form is not filled in again
    assert not ExchangeCredential.objects.exists()


def test_the_admin_replaces_and_removes_credentials_with_audit_events(live, staff_client):
    set_credentials(live)
    response = staff_client.post(admin_url("change", live.pk), {
        "exchange_id": "okx", "new_api_key": "y" * 28 + "NEW3", "new_secret": SECRET,
        "new_password": PASSPHRASE,
    })  # fmt: skip
    assert response.status_code == 302
    row = ExchangeCredential.objects.get(account=live)
    assert (row.key_hint, row.sandbox) == ("NEW3", False)

    response = staff_client.post(admin_url("delete", live.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not ExchangeCredential.objects.exists()
    assert [e.data["action"] for e in credential_events()] == ["set", "replaced", "removed"]
