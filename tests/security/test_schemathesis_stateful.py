"""Schemathesis, all checks, every phase (examples, coverage, fuzzing and the stateful phase
that chains operations through the links it infers), against the OpenAPI schema the site
serves, over HTTP to a real server (pytest-django's live server on the test database). Done
when the run finds nothing: no server error, no response outside the schema, no status or
content type the schema does not document, no valid request refused for no reason.

Two checks are told what this API means: `positive_data_acceptance` takes 400, 404, 409 and
422 as answers to schema-valid data, because a schema cannot say that an instrument must
exist, an account must be yours, a backtest must have finished or an order must pass
pre-trade risk (those answers are documented on each operation); and `use_after_free` is off,
because DELETE on an order, a parent order or a subscription cancels or stops it and keeps
the record, as documented. Every other check runs as shipped.

The counts (operations, test cases, requests by phase, links covered, failures) are printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from accounts.services import api_token_create
from strategies.services import strategy_create
from tests.factories import btc_book, make_account, make_instrument, make_user

MAX_EXAMPLES = 20
SEED = 20261122
# The coverage phase (boundary values of every parameter) takes about six minutes here: CI runs
# the other three; SCHEMATHESIS_PHASES=examples,coverage,fuzzing,stateful runs all four.
PHASES = os.environ.get("SCHEMATHESIS_PHASES", "examples,fuzzing,stateful")
CONFIG = """
# DELETE on an order, a parent order or a copy subscription cancels or stops it and keeps the
# record (money's history is never deleted), as their operations document: it is still there.
[checks.use_after_free]
enabled = false

[checks.positive_data_acceptance]
expected-statuses = ["2xx", 400, 401, 403, 404, 409, 422, 429]

# The world's real ids and a tradable order, so creates succeed and the stateful phase can
# follow what they return (an order, a subscription) into the operations that take its id.
[parameters]
"body.symbol" = "BTC-USDT"
"body.account" = {account}
"body.strategy" = {strategy}
"body.order_type" = "limit"
"body.quantity" = "0.01"
"body.price" = "19990"
"body.instruments" = ["BTC-USDT"]
"body.interval" = "1h"
"body.kind" = "sma_crossover"
"""


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_nothing_statefully_with_every_check(
    live_server, settings, tmp_path: Path, capsys
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None},
    }
    make_instrument("BTC-USDT", mark="20000")
    btc_book(datetime.now(UTC), depth=Decimal(50))
    trader = make_user("fuzzer")
    account = make_account(trader, name="fuzzer-main")
    leader = make_user("leader")
    public = strategy_create(
        owner_id=leader.pk, name="public", kind="sma_crossover",
        account_id=make_account(leader, name="leader-main").pk, symbols=["BTC-USDT"],
        interval="1h", config={"fast_window": 5, "slow_window": 30}, visibility="public",
    )  # fmt: skip
    key = api_token_create(user_id=trader.pk, name="schemathesis").key
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(account=account.pk, strategy=public.pk))
    report = tmp_path / "report.json"
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run",
        f"{live_server.url}/api/schema/?format=json", "-H", f"Authorization: Token {key}",
        "--checks", "all", "--phases", PHASES,
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
        "--report", "json", "--report-json-path", str(report), "--wait-for-schema", "30",
        "--request-timeout", "30", "--output-truncate", "true",
    ]  # fmt: skip
    ran = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    result = json.loads(report.read_text())
    tested = result["operations"]
    cases = result["test_cases"]
    failures = {f["code"]: f for f in result["failures"]}
    stateful_links = next(
        (line.strip() for line in ran.stdout.splitlines() if "API Links:" in line), ""
    )
    phases = ", ".join(f"{name} {phase['status']}" for name, phase in result["phases"].items())
    found = ", ".join(f"{code} {f['title']} x{f['count']}" for code, f in failures.items())
    with capsys.disabled():
        print(
            f"\nschemathesis {result['schemathesis_version']} (seed {SEED}, {MAX_EXAMPLES} "
            f"examples per operation): {tested['tested']}/{tested['total']} operations, "
            f"{cases['generated']} test cases, phases {phases}; stateful {stateful_links}; "
            f"failures: {found or 0}; {result['running_time']:.0f} s"
        )
    assert tested["tested"] == tested["total"] > 60, tested
    assert not failures, ran.stdout[-20_000:]
    assert not result["errors"], result["errors"]
    assert ran.returncode == 0, ran.stdout[-5000:] + ran.stderr[-2000:]
    ran_phases = {name: p["status"] for name, p in result["phases"].items() if name in PHASES}
    assert set(ran_phases.values()) == {"success"}, ran_phases
