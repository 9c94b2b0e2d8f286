"""Paper runner vs backtester over the same replayed bars (issue 5: the done criterion).

300 one-minute BTC-USDT candles from the simulated feed's seeded random walk
(``execution.services.marketfeed.simulated_candles``, seed 5) are stored as candles. The paper
runner then replays them one by one as the live market would: when bar i closes, the paper
book of that moment (centred on bar i+1's open, one tick each side, deep) reaches the paper
exchange, then ``bar_evaluate`` runs the SMA 5/20 strategy on bar i and executes its signal
through ``signal_execute`` on a paper account. The backtester runs the same strategy over the
same bars with the runner's order size, the paper taker fee and 1 bp of slippage.

Execution is configured to take liquidity at once (EXECUTION_URGENCY: every strong signal is
an aggressive limit at the opposite touch, never split or resized), the live analogue of the
backtester's market order at the next open.

Asserted: the same signals (bar, side, target), then the same fills in order and quantity,
each paper price within the fill model's stated tolerance of the backtest's:
    |paper - backtest| <= open x slippage_bps / 10,000 + half the spread + one tick
because the backtest fills at the next open moved 1 bp against us (rounded onto the tick grid
against us: up to one tick), and the paper venue at the opposite touch of a book centred on
that open, half the spread away.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import numpy as np
import pytest
from django.test import override_settings

from execution.models import Candle, Fill, Instrument
from execution.services.marketdata import paper_book_update
from execution.services.marketfeed import simulated_candles
from execution.services.signal_execution import urgency_config
from execution.services.venues import paper_reset
from strategies.backtest.engine import BacktestConfig, run_backtest
from strategies.domain.base import Bars, signals_from_targets
from strategies.kinds import kind_get
from strategies.models import RunnerState, Signal, SignalOutcome
from strategies.runner import bar_evaluate, runner_states_clear
from strategies.services import strategy_create, strategy_resume
from tests.factories import make_account, make_instrument, make_user

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 2, 2, 0, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
BARS = 300
TICK = D("0.1")
HALF_SPREAD = TICK  # bid and ask one tick either side of the open
SLIPPAGE_BPS = D(1)
CONFIG = {"fast_window": 5, "slow_window": 20}
TAKE_AT_ONCE = {
    "stable_below": 0.0,  # never "stable": a strong signal is not passive
    "balanced_below": 0.0,  # ... but an aggressive limit
    "unstable_above": 1.0,  # never "unstable": no size cut
    "flow_urgent_above": 1.0,  # no flow size factor
    "thin_book_below": 0.0,  # never split
    "concentrated_from": 0.0,  # the aggressive limit takes the opposite touch
}


@pytest.fixture(autouse=True)
def clean_process():
    paper_reset()
    runner_states_clear()
    urgency_config.cache_clear()
    with override_settings(EXECUTION_URGENCY=TAKE_AT_ONCE):
        yield
    urgency_config.cache_clear()
    paper_reset()
    runner_states_clear()


def book_at(at, mid):
    paper_book_update(
        symbol="BTC-USDT",
        bids=[(mid - HALF_SPREAD - TICK * n, D(5)) for n in range(10)],
        asks=[(mid + HALF_SPREAD + TICK * n, D(5)) for n in range(10)],
        at=at,
    )


def test_the_paper_runner_and_the_backtester_agree_over_a_replayed_period():
    make_instrument("BTC-USDT", mark="20000", tick=str(TICK), lot="0.0001")
    account = make_account(make_user("parity"), deposit=D(100_000))
    strategy = strategy_create(
        owner_id=account.owner_id, name="sma", kind="sma_crossover", account_id=account.pk,
        symbols=["BTC-USDT"], interval="1m", config=CONFIG,
        settings={"max_signals_per_minute": 600},
    )  # fmt: skip
    strategy_resume(strategy_id=strategy.pk)
    candles = simulated_candles(
        start_price=D(20000), start=START, bars=BARS, seed=5, tick_size=TICK
    )
    instrument = Instrument.objects.get(symbol="BTC-USDT")
    Candle.objects.bulk_create(
        Candle(instrument=instrument, interval="1m", open_time=c.at, open=float(c.open),
               high=float(c.high), low=float(c.low), close=float(c.close),
               volume=float(c.volume))
        for c in candles
    )  # fmt: skip

    # The paper runner, bar by bar; the last bar has no next open to trade at (nor has the
    # backtest: a decision on the last bar never fills).
    for i in range(BARS - 1):
        close_time = candles[i].at + MINUTE
        book_at(close_time, candles[i + 1].open)
        bar_evaluate(symbol="BTC-USDT", interval="1m", bar_start=candles[i].at, now=close_time)

    # The backtester over the same bars.
    bars = Bars(
        starts=np.array([c.at.replace(tzinfo=None) for c in candles], dtype="datetime64[us]"),
        open=np.array([float(c.open) for c in candles]),
        high=np.array([float(c.high) for c in candles]),
        low=np.array([float(c.low) for c in candles]),
        close=np.array([float(c.close) for c in candles]),
        volume=np.array([float(c.volume) for c in candles]),
    )
    kind = kind_get("sma_crossover")
    sma = kind.build(kind.config_from_dict(CONFIG))
    order_size = RunnerState.objects.get(strategy=strategy).order_size
    result = run_backtest(
        sma, bars,
        BacktestConfig(spec=instrument.spec(), order_size=order_size, initial_cash=D(100_000),
                       fee_rate=D("0.0005"), slippage_bps=SLIPPAGE_BPS),
    )  # fmt: skip

    # The same signals.
    expected = [
        (s.bar_index, s.side.value, s.target_position)
        for s in signals_from_targets(bars, sma.target_positions(bars))
        if s.bar_index < BARS - 1 and s.side is not None
    ]
    signals = list(Signal.objects.filter(strategy=strategy).order_by("at"))
    paper = [((s.at - START) // MINUTE - 1, s.side, s.target_position) for s in signals]
    assert len(expected) >= 6, "the period should hold several crosses"
    assert paper == expected
    assert all(s.outcome == SignalOutcome.EXECUTED for s in signals)

    # The same fills, each within the tolerance.
    fills = list(
        Fill.objects.filter(order__account=account)
        .select_related("order")
        .order_by("filled_at", "pk")
    )
    per_parent: dict[str, tuple[str, D, D]] = {}
    for fill in fills:
        side, quantity, notional = per_parent.get(
            fill.order.parent_id, (fill.order.side, D(0), D(0))
        )
        per_parent[fill.order.parent_id] = (
            side,
            quantity + fill.quantity,
            notional + fill.quantity * fill.price,
        )
    paper_fills = [
        (side, quantity, notional / quantity)
        for side, quantity, notional in (per_parent[s.parent_order_id] for s in signals)
    ]
    backtest_fills = [
        (f.event.side.value, f.event.quantity, f.event.price, D(repr(float(bars.open[f.bar]))))
        for f in result.fills
    ]
    assert len(paper_fills) == len(backtest_fills) == len(expected)
    worst = D(0)
    for (side, quantity, price), (b_side, b_quantity, b_price, bar_open) in zip(
        paper_fills, backtest_fills, strict=True
    ):
        assert (side, quantity) == (b_side, b_quantity)
        tolerance = bar_open * SLIPPAGE_BPS / 10_000 + HALF_SPREAD + TICK
        assert abs(price - b_price) <= tolerance, (side, price, b_price, tolerance)
        worst = max(worst, abs(price - b_price))
    print(f"parity: {len(paper_fills)} fills, worst price difference {worst}")
