"""Live accounts against a fake OKX at the network edge: ccxt, the ccxt venue, the services and
the tasks are all real; only ``requests``' session answers from tests.okx_fake."""

from __future__ import annotations

from decimal import Decimal

import pytest

from execution.models import Account, AccountMode
from execution.services.accounts import account_open
from execution.services.live import exchange_credentials_set
from execution.services.venues import live_venues_reset, paper_reset
from execution.venues.credentials import generate_key
from tests.factories import make_instrument, make_user
from tests.okx_fake import FakeOkx, install_fake_okx

API_KEY = "3f2c9a4e-key-0000-1111-d0c5e7a8b6f1"
SECRET = "9B1D7E0F3A5C2B8D6E4F1A0B9C8D7E6F"
PASSPHRASE = "Pass-phrase-42"
DEPOSIT = Decimal(1_000_000)


@pytest.fixture(autouse=True)
def clean_venues():
    paper_reset()
    live_venues_reset()
    yield
    paper_reset()
    live_venues_reset()


@pytest.fixture
def encryption_key(settings) -> str:
    key = generate_key()
    settings.EXCHANGE_KEY_ENCRYPTION_KEYS = [key]
    return key


@pytest.fixture
def okx(monkeypatch) -> FakeOkx:
    return install_fake_okx(monkeypatch)


@pytest.fixture
def btc(db):
    # On OKX's grid for BTC-USDT (tick 0.1, lot 0.00000001).
    return make_instrument("BTC-USDT", mark="20000", tick="0.1", lot="0.001", min_notional="5")


@pytest.fixture
def live_account(db, btc, encryption_key, okx) -> Account:
    """A live account on OKX's demo trading, holding its deposit at the exchange too."""
    account = account_open(
        owner=make_user("live"), name="Live", mode=AccountMode.LIVE, deposit=DEPOSIT
    )
    exchange_credentials_set(
        account_id=account.pk, exchange_id="okx", api_key=API_KEY, secret=SECRET,
        password=PASSPHRASE, sandbox=True, actor="test",
    )  # fmt: skip
    okx.set_balance("USDT", DEPOSIT)
    return account


def secrets_in(text: str) -> list[str]:
    return [secret for secret in (API_KEY, SECRET, PASSPHRASE) if secret in text]
