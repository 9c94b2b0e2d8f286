"""Run the simulated market feed in the foreground (execution.services.marketfeed)."""

from __future__ import annotations

import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from execution.services.marketfeed import market_feed_run


class Command(BaseCommand):
    help = (
        "Feed simulated L2 books of every active instrument to this process's paper exchange, "
        "one a second, until interrupted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=20261121, help="the market's seed")
        parser.add_argument(
            "--snapshots", type=int, default=None, help="stop after this many books"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        try:
            sent = market_feed_run(
                stop=stop, seed=options["seed"], max_snapshots=options["snapshots"]
            )
        except KeyboardInterrupt:
            stop.set()
            return
        self.stdout.write(f"{sent} book snapshots fed")
