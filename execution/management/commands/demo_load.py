"""Load demo data: a demo user, instruments, a paper account and a little paper trading.

Safe to run again: what exists is kept. Market data is generated from a fixed seed, so every
machine gets the same demo.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from execution.models import Account, Instrument, Order, Position
from execution.services.accounts import account_open
from execution.services.marketdata import paper_book_update
from execution.services.orders import order_place
from execution.services.positions import position_exits_set
from execution.services.venues import Level

DEMO_USER, DEMO_PASSWORD = "demo", "demo-trader"

INSTRUMENTS = [
    # symbol, base, quote, tick, lot, min quantity, min notional, demo mid price
    ("BTC-USDT", "BTC", "USDT", "0.1", "0.00001", "0.00001", "5", "64250"),
    ("ETH-USDT", "ETH", "USDT", "0.01", "0.0001", "0.0001", "5", "3120"),
    ("SOL-USDT", "SOL", "USDT", "0.001", "0.001", "0.01", "5", "148.5"),
]


def demo_book(
    mid: Decimal, tick: Decimal, rng: random.Random, levels: int = 20
) -> tuple[list[Level], list[Level]]:
    """A seeded L2 book around ``mid``: sizes grow away from the touch, as on real books."""
    best_bid = (mid / tick).to_integral_value() * tick - tick
    notional_per_level = Decimal(20_000)
    bids, asks = [], []
    for n in range(levels):
        size = (
            notional_per_level
            * (1 + Decimal(n) / 4)
            / mid
            * Decimal(rng.uniform(0.5, 1.5)).quantize(Decimal("0.01"))
        )
        bids.append((best_bid - tick * n, size.quantize(Decimal("0.001"))))
        asks.append((best_bid + tick * (n + 2), size.quantize(Decimal("0.001"))))
    return bids, asks


class Command(BaseCommand):
    help = "Load demo data (user 'demo', instruments, a paper account with some trades)."

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(20261121)
        user_model = get_user_model()
        user = user_model.objects.filter(username=DEMO_USER).first()
        if user is None:
            user = user_model.objects.create_superuser(DEMO_USER, "demo@example.com", DEMO_PASSWORD)
        with transaction.atomic():
            for symbol, base, quote, tick, lot, min_qty, min_notional, _ in INSTRUMENTS:
                Instrument.objects.get_or_create(
                    symbol=symbol,
                    defaults={
                        "base_currency": base,
                        "quote_currency": quote,
                        "tick_size": Decimal(tick),
                        "lot_size": Decimal(lot),
                        "min_quantity": Decimal(min_qty),
                        "min_notional": Decimal(min_notional),
                    },
                )
        account = Account.objects.filter(owner=user, name="Paper").first()
        if account is None:
            account = account_open(owner=user, name="Paper", deposit=Decimal(100_000), actor="demo")

        for symbol, _base, _quote, tick, *_rules, mid in INSTRUMENTS:
            bids, asks = demo_book(Decimal(mid), Decimal(tick), rng)
            paper_book_update(symbol=symbol, bids=bids, asks=asks)

        if not Order.objects.filter(account=account).exists():
            self._trade(account)
        self.stdout.write(
            self.style.SUCCESS(
                f"demo data ready: sign in as '{DEMO_USER}' with password '{DEMO_PASSWORD}'"
            )
        )

    def _trade(self, account: Account) -> None:
        def place(symbol: str, side: str, quantity: str, price: str | None = None) -> None:
            order_place(
                account_id=account.pk,
                symbol=symbol,
                side=side,
                quantity=quantity,
                order_type="limit" if price else "market",
                price=price,
                actor="demo",
            )

        place("BTC-USDT", "buy", "0.25")
        place("ETH-USDT", "sell", "3")
        place("SOL-USDT", "buy", "40", price="147.500")  # rests below the touch
        place("BTC-USDT", "sell", "0.1")
        btc = Position.objects.get(account=account, instrument__symbol="BTC-USDT")
        position_exits_set(
            position_id=btc.pk, stop_loss_price="61000", take_profit_price="70000", actor="demo"
        )
