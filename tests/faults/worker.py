"""The worker of the fault tests: ``python -m tests.faults.worker <celery worker options>``.

The project's Celery worker, with tasks it sends going through the broker too (the test
settings run them eagerly) and a stable paper BTC-USDT book of its own, as a worker next to
a market feed would have: paper venues live in the process that is fed (execution.services.
venues), and signals are planned from the book.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from decimal import Decimal

import django


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings.test")
    django.setup()
    from django.db import connections
    from django.utils import timezone

    from tests.factories import btc_book
    from tradingsite.celery import app

    app.conf.task_always_eager = False
    start = timezone.now() - timedelta(seconds=5)
    for n in range(5):  # the same spread every second: a stable book
        btc_book(start + timedelta(seconds=n), depth=Decimal(50))
    connections.close_all()
    app.worker_main(["worker", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
