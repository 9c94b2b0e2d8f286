"""Copy trading fan-out: one leader fill mirrored to 1,000 and to 10,000 followers, timed until
every follower order is saved and submitted to the paper exchange (issue 6, item 9).

Runs on the database DATABASE_URL names (PostgreSQL for the issue's figures) in a throwaway
test database. Followers (users, accounts, balances, subscriptions) are bulk-inserted: the
setup is not what is measured. Each follower account's paper venue is opened before the clock
starts, as in a process that has been trading (opening one costs a few queries: see the cold
row). The clock covers what mirror_fill does per chunk of 1,000 (two chunks at once, each on
its own thread and connection): lock the accounts, read their risk state, plan and risk-check
every copy, insert copy trades, orders and audit events (one transaction), mark them sent in
one statement and submit each to its venue. Recording the venues' answers (the IOC fills,
per order through order_report_apply) is timed apart. The note splits the time by stage and
gives the process's CPU time and the machine's load: on a shared machine the wall clock
moves with the neighbours.
"""

from __future__ import annotations

import math
import os
import sys
import time
from decimal import Decimal
from typing import Any

from bench.common import Result

SIZES = (1_000, 10_000)
RECORDED = 1_000  # the largest fan-out whose venue answers are recorded and timed
COLD = 200  # followers whose venues open inside the clock, for the cold row


def _setup() -> Any:
    import django

    django.setup()
    from datetime import UTC, datetime

    from django.test.utils import setup_databases

    from tests.factories import btc_book, make_instrument

    config = setup_databases(verbosity=0, interactive=False)
    make_instrument("BTC-USDT", mark="20000")
    btc_book(datetime.now(UTC), depth=Decimal(100_000))
    return config


def _leader(name: str) -> tuple[Any, int, int]:
    """A public strategy whose account holds nothing yet, and its two buy fills of 1 BTC."""
    from execution.services.fills import fill_record
    from execution.services.orders import order_place
    from strategies.services import strategy_create
    from tests.factories import make_account, make_user

    owner = make_user(f"leader-{name}")
    account = make_account(owner, deposit=Decimal(100_000))
    strategy = strategy_create(
        owner_id=owner.pk, name=name, kind="sma_crossover", account_id=account.pk,
        symbols=["BTC-USDT"], interval="1h", config={"fast_window": 5, "slow_window": 30},
        visibility="public",
    )  # fmt: skip
    fills = []
    for n in range(2):
        order = order_place(
            account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
            quantity="1", price="20000", strategy_id=strategy.pk, submit=False,
        )  # fmt: skip
        # Recorded before anyone follows: the clock, not the fill's signal, runs the fan-out.
        fills.append(fill_record(order_id=order.pk, venue_trade_id=f"lead-{name}-{n}",
                                 quantity="1", price="20000"))  # fmt: skip
    return strategy, fills[0].pk, fills[1].pk


def _followers(strategy: Any, count: int, prefix: str) -> list[Any]:
    from django.contrib.auth import get_user_model

    from copytrading.models import CopySubscription
    from execution.models import Account, Balance

    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"{prefix}{n}", password="!") for n in range(count)]
    )
    accounts = Account.objects.bulk_create(
        [Account(owner=user, name="Main", mode="paper", base_currency="USDT") for user in users]
    )
    Balance.objects.bulk_create(
        [Balance(account=a, currency="USDT", deposited=Decimal(10_000)) for a in accounts]
    )
    CopySubscription.objects.bulk_create(
        [
            CopySubscription(
                follower=a.owner, account=a, strategy=strategy, allocation_percent=Decimal(35),
                start_capital=Decimal(3500), peak_equity=Decimal(3500),
            )
            for a in accounts
        ],
        batch_size=2000,
    )  # fmt: skip
    return accounts


def _fan_out(fill_id: int, *, record: bool, workers: int) -> tuple[float, Any, float, float]:
    """(seconds to save and submit, the MirrorResult with its stage times, seconds to record
    the answers or nan, CPU seconds of this process while saving and submitting)."""
    from copytrading.services.mirroring import fan_out, leader_fill, leader_subscriptions
    from copytrading.services.mirroring import reports_apply as record_answers

    cpu, started = time.process_time(), time.perf_counter()
    leader = leader_fill(fill_id)
    assert leader is not None
    result = fan_out(leader, leader_subscriptions(leader), workers=workers, record=False)
    submitted, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert all(report is not None for _, report, _ in result.sent)
    if not record:
        return submitted, result, math.nan, cpu
    started = time.perf_counter()
    record_answers(result.sent)
    return submitted, result, time.perf_counter() - started, cpu


def _stages(result: Any, cpu: float, workers: int) -> str:
    summed = " summed over threads" if workers > 1 else ""
    return (
        f"{len(result.sent):,} limit IOC orders, chunks of 1,000 on {workers} thread(s): "
        f"saved {result.saving_seconds:.2f} s (lock, read, plan + risk, COPY, commit), "
        f"marked sent + submitted {result.sending_seconds:.2f} s{summed}; "
        f"process CPU {cpu:.2f} s; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


def run() -> list[Result]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings.test")
    config = _setup()
    from django.db import connection
    from django.test.utils import teardown_databases

    from copytrading.services.mirroring import CHUNK_SIZE, WORKERS
    from execution.models import Order
    from execution.services.venues import venue_for_account

    vendor = "PostgreSQL" if connection.vendor == "postgresql" else connection.vendor
    results = []
    try:
        strategy, fill_id, _ = _leader("cold")
        _followers(strategy, COLD, "cold")
        cold, _, _, _ = _fan_out(fill_id, record=False, workers=1)
        results.append(
            Result(f"copy fan-out, {COLD} followers, venues cold ({vendor})", cold * 1000, "ms",
                   note="each follower's paper venue opened inside the clock")
        )  # fmt: skip
        for size in SIZES:
            strategy, fill_id, again_id = _leader(f"warm{size}")
            for account in _followers(strategy, size, f"f{size}-"):
                venue_for_account(account)
            print(f"# copy: {size} followers ready", file=sys.stderr)
            # Recording 10,000 answers one order at a time takes minutes: the 1,000 row shows it.
            record = size <= RECORDED
            submitted, result, recorded, cpu = _fan_out(fill_id, record=record, workers=WORKERS)
            filled = Order.objects.filter(
                copy_trade__leader_fill_id=fill_id, status="filled"
            ).count()
            target = "<= 2 s" if size == 10_000 else ""
            results.append(
                Result(f"copy fan-out, {size:,} followers: saved + submitted ({vendor})",
                       submitted, "s", target, _stages(result, cpu, WORKERS))
            )  # fmt: skip
            if record:
                results.append(
                    Result(f"copy fan-out, {size:,} followers: fills recorded after", recorded,
                           "s", note=f"{filled:,} filled; order_report_apply per order")
                )  # fmt: skip
            if size > CHUNK_SIZE:
                # The leader's second fill to the same followers on one thread: what the
                # parallel chunks gain (this one opens no day rows: they exist now).
                submitted, result, _, cpu = _fan_out(again_id, record=False, workers=1)
                results.append(
                    Result(f"copy fan-out, {size:,} followers, 1 thread, 2nd fill ({vendor})",
                           submitted, "s", note=_stages(result, cpu, 1))
                )  # fmt: skip
    finally:
        connection.close()
        teardown_databases(config, verbosity=0)
    return results
