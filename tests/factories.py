"""Test data built through the services, as users would build it."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model

from execution.models import Account, Instrument
from execution.services.accounts import account_open
from execution.services.positions import positions_mark


def make_user(username: str, *, staff: bool = False):
    return get_user_model().objects.create_user(
        username=username, password="pw-" + username, is_staff=staff, is_superuser=staff
    )


def make_instrument(
    symbol: str = "BTC-USDT",
    *,
    mark: str | None = None,
    tick: str = "0.1",
    lot: str = "0.0001",
    min_notional: str = "5",
) -> Instrument:
    base, quote = symbol.split("-")
    instrument = Instrument.objects.create(
        symbol=symbol,
        base_currency=base,
        quote_currency=quote,
        tick_size=Decimal(tick),
        lot_size=Decimal(lot),
        min_quantity=Decimal(lot),
        min_notional=Decimal(min_notional),
    )
    if mark is not None:
        positions_mark(symbol=symbol, mark_price=Decimal(mark))
        instrument.refresh_from_db()
    return instrument


def make_account(owner, *, name: str = "Main", deposit: Decimal = Decimal(100_000)) -> Account:
    return account_open(owner=owner, name=name, deposit=deposit, base_currency="USDT")
