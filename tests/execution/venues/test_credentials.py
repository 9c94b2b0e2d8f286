"""Encrypted exchange credentials: round trip, rotation, refusals, and nothing leaked."""

from __future__ import annotations

import pytest

from execution.venues.credentials import (
    CredentialsError,
    ExchangeCredentials,
    decrypt_secret,
    encrypt_secret,
    generate_key,
    rotate,
)

OLD = generate_key()
NEW = generate_key()
SECRET = "9B1D7E0F3A5C2B8D6E4F1A0B9C8D7E6F"


def test_round_trip() -> None:
    token = encrypt_secret(SECRET, [OLD])
    assert SECRET not in token
    assert decrypt_secret(token, [OLD]) == SECRET
    assert decrypt_secret(token, f" {OLD} ,") == SECRET  # the setting's comma-separated form


def test_rotation_moves_tokens_to_the_newest_key() -> None:
    old_token = encrypt_secret(SECRET, [OLD])
    assert decrypt_secret(old_token, [NEW, OLD]) == SECRET

    rotated = rotate(old_token, f"{NEW},{OLD}")

    assert decrypt_secret(rotated, [NEW]) == SECRET
    with pytest.raises(CredentialsError):
        decrypt_secret(rotated, [OLD])
    with pytest.raises(CredentialsError):
        decrypt_secret(old_token, [NEW])


def test_new_tokens_use_the_first_key() -> None:
    token = encrypt_secret(SECRET, [NEW, OLD])
    assert decrypt_secret(token, [NEW]) == SECRET


def test_wrong_key_is_refused_clearly_without_echoing_the_token() -> None:
    token = encrypt_secret(SECRET, [OLD])
    with pytest.raises(CredentialsError) as raised:
        decrypt_secret(token, [NEW])
    message = str(raised.value)
    assert "cannot be decrypted with any of the 1 key(s) in EXCHANGE_KEY_ENCRYPTION_KEYS" in message
    assert token not in message and NEW not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    with pytest.raises(CredentialsError, match="cannot be decrypted"):
        decrypt_secret(token[:-4] + "AAAA", [OLD])  # tampered
    with pytest.raises(CredentialsError, match="cannot be decrypted"):
        rotate("not a token", [OLD])


@pytest.mark.parametrize("keys", ["", " , ", []])
def test_missing_key_is_refused(keys: str | list[str]) -> None:
    with pytest.raises(CredentialsError, match="no encryption key configured"):
        encrypt_secret(SECRET, keys)


def test_invalid_key_is_refused_without_echoing_it() -> None:
    bad = "not-a-fernet-key"
    with pytest.raises(CredentialsError, match="key 2 of 2 .* is not a Fernet key") as raised:
        decrypt_secret("x", [NEW, bad])
    assert bad not in str(raised.value)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(CredentialsError, match="empty"):
        encrypt_secret("", [NEW])


def test_credentials_repr_and_str_hide_secrets() -> None:
    credentials = ExchangeCredentials.decrypt(
        api_key=encrypt_secret("3f2c9a4e-key-d0c5e7a8b6f1", [NEW]),
        secret=encrypt_secret(SECRET, [NEW]),
        password=encrypt_secret("Pass-phrase-42", [NEW]),
        keys=[NEW],
    )
    assert credentials.secret == SECRET
    for text in (repr(credentials), str(credentials), f"{credentials}", repr([credentials])):
        assert SECRET not in text
        assert "Pass-phrase-42" not in text
        assert "3f2c9a4e-key-d0c5e7a8b6f1" not in text
        assert "...b6f1" in text


def test_credentials_need_key_and_secret() -> None:
    with pytest.raises(CredentialsError, match="both an API key and a secret"):
        ExchangeCredentials(api_key="k", secret="")
