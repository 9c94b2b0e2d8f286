"""Copy trading fan-out: one leader fill mirrored to 1,000 and to 10,000 followers, timed until
every follower order is saved and submitted to the paper exchange (issue 6, item 9).

Runs on the database DATABASE_URL names (PostgreSQL for the issue's figures) in a throwaway
test database. Followers (users, accounts, balances, subscriptions) are bulk-inserted: the
setup is not what is measured. Each follower account's paper venue is opened before the clock
starts, as in a process that has been trading (opening one costs a few queries: see the cold
row). The clock covers what mirror_fill does per chunk of 1,000 (two chunks at once, each on
its own thread and connection): lock the accounts, read their risk state, plan and risk-check
every copy, insert copy trades, orders and audit events (one transaction), mark them sent in
one statement and submit each to its venue. Recording the venues' answers (the IOC fills)
is timed apart: the 1,000 answers one order at a time through order_report_apply (the path
before execution.services.bulk_fills, the baseline), the 10,000 in batches of 1,000 through
the bulk path. The other baseline is one follower per transaction (what a Celery task per
follower does, without the broker) on 200 followers, scaled to 10,000. Notes split the time
by stage and give the process's CPU time and the machine's load: on a shared machine the
wall clock moves with the neighbours.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from decimal import Decimal
from typing import Any

from bench.common import Result

SIZES = (1_000, 10_000)
ONE_BY_ONE = 1_000  # fan-outs up to this size record their answers one order at a time
COLD = 200  # followers whose venues open inside the clock, for the cold row
PER_FOLLOWER = 200  # followers copied one per transaction, for the baseline row


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


def _fan_out(
    fill_id: int, *, workers: int, chunk_size: int | None = None, followers: int | None = None
) -> tuple[float, Any, float]:
    """(seconds to save and submit, the MirrorResult with its stage times, CPU seconds of
    this process meanwhile)."""
    from copytrading.services.mirroring import (
        CHUNK_SIZE,
        fan_out,
        leader_fill,
        leader_subscriptions,
    )

    cpu, started = time.process_time(), time.perf_counter()
    leader = leader_fill(fill_id)
    assert leader is not None
    subscriptions = leader_subscriptions(leader)[:followers]
    result = fan_out(
        leader, subscriptions, workers=workers, record=False, chunk_size=chunk_size or CHUNK_SIZE
    )
    submitted, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert all(report is not None for _, report, _ in result.sent)
    return submitted, result, cpu


def _record(result: Any, *, one_by_one: bool) -> tuple[float, float]:
    """Record the venues' answers: (seconds, CPU seconds)."""
    from copytrading.services.mirroring import ACTOR, reports_apply
    from execution.services.orders import order_report_apply

    cpu, started = time.process_time(), time.perf_counter()
    if one_by_one:
        for order, report, _ in result.sent:
            order_report_apply(order_id=order.pk, report=report, actor=ACTOR)
    else:
        reports_apply(result.sent)
    return time.perf_counter() - started, time.process_time() - cpu


def _pushes_wait() -> float:
    """Wait for the P&L pushes the recorded fills queued (execution.services.notify values
    the touched accounts on a timer thread, then pushes to each owner): seconds waited. The
    next clock should not share the process with them."""
    started = time.perf_counter()
    while any(isinstance(t, threading.Timer) and t.is_alive() for t in threading.enumerate()):
        time.sleep(0.05)
    return time.perf_counter() - started


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def _stages(result: Any, cpu: float, workers: int) -> str:
    summed = " summed over threads" if workers > 1 else ""
    return (
        f"{len(result.sent):,} limit IOC orders, chunks of 1,000 on {workers} thread(s): "
        f"saved {result.saving_seconds:.2f} s (lock, read, plan + risk, COPY, commit), "
        f"marked sent + submitted {result.sending_seconds:.2f} s{summed}; "
        f"process CPU {cpu:.2f} s; {_load()}"
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
    per_order: dict[str, float] = {}  # seconds per 1,000 answers recorded, by path
    try:
        strategy, fill_id, _ = _leader("cold")
        _followers(strategy, COLD, "cold")
        cold, _, _ = _fan_out(fill_id, workers=1)
        results.append(
            Result(f"copy fan-out, {COLD} followers, venues cold ({vendor})", cold * 1000, "ms",
                   note="each follower's paper venue opened inside the clock")
        )  # fmt: skip
        for size in SIZES:
            strategy, fill_id, again_id = _leader(f"warm{size}")
            for account in _followers(strategy, size, f"f{size}-"):
                venue_for_account(account)
            print(f"# copy: {size} followers ready", file=sys.stderr)
            if size == SIZES[0]:
                # Baseline: one follower per transaction, on the leader's second fill.
                alone, result, cpu = _fan_out(
                    again_id, workers=1, chunk_size=1, followers=PER_FOLLOWER
                )
                _record(result, one_by_one=False)  # settled, not timed
                _pushes_wait()
                scaled = alone * SIZES[-1] / PER_FOLLOWER
                results.append(
                    Result(f"  baseline: 1 follower per transaction, {PER_FOLLOWER} followers "
                           f"scaled to {SIZES[-1]:,}", scaled, "s",
                           note=f"measured {alone:.2f} s for {PER_FOLLOWER} (a Celery task per "
                           f"follower adds the broker); process CPU {cpu:.2f} s; {_load()}")
                )  # fmt: skip
            submitted, result, cpu = _fan_out(fill_id, workers=WORKERS)
            target = "<= 2 s" if size == SIZES[-1] else ""
            ratio = f"; {scaled / submitted:.0f}x the baseline" if size == SIZES[-1] else ""
            results.append(
                Result(f"copy fan-out, {size:,} followers: saved + submitted ({vendor})",
                       submitted, "s", target, _stages(result, cpu, WORKERS) + ratio)
            )  # fmt: skip
            one_by_one = size <= ONE_BY_ONE
            recorded, cpu = _record(result, one_by_one=one_by_one)
            pushed = _pushes_wait()
            filled = Order.objects.filter(
                copy_trade__leader_fill_id=fill_id, status="filled"
            ).count()
            path = "one by one" if one_by_one else "bulk"
            per_order[path] = recorded * 1000 / size
            ratio = ""
            if not one_by_one and "one by one" in per_order:
                ratio = f"; {per_order['one by one'] / per_order['bulk']:.0f}x one by one"
            how = (
                "order_report_apply per order (baseline)" if one_by_one
                else f"bulk_fills in batches of {CHUNK_SIZE:,}"
            )  # fmt: skip
            results.append(
                Result(f"copy fan-out, {size:,} followers: fills recorded after, {path}",
                       recorded, "s",
                       note=f"{filled:,} filled; {how}; {per_order[path]:.2f} s per 1,000"
                       f"{ratio}; process CPU {cpu:.2f} s; {_load()}; the P&L pushes they "
                       f"queued finished {pushed:.1f} s later")
            )  # fmt: skip
            if size > CHUNK_SIZE:
                # The leader's second fill to the same followers on one thread: what the
                # parallel chunks gain (this one opens no day rows: they exist now).
                submitted, result, cpu = _fan_out(again_id, workers=1)
                results.append(
                    Result(f"copy fan-out, {size:,} followers, 1 thread, 2nd fill ({vendor})",
                           submitted, "s", note=_stages(result, cpu, 1))
                )  # fmt: skip
    finally:
        connection.close()
        teardown_databases(config, verbosity=0)
    return results
