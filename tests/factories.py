"""Test data built through the services, as users would build it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model

from execution.models import Account, Instrument
from execution.services.accounts import account_open
from execution.services.marketdata import paper_book_update
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


def btc_book(at, spread_ticks: int = 2, depth: Decimal = Decimal(2)) -> None:
    """Feed a BTC-USDT book centred on 20000 with ``spread_ticks`` ticks of 0.1 between the
    touches and ten levels a side."""
    half = Decimal(spread_ticks) / 20
    bid, ask = Decimal(20000) - half, Decimal(20000) + half
    paper_book_update(
        symbol="BTC-USDT",
        bids=[(bid - Decimal(n) / 10, depth) for n in range(10)],
        asks=[(ask + Decimal(n) / 10, depth) for n in range(10)],
        at=at,
    )


def btc_unstable_spread(start, seconds: int = 96) -> None:
    """One book a second from ``start``, one of them 5000 ticks wide among 2-tick ones: its
    spread_stability_norm_100 stays above 0.8 from second 21 on (cv / (1 + cv) of the last
    100 spreads), long enough to halt the instrument."""
    for n in range(seconds):
        btc_book(start + timedelta(seconds=n), spread_ticks=5000 if n == 21 else 2)
