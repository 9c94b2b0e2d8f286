"""Copy trading fan-out: one leader fill mirrored to 1,000 and to 10,000 followers, timed until
every follower order is saved and submitted to the paper exchange (issue 6, item 9).

Runs on the database DATABASE_URL names (PostgreSQL for the issue's figures) in a throwaway
test database. Followers (users, accounts, balances, subscriptions) are bulk-inserted: the
setup is not what is measured. Each follower account's paper venue is opened before the clock
starts, as in a process that has been trading (opening one costs a few queries: see the cold
row). The clock covers what mirror_fill does per chunk of 1,000: lock the accounts, read their
risk state, plan and risk-check every copy, bulk-insert orders, audit events and copy trades
(one transaction), mark them sent in one statement and submit each to its venue. Recording
the venues' answers (the IOC fills, per order through order_report_apply) is timed apart.
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


def _leader(name: str) -> tuple[Any, int]:
    """A public strategy whose account holds nothing yet, and its buy fill of 1 BTC."""
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
    order = order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
        quantity="1", price="20000", strategy_id=strategy.pk, submit=False,
    )  # fmt: skip
    # Recorded before anyone follows: the clock, not the fill's own signal, runs the fan-out.
    fill = fill_record(order_id=order.pk, venue_trade_id=f"lead-{name}", quantity="1",
                       price="20000")  # fmt: skip
    return strategy, fill.pk


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


def _fan_out(fill_id: int, *, record: bool) -> tuple[float, float, float, int]:
    """(seconds to save and submit, of which saving, seconds to record the answers or nan,
    orders)."""
    from copytrading.models import CopySubscription
    from copytrading.services.mirroring import (
        CHUNK_SIZE,
        MirrorResult,
        batched,
        copies_save,
        leader_fill,
        orders_send,
        reports_apply,
    )

    started = time.perf_counter()
    leader = leader_fill(fill_id)
    assert leader is not None
    ids = list(
        CopySubscription.objects.filter(strategy_id=leader.strategy_id, status="active")
        .order_by("account_id", "pk")
        .values_list("pk", flat=True)
    )
    result = MirrorResult()
    sent = []
    saving = 0.0
    for chunk in batched(ids, CHUNK_SIZE):
        chunk_started = time.perf_counter()
        saved = copies_save(leader=leader, subscription_ids=chunk, result=result)
        saving += time.perf_counter() - chunk_started
        sent.extend(orders_send(saved))
    submitted = time.perf_counter() - started
    assert len(sent) == len(ids) and all(report is not None for _, report, _ in sent)
    if not record:
        return submitted, saving, math.nan, len(sent)
    started = time.perf_counter()
    reports_apply(sent)
    return submitted, saving, time.perf_counter() - started, len(sent)


def run() -> list[Result]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings.test")
    config = _setup()
    from django.db import connection
    from django.test.utils import teardown_databases

    from execution.models import Order
    from execution.services.venues import venue_for_account

    vendor = "PostgreSQL" if connection.vendor == "postgresql" else connection.vendor
    results = []
    try:
        strategy, fill_id = _leader("cold")
        _followers(strategy, COLD, "cold")
        cold, _, _, _ = _fan_out(fill_id, record=False)
        results.append(
            Result(f"copy fan-out, {COLD} followers, venues cold ({vendor})", cold * 1000, "ms",
                   note="each follower's paper venue opened inside the clock")
        )  # fmt: skip
        for size in SIZES:
            strategy, fill_id = _leader(f"warm{size}")
            for account in _followers(strategy, size, f"f{size}-"):
                venue_for_account(account)
            print(f"# copy: {size} followers ready", file=sys.stderr)
            # Recording 10,000 answers one order at a time takes minutes: the 1,000 row shows it.
            submitted, saving, recorded, orders = _fan_out(fill_id, record=size <= RECORDED)
            filled = Order.objects.filter(
                copy_trade__leader_fill_id=fill_id, status="filled"
            ).count()
            target = "<= 2 s" if size == 10_000 else ""
            results.append(
                Result(f"copy fan-out, {size:,} followers: saved + submitted ({vendor})",
                       submitted, "s", target,
                       f"{orders:,} limit IOC orders in chunks of 1,000: saved {saving:.2f} s "
                       f"(plan, risk, COPY; one transaction each), marked sent + submitted "
                       f"{submitted - saving:.2f} s")
            )  # fmt: skip
            if not math.isnan(recorded):
                results.append(
                    Result(f"copy fan-out, {size:,} followers: fills recorded after", recorded,
                           "s", note=f"{filled:,} filled; order_report_apply per order")
                )  # fmt: skip
    finally:
        connection.close()
        teardown_databases(config, verbosity=0)
    return results
