"""Live accounts' exchange API credentials: stored encrypted, rotated, read only to trade.

A plaintext key, secret or passphrase exists only while a call here validates and encrypts it,
and while ``venue_for_account`` builds the exchange client from it. It is never logged, put in
an audit event or an error message, or returned: the ``ExchangeCredential`` row holds Fernet
tokens (execution.venues.credentials) and the key's last four characters, to tell keys apart.
"""

from __future__ import annotations

from typing import Any

import ccxt
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from execution.domain.errors import DomainError
from execution.models import Account, AccountMode, EventKind, ExchangeCredential
from execution.services.events import event_append
from execution.venues.credentials import (
    SETTING,
    CredentialsError,
    ExchangeCredentials,
    encrypt_secret,
    rotate,
)

# The credentials this platform stores; an exchange that needs more (a uid, a private key)
# cannot be traded through it.
_STORED = {"apiKey", "secret", "password"}
_HINT_MIN_LENGTH = 13  # a shorter key would give away too much of itself in four characters


def encryption_keys() -> list[str]:
    """The Fernet keys of ``EXCHANGE_KEY_ENCRYPTION_KEYS``, newest first."""
    configured = getattr(settings, SETTING, None) or []
    keys = configured.split(",") if isinstance(configured, str) else list(configured)
    keys = [key.strip() for key in keys if key and key.strip()]
    if not keys:
        raise DomainError(
            f"no encryption key for exchange credentials: set {SETTING} to a comma-separated "
            'list of Fernet keys, newest first (make one with `python -c "from '
            'cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`)'
        )
    return keys


def exchange_credentials_check(
    *,
    account_id: int,
    exchange_id: str,
    api_key: str,
    secret: str,
    password: str | None,
    sandbox: bool,
) -> Account:
    """Refuse credentials that cannot work, without echoing them; returns the account."""
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        raise DomainError(f"account {account_id} does not exist")
    if account.mode != AccountMode.LIVE:
        raise DomainError(
            f"account {account.name!r} is a {account.mode} account: exchange credentials are "
            "for live accounts"
        )
    exchange = _exchange_class(exchange_id)()
    if not (api_key or "").strip() or not (secret or "").strip():
        raise DomainError("exchange credentials need both an API key and its secret")
    required = {name for name, needed in exchange.requiredCredentials.items() if needed}
    if required - _STORED:
        raise DomainError(
            f"{exchange_id} also needs {', '.join(sorted(required - _STORED))}; this platform "
            "stores an API key, a secret and a passphrase only"
        )
    if "password" in required and not (password or "").strip():
        raise DomainError(f"{exchange_id} needs the API key's passphrase as well")
    if sandbox and not (exchange.urls or {}).get("test"):
        raise DomainError(f"{exchange_id} has no sandbox (demo trading) to connect to")
    return account


def exchange_credentials_set(
    *,
    account_id: int,
    exchange_id: str,
    api_key: str,
    secret: str,
    password: str | None,
    sandbox: bool,
    actor: str,
) -> ExchangeCredential:
    """Store (or replace) a live account's exchange credentials, encrypted with the newest key.

    The account's exchange client is rebuilt with them on its next use.
    """
    exchange_id = (exchange_id or "").strip().lower()
    account = exchange_credentials_check(
        account_id=account_id, exchange_id=exchange_id, api_key=api_key, secret=secret,
        password=password, sandbox=sandbox,
    )  # fmt: skip
    api_key, secret, password = api_key.strip(), secret.strip(), (password or "").strip()
    keys = encryption_keys()
    try:
        tokens = {
            "api_key": encrypt_secret(api_key, keys),
            "secret": encrypt_secret(secret, keys),
            "password": encrypt_secret(password, keys) if password else "",
        }
    except CredentialsError as error:
        raise DomainError(str(error)) from None
    key_hint = api_key[-4:] if len(api_key) >= _HINT_MIN_LENGTH else ""
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        previous = ExchangeCredential.objects.filter(account=account).first()
        credential, created = ExchangeCredential.objects.update_or_create(
            account=account,
            defaults={"exchange_id": exchange_id, "sandbox": sandbox, "key_hint": key_hint,
                      "rotated_at": None, **tokens},
        )  # fmt: skip
        where = "sandbox" if sandbox else "live trading"
        event_append(
            kind=EventKind.CREDENTIALS_CHANGED,
            actor=actor,
            account=account,
            message=f"{exchange_id} API key {_shown(key_hint)} "
            + ("set" if created else f"replaces {_shown(previous.key_hint if previous else '')}")
            + f" ({where})",
            data={
                "action": "set" if created else "replaced",
                "exchange_id": exchange_id,
                "sandbox": sandbox,
                "key_hint": key_hint,
                "previous": None if previous is None else _public(previous),
            },
        )
    return credential


