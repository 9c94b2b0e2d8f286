"""The live strategy runner against the real database and the paper exchange: one evaluation
per strategy and bar however often a bar arrives, stale bars refused, decay and rate limits,
pause and resume through the API, the feed's closed candles, and the Celery path."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from execution.domain.errors import DomainError
from execution.domain.marketsim import Candle as SimCandle
from execution.models import Candle, Instrument, ParentOrder
from execution.services.marketfeed import feed_bar_close, market_feed_run
from execution.services.venues import paper_reset
from strategies.domain.base import Bars, signals_from_targets
from strategies.kinds import kind_get
from strategies.models import RunnerState, Signal, SignalOutcome, StrategyEvaluation
from strategies.runner import (
    Verdict,
    bar_evaluate,
    runner_queue,
    runner_states_clear,
    signal_carry_out,
    signals_pending_carry_out,
    strategies_bar_closed,
)
from strategies.services import signal_record, strategy_create, strategy_resume
from tests.execution.api.conftest import client_for
from tests.execution.tasks.test_celery_worker import ROOT, _test_database_url, wait_for_worker
from tests.factories import btc_book, make_account, make_instrument, make_user
from tradingsite.celery import app as celery_app
from tradingsite.settings.base import strategy_runner_checked

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: the runner acts on commit

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
# Down for four bars, up for four, down for four: SMA 2/4 crosses up then down.
CLOSES = [20000, 19990, 19980, 19970, 19960, 20000, 20030, 20060, 20090, 20040, 19990, 19940]
CONFIG = {"fast_window": 2, "slow_window": 4}


@pytest.fixture(autouse=True)
def clean_process():
    paper_reset()
    runner_states_clear()
    yield
    paper_reset()
    runner_states_clear()


@pytest.fixture
def strategies_worker():
    """A real Celery worker process on the runner's queue of BTC-USDT (as in production)."""
    conf = celery_app.conf
    saved = conf.task_always_eager
    conf.task_always_eager = False
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingsite.settings.test",
        "DATABASE_URL": _test_database_url(),
        "STRATEGY_RUNNER": "celery",
    }
    command = [
        sys.executable, "-m", "celery", "-A", "tradingsite", "worker", "--pool=solo",
        "-Q", runner_queue("BTC-USDT"), "--without-heartbeat", "--without-gossip",
        "--without-mingle", "--loglevel=INFO",
    ]  # fmt: skip
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

        def worker_log() -> str:
            log.seek(0)
            text: str = log.read()
            return text

        try:
            wait_for_worker(process, worker_log)
            yield worker_log
        finally:
            conf.task_always_eager = saved
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def trader():
    return make_user("runner")


@pytest.fixture
def account(trader):
    make_instrument("BTC-USDT", mark="20000")
    return make_account(trader, deposit=D(100_000))


def strategy_for(account, *, symbols=("BTC-USDT",), name="sma", **settings):
    strategy = strategy_create(
        owner_id=account.owner_id, name=name, kind="sma_crossover", account_id=account.pk,
        symbols=list(symbols), interval="1m", config=CONFIG, settings=settings,
    )  # fmt: skip
    return strategy_resume(strategy_id=strategy.pk)


def store(symbol="BTC-USDT", closes=CLOSES, start=START):
    instrument = Instrument.objects.get(symbol=symbol)
    previous = closes[0]
    for n, close in enumerate(closes):
        Candle.objects.create(
            instrument=instrument, interval="1m", open_time=start + MINUTE * n, open=previous,
            high=max(previous, close) + 5, low=min(previous, close) - 5, close=close, volume=10,
        )  # fmt: skip
        previous = close


def close_bar(n, symbol="BTC-USDT", now=None):
    """Bar n closes: the market at its close, then the runner (the decision is at the close)."""
    btc_book(START + MINUTE * (n + 1))
    return bar_evaluate(
        symbol=symbol, interval="1m", bar_start=START + MINUTE * n,
        now=now or START + MINUTE * (n + 1),
    )  # fmt: skip


def expected_signal_bars():
    closes = np.array(CLOSES, dtype=np.float64)
    bars = Bars(
        starts=np.array([START.replace(tzinfo=None) + MINUTE * n for n in range(len(CLOSES))],
                        dtype="datetime64[us]"),
        open=closes, high=closes, low=closes, close=closes, volume=np.ones(len(CLOSES)),
    )  # fmt: skip
    strategy = kind_get("sma_crossover").build(kind_get("sma_crossover").config_from_dict(CONFIG))
    signals = signals_from_targets(bars, strategy.target_positions(bars))
    return [(s.bar_index, s.side.value, s.target_position) for s in signals if s.side]


