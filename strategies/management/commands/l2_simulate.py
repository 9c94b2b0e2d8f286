"""Store a seeded simulated L2 history for an instrument: ``manage.py l2_simulate --symbol
BTC-USDT --price 30000 [--start 2024-01-01T00:00] [--bars 60] [--interval 1m] [--seed 0]``.

The book and tape come from ``execution.domain.marketsim`` (its mid follows a seeded random
walk of candles), stored as BookSnapshot and MarketTrade rows for ``manage.py backtest --data
l2``. The same seed and window stored again adds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from execution.domain.errors import DomainError
from execution.domain.marketsim import MarketSimConfig
from strategies.l2_history import L2HistoryError, l2_history_simulate
from strategies.services import interval_seconds


class Command(BaseCommand):
    help = "Store a seeded simulated L2 book and trade history for an instrument."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbol", required=True, help="an existing instrument")
        parser.add_argument("--price", required=True, help="the mid the walk starts from")
        parser.add_argument("--start", default="2024-01-01T00:00:00", help="UTC, ISO 8601")
        parser.add_argument("--bars", type=int, default=60, help="bars of the walk")
        parser.add_argument("--interval", default="1m", help="bar length, e.g. 1m, 1h")
        parser.add_argument("--volatility", type=float, default=0.001, help="per bar")
        parser.add_argument("--volume", help="base units traded a bar (default: 2M quote)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--substeps", type=int, default=60, help="book snapshots a bar")
        parser.add_argument("--levels", type=int, default=10, help="levels a side")

    def handle(self, *args: Any, **options: Any) -> None:
        seconds = interval_seconds(options["interval"])
        if seconds is None:
            raise CommandError(f"--interval {options['interval']!r} is not such as 1m or 1h")
        try:
            start = datetime.fromisoformat(options["start"])
            price = Decimal(options["price"])
            volume = None if options["volume"] is None else Decimal(options["volume"])
        except (ValueError, InvalidOperation):
            raise CommandError("--start must be ISO 8601 and --price a number") from None
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        try:
            config = MarketSimConfig(substeps=options["substeps"], levels=options["levels"])
            history = l2_history_simulate(
                symbol=options["symbol"], start=start, bars=options["bars"],
                interval=timedelta(seconds=seconds), price=price,
                volatility=options["volatility"], volume=volume, seed=options["seed"],
                config=config,
            )  # fmt: skip
        except L2HistoryError as error:
            raise CommandError(f"refused: {error.field}: {error}") from None
        except DomainError as error:
            raise CommandError(f"refused: {error}") from None
        self.stdout.write(str(history.books))
        self.stdout.write(str(history.trades))
        self.stdout.write(f"mid {history.first_mid} -> {history.last_mid}")
