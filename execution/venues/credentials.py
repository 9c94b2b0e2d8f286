"""Exchange API credentials, encrypted at rest with key rotation (Fernet / MultiFernet).

Keys are Fernet keys (32 url-safe base64-encoded bytes), given newest first, for example from
the ``EXCHANGE_KEY_ENCRYPTION_KEYS`` setting as a comma-separated list; this module takes them
as a parameter and reads no settings. New tokens use the newest key; any listed key decrypts.
To rotate: put a new key first, ``rotate`` every stored token, then drop the old key.

No error message echoes a key, a token or a plaintext.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SETTING = "EXCHANGE_KEY_ENCRYPTION_KEYS"

Keys = str | Sequence[str]


class CredentialsError(Exception):
    """Encryption keys are missing or wrong, or a stored secret cannot be decrypted."""


def generate_key() -> str:
    """A new random Fernet key, to put first in the key list."""
    return Fernet.generate_key().decode("ascii")


def encrypt_secret(plaintext: str, keys: Keys) -> str:
    """Encrypt with the newest key; the token is ASCII text, safe in a text column."""
    if not plaintext:
        raise CredentialsError("there is no secret to encrypt: the value is empty")
    return _fernet(keys).encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt_secret(token: str, keys: Keys) -> str:
    fernet = _fernet(keys)
    try:
        return fernet.decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise _undecryptable(keys) from None


def rotate(token: str, keys: Keys) -> str:
    """The same secret encrypted with the newest key (any listed key may have encrypted it)."""
    fernet = _fernet(keys)
    try:
        return fernet.rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError):
        raise _undecryptable(keys) from None


@dataclass(frozen=True, slots=True)
class ExchangeCredentials:
    """An API key, its secret and (OKX) passphrase in plaintext, for building an exchange
    client only. ``repr`` and ``str`` show at most the key's last four characters, nothing else."""

    api_key: str
    secret: str
    password: str | None = None

    def __post_init__(self) -> None:
        if not self.api_key or not self.secret:
            raise CredentialsError("exchange credentials need both an API key and a secret")

    @classmethod
    def decrypt(
        cls, *, api_key: str, secret: str, password: str | None, keys: Keys
    ) -> ExchangeCredentials:
        """From stored tokens (``password`` None when the exchange has no passphrase)."""
        return cls(
            api_key=decrypt_secret(api_key, keys),
            secret=decrypt_secret(secret, keys),
            password=None if password is None else decrypt_secret(password, keys),
        )

    def __repr__(self) -> str:
        passphrase = "None" if self.password is None else "'***'"
        key_hint = f"...{self.api_key[-4:]}" if len(self.api_key) > 12 else "***"
        return f"ExchangeCredentials(api_key='{key_hint}', secret='***', password={passphrase})"

    __str__ = __repr__


def _key_list(keys: Keys) -> list[str]:
    items = keys.split(",") if isinstance(keys, str) else list(keys)
    return [item.strip() for item in items if item and item.strip()]


def _fernet(keys: Keys) -> MultiFernet:
    key_list = _key_list(keys)
    if not key_list:
        raise CredentialsError(
            f"no encryption key configured: set {SETTING} to a comma-separated list of Fernet "
            "keys, newest first (make one with generate_key())"
        )
    fernets = []
    for position, key in enumerate(key_list, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            raise CredentialsError(
                f"encryption key {position} of {len(key_list)} in {SETTING} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with generate_key())"
            ) from None
    return MultiFernet(fernets)


def _undecryptable(keys: Keys) -> CredentialsError:
    count = len(_key_list(keys))
    return CredentialsError(
        f"a stored exchange secret cannot be decrypted with any of the {count} key(s) in "
        f"{SETTING}: the key that encrypted it was removed, or the stored value was altered"
    )