def test_each_bar_is_evaluated_once_and_crosses_are_signalled_and_executed(account):
    strategy = strategy_for(account)
    store()
    expected = expected_signal_bars()
    assert [target for _, _, target in expected] == [1.0, -1.0]

    for n in range(len(CLOSES)):
        (evaluation,) = close_bar(n)
        assert evaluation.verdict == (
            Verdict.SIGNALLED if n in {bar for bar, _, _ in expected} else Verdict.NO_SIGNAL
        )
        # Delivered again (a task redelivered, a retry): nothing new.
        (again,) = close_bar(n)
        assert again.verdict == Verdict.DUPLICATE

    signals = list(Signal.objects.filter(strategy=strategy).order_by("at"))
    assert [(s.at - START) // MINUTE - 1 for s in signals] == [bar for bar, _, _ in expected]
    assert [(s.side, s.target_position) for s in signals] == [(side, t) for _, side, t in expected]
    assert all(s.outcome == SignalOutcome.EXECUTED and s.parent_order_id for s in signals)
    assert ParentOrder.objects.filter(strategy_id=strategy.pk).count() == 2
    assert StrategyEvaluation.objects.filter(strategy=strategy).count() == len(CLOSES)
    state = RunnerState.objects.get(strategy=strategy)
    # A full target: 10% of 100,000 at the first close of 20,000.
    assert state.order_size == D("0.5") and state.target_position == -1.0
    # Signals trade to the target from the account's position: the passive buy never filled
    # (no one sold into it on these books), so the sell goes from flat to -0.5.
    assert [s.size for s in signals] == [D("0.5"), D("0.5")]


def test_a_bar_older_than_the_last_evaluated_is_refused_as_stale(account):
    strategy = strategy_for(account)
    store()
    close_bar(0)
    close_bar(2)
    (late,) = bar_evaluate(symbol="BTC-USDT", interval="1m", bar_start=START + MINUTE)
    assert late.verdict == Verdict.STALE
    bars = StrategyEvaluation.objects.filter(strategy=strategy).values_list("bar_start", flat=True)
    assert sorted(bars) == [START, START + 2 * MINUTE]


def test_a_signal_older_than_its_decay_is_recorded_as_expired_not_executed(account):
    strategy = strategy_for(account, signal_decay_seconds=30)
    store()
    cross = expected_signal_bars()[0][0]
    for n in range(cross):
        close_bar(n)
    (late,) = close_bar(cross, now=START + MINUTE * (cross + 1) + timedelta(seconds=31))
    assert late.verdict == Verdict.SIGNALLED and late.outcome == SignalOutcome.EXPIRED
    signal = Signal.objects.get(strategy=strategy)
    assert signal.parent_order is None and "decay" in signal.outcome_detail
    assert not ParentOrder.objects.exists()


def test_signals_beyond_the_rate_limit_are_skipped(account):
    make_instrument("ETH-USDT", mark="20000")
    strategy = strategy_for(account, symbols=("BTC-USDT", "ETH-USDT"), max_signals_per_minute=1)
    store("BTC-USDT")
    store("ETH-USDT")
    cross = expected_signal_bars()[0][0]
    for n in range(cross + 1):
        close_bar(n, "BTC-USDT")
        close_bar(n, "ETH-USDT")
    outcomes = dict(
        Signal.objects.filter(strategy=strategy).values_list("instrument__symbol", "outcome")
    )
    assert outcomes == {"BTC-USDT": SignalOutcome.EXECUTED, "ETH-USDT": SignalOutcome.SKIPPED}
    assert "rate limit" in Signal.objects.get(instrument__symbol="ETH-USDT").outcome_detail


def test_pause_through_the_api_stops_evaluation_from_the_next_bar_and_resume_restarts(
    account, trader
):
    strategy = strategy_for(account)
    store()
    api = client_for(trader)
    close_bar(0)
    assert api.post(f"/api/v1/strategies/{strategy.pk}/pause/").status_code == 200
    assert close_bar(1) == [] and close_bar(2) == []
    assert api.post(f"/api/v1/strategies/{strategy.pk}/resume/").status_code == 200
    (evaluation,) = close_bar(3)
    assert evaluation.verdict in {Verdict.NO_SIGNAL, Verdict.SIGNALLED}
    evaluated = StrategyEvaluation.objects.filter(strategy=strategy)
    assert sorted(evaluated.values_list("bar_start", flat=True)) == [START, START + 3 * MINUTE]


def test_the_feeds_closed_candle_is_stored_and_evaluated_in_process(account):
    strategy = strategy_for(account)
    btc_book(START + MINUTE)
    candle = SimCandle(START, D("20000"), D("20010"), D("19990"), D("20005"), D("3"))
    feed_bar_close(symbol="BTC-USDT", candle=candle)
    stored = Candle.objects.get(instrument__symbol="BTC-USDT", interval="1m", open_time=START)
    assert stored.close == 20005.0
    assert StrategyEvaluation.objects.get(strategy=strategy).bar_start == START
    # The same candle again (a feed restarted): stored once, evaluated once.
    feed_bar_close(symbol="BTC-USDT", candle=candle)
    assert Candle.objects.filter(instrument__symbol="BTC-USDT").count() == 1
    assert StrategyEvaluation.objects.filter(strategy=strategy).count() == 1


class FakeClock:
    """Time moves only when the feed sleeps."""

    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += timedelta(seconds=seconds)


def test_the_live_feed_stores_each_minute_as_it_closes_and_the_runner_evaluates_it(account):
    strategy = strategy_for(account)
    # Three minutes and a second of books, one a second: three candles close on the way.
    clock = FakeClock(START)
    sent = market_feed_run(
        stop=threading.Event(), clock=clock, sleep=clock.sleep, max_snapshots=181
    )
    assert sent == 181
    minutes = [START + MINUTE * n for n in range(3)]
    stored = Candle.objects.filter(instrument__symbol="BTC-USDT", interval="1m")
    assert list(stored.values_list("open_time", flat=True)) == minutes
    evaluated = StrategyEvaluation.objects.filter(strategy=strategy).order_by("bar_start")
    assert list(evaluated.values_list("bar_start", flat=True)) == minutes


def test_the_runner_setting_is_checked_at_start_up():
    assert strategy_runner_checked("celery") == "celery"
    with pytest.raises(ImproperlyConfigured, match="STRATEGY_RUNNER='threads'"):
        strategy_runner_checked("threads")


@override_settings(STRATEGY_RUNNER="celery")
def test_with_the_celery_runner_a_closed_bar_goes_through_the_task(account):
    # Tests run tasks eagerly: the task path is the same code (a real worker: test_runner_worker).
    strategy = strategy_for(account)
    store()
    strategies_bar_closed(symbol="BTC-USDT", interval="1m", bar_start=START)
    assert StrategyEvaluation.objects.get(strategy=strategy).bar_start == START


def test_a_refused_bar_names_its_fields_and_writes_nothing(account):
    strategy_for(account)
    with pytest.raises(DomainError) as refused:
        strategies_bar_closed(symbol="NOPE-USDT", interval="7x", bar_start=datetime(2026, 1, 1))
    assert all(field in str(refused.value) for field in ("symbol", "interval", "bar_start"))
    with pytest.raises(DomainError, match="no 1m candle"):
        bar_evaluate(symbol="BTC-USDT", interval="1m", bar_start=START)
    assert not StrategyEvaluation.objects.exists() and not RunnerState.objects.exists()


@pytest.mark.redis
@pytest.mark.postgres
@override_settings(STRATEGY_RUNNER="celery")
def test_a_real_worker_evaluates_a_bar_delivered_twice_once(account, strategies_worker):
    strategy = strategy_for(account)
    store()
    cross = expected_signal_bars()[0][0]
    for n in range(cross):
        close_bar(n)  # here, in this process
    runner_states_clear()  # the worker warms up from the stored candles anyway

    # The crossing bar announced twice (a redelivery), then the next bar as a marker: the
    # queue is first in, first out and the worker runs one task at a time.
    for n in (cross, cross, cross + 1):
        strategies_bar_closed(symbol="BTC-USDT", interval="1m", bar_start=START + MINUTE * n)
    deadline = time.monotonic() + 60
    marker = StrategyEvaluation.objects.filter(
        strategy=strategy, bar_start=START + MINUTE * (cross + 1)
    )
    while not marker.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"the worker evaluated nothing; its log:\n{strategies_worker()}")
        time.sleep(0.2)

    at_cross = StrategyEvaluation.objects.filter(
        strategy=strategy, bar_start=START + MINUTE * cross
    )
    assert at_cross.count() == 1 and at_cross.get().signal is not None
    (signal,) = Signal.objects.filter(strategy=strategy)
    # The worker decides by its own clock, long after these bars closed: the signal is recorded
    # once, as expired (the worker has no paper book of its own to trade on anyway).
    assert signal.outcome == SignalOutcome.EXPIRED
    assert "duplicate" in strategies_worker()