@transaction.atomic
def exchange_credentials_remove(*, account_id: int, actor: str) -> bool:
    """Forget a live account's exchange credentials; False when it had none."""
    credential = (
        ExchangeCredential.objects.select_for_update()
        .select_related("account")
        .filter(account_id=account_id)
        .first()
    )
    if credential is None:
        return False
    event_append(
        kind=EventKind.CREDENTIALS_CHANGED,
        actor=actor,
        account=credential.account,
        message=f"{credential.exchange_id} API key {_shown(credential.key_hint)} removed",
        data={"action": "removed", **_public(credential)},
    )
    credential.delete()
    return True


def exchange_credentials_rotate(*, actor: str) -> int:
    """Re-encrypt every stored credential with the newest key; returns how many.

    To retire a key: put a new key first in the setting, rotate, then drop the old key. All or
    nothing: one credential no listed key can decrypt leaves every row as it was.
    """
    keys = encryption_keys()
    now = timezone.now()
    with transaction.atomic():
        credentials = list(
            ExchangeCredential.objects.select_for_update(of=("self",))
            .select_related("account")
            .order_by("pk")
        )
        for credential in credentials:
            try:
                credential.api_key = rotate(credential.api_key, keys)
                credential.secret = rotate(credential.secret, keys)
                if credential.password:
                    credential.password = rotate(credential.password, keys)
            except CredentialsError as error:
                raise DomainError(
                    f"account {credential.account_id}'s exchange credentials: {error}; "
                    "nothing was rotated"
                ) from None
            credential.rotated_at = now
            credential.save(update_fields=["api_key", "secret", "password", "rotated_at"])
            event_append(
                kind=EventKind.CREDENTIALS_CHANGED,
                actor=actor,
                account=credential.account,
                message=f"{credential.exchange_id} API key {_shown(credential.key_hint)} "
                "re-encrypted with the newest key",
                data={"action": "rotated", **_public(credential)},
            )
    return len(credentials)


def exchange_credentials_decrypt(credential: ExchangeCredential) -> ExchangeCredentials:
    """The plaintext credentials, for building the account's exchange client only."""
    try:
        return ExchangeCredentials.decrypt(
            api_key=credential.api_key,
            secret=credential.secret,
            password=credential.password or None,
            keys=encryption_keys(),
        )
    except CredentialsError as error:
        raise DomainError(
            f"account {credential.account_id}'s exchange credentials: {error}"
        ) from None


def _exchange_class(exchange_id: str) -> Any:
    exchange_class = getattr(ccxt, exchange_id, None) if exchange_id in ccxt.exchanges else None
    if not (isinstance(exchange_class, type) and issubclass(exchange_class, ccxt.Exchange)):
        raise DomainError(f"{exchange_id!r} is not a ccxt exchange id (okx, for example)")
    return exchange_class


def _shown(key_hint: str) -> str:
    return f"...{key_hint}" if key_hint else "(hidden)"


def _public(credential: ExchangeCredential) -> dict[str, Any]:
    """What an audit event may say about stored credentials: no token, no plaintext."""
    return {
        "exchange_id": credential.exchange_id,
        "sandbox": credential.sandbox,
        "key_hint": credential.key_hint,
    }
