"""Run the simulated market in the foreground (execution.services.marketfeed and replay): the
process that runs it holds the paper exchange's books."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from execution.services.marketfeed import market_feed_run
from execution.services.replay import ReplayError, market_replay_run, replay_speed_checked


class Command(BaseCommand):
    help = (
        "Feed simulated L2 books of every active instrument to this process's paper exchange "
        "until interrupted: a random walk (--source walk, one book a second) or the demo's "
        "package history replayed forward (--source replay, --speed bars a second)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--source", choices=sorted(settings.MARKET_SOURCES), default=None,
            help="what the market follows (default: the MARKET_SOURCE setting)",
        )  # fmt: skip
        parser.add_argument("--seed", type=int, default=20261121, help="the walk's seed")
        parser.add_argument(
            "--snapshots", type=int, default=None, help="walk: stop after this many books"
        )
        parser.add_argument(
            "--speed", type=float, default=None,
            help="replay: bars a second (default: the REPLAY_SPEED setting)",
        )  # fmt: skip
        parser.add_argument(
            "--bars", type=int, default=None, help="replay: stop after this many closed bars"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        source = options["source"] or settings.MARKET_SOURCE
        try:
            if source == "replay":
                speed = options["speed"] if options["speed"] is not None else settings.REPLAY_SPEED
                run = market_replay_run(
                    stop=stop, speed=replay_speed_checked(speed), max_bars=options["bars"]
                )
                self.stdout.write(
                    f"{run.bars} bars replayed ({', '.join(run.symbols) or 'no instrument'}), "
                    f"{run.books} book snapshots fed"
                )
                return
            sent = market_feed_run(
                stop=stop, seed=options["seed"], max_snapshots=options["snapshots"]
            )
        except ReplayError as error:
            raise CommandError(str(error)) from None
        except KeyboardInterrupt:
            stop.set()
            return
        self.stdout.write(f"{sent} book snapshots fed")