def test_a_signal_left_pending_by_a_crash_is_carried_out_once_by_the_sweep(account):
    """A worker that dies after the evaluation committed but before executing leaves exactly
    what signal_record leaves: a pending signal with its size. The sweep executes it once
    while it is within its decay, and expires one past it."""
    strategy = strategy_for(account, signal_decay_seconds=60)
    now = datetime.now(UTC)
    btc_book(now)
    fresh = signal_record(
        strategy_id=strategy.pk, symbol="BTC-USDT", at=now - timedelta(seconds=10),
        side="buy", target_position=1.0, size=D("0.5"),
    )  # fmt: skip
    stale = signal_record(
        strategy_id=strategy.pk, symbol="BTC-USDT", at=now - timedelta(seconds=90),
        side="buy", target_position=1.0, size=D("0.5"),
    )  # fmt: skip
    assert signals_pending_carry_out(older_than=timedelta(0)) == 2
    fresh.refresh_from_db()
    stale.refresh_from_db()
    assert fresh.outcome == SignalOutcome.EXECUTED and fresh.parent_order_id
    assert stale.outcome == SignalOutcome.EXPIRED and stale.parent_order_id is None
    # The sweep again, and the runner's own carrier late: nothing more.
    assert signals_pending_carry_out(older_than=timedelta(0)) == 0
    assert signal_carry_out(signal_id=fresh.pk) is None
    assert ParentOrder.objects.filter(strategy_id=strategy.pk).count() == 1
