"""Load the demo world (tradingsite.demo): users, days of candles, a model, strategies with
backtests, copy subscriptions. Safe to run again and to interrupt: a rerun keeps what exists
and fills in what is missing."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tradingsite import demo


class Command(BaseCommand):
    help = "Load (or complete) the demo: a leader, two followers, strategies, a model, copies."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="printed at the end")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            summary = demo.demo_build(say=self.stdout.write)
        except KeyboardInterrupt:
            # Every step keeps what it finished: the next run picks up from there.
            raise CommandError("interrupted: run it again to finish the demo") from None
        took = time.monotonic() - started
        created = ", ".join(f"{n} {what}" for what, n in summary.created.items()) or "nothing new"
        kept = ", ".join(f"{n} {what}" for what, n in summary.kept.items()) or "nothing"
        write = self.stdout.write
        write(f"\ndemo ready in {took:.1f} s: created {created}; kept {kept}")
        write(f"  open {options['url']} (admin: {options['url']}admin/)")
        write(
            f"  leader (staff): sign in as '{demo.LEADER}' with password '{demo.LEADER_PASSWORD}'"
        )
        for name in demo.FOLLOWERS:
            write(f"  follower: sign in as '{name}' with password '{demo.FOLLOWER_PASSWORD}'")
        symbols = {s.name: s.symbol for s in demo.STRATEGIES}
        for name, status in summary.strategies.items():
            write(f"  strategy of '{demo.LEADER}' (public, {symbols[name]} 1m): {name}, {status}")
