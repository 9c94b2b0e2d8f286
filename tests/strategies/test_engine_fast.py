"""The fast path equals the reference path (bar by bar, Decimal, through execution.domain):
identical fills, trades, refusals, final position and Decimal final equity over random bars,
targets, fees, slippage, latency, stops, take profits and risk limits."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execution.domain.risk import RiskLimits
from execution.domain.values import InstrumentSpec
from strategies.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from strategies.domain.base import Bars, FloatArray, LiveStrategy


class Scripted:
    name = "scripted"
    warmup_bars = 0

    def __init__(self, targets: FloatArray) -> None:
        self.targets = targets

    def target_positions(self, bars: Bars) -> FloatArray:
        return self.targets[: len(bars)]

    def live(self) -> LiveStrategy:
        raise NotImplementedError


def _bars(seed: int, count: int, tick: float, hours: float) -> Bars:
    rng = np.random.default_rng(seed)
    steps = rng.integers(-40, 41, count)
    close = np.maximum(np.cumsum(steps) + 10_000, 50)
    gap = rng.integers(-30, 31, count) * (rng.random(count) < 0.2)
    open_ = np.maximum(np.concatenate(([10_000], close[:-1])) + gap, 20)
    wick_up = rng.integers(0, 60, count)
    wick_down = rng.integers(0, 60, count)
    high = np.maximum(open_, close) + wick_up
    low = np.maximum(np.minimum(open_, close) - wick_down, 1)
    starts = np.datetime64("2024-01-01T00:00", "us") + (
        np.arange(count) * np.timedelta64(int(hours * 3600), "s")
    )

    def price(x: np.ndarray) -> FloatArray:
        return np.round(x * tick, 8)

    return Bars(starts, price(open_), price(high), price(low), price(close), np.ones(count))


def _targets(seed: int, count: int, levels: list[float], change: float) -> FloatArray:
    rng = np.random.default_rng(seed + 1)
    picks = np.array(levels)[rng.integers(0, len(levels), count)]
    moves = rng.random(count) < change
    out = np.zeros(count)
    current = 0.0
    for i in range(count):
        if moves[i]:
            current = float(picks[i])
        out[i] = current
    return out


def _same(fast: BacktestResult, ref: BacktestResult) -> None:
    def fills(result: BacktestResult) -> list[tuple[object, ...]]:
        return [
            (f.bar, f.at, f.reason, f.event, str(f.event.price), str(f.event.fee), f.slippage_cost)
            for f in result.fills
        ]

    assert fills(fast) == fills(ref)
    assert fast.trades == ref.trades
    assert fast.open_trade == ref.open_trade
    assert fast.position == ref.position
    assert [
        (r.bar, r.side, r.quantity, [v.as_dict() for v in r.violations]) for r in fast.refusals
    ] == [(r.bar, r.side, r.quantity, [v.as_dict() for v in r.violations]) for r in ref.refusals]
    assert fast.final_equity == ref.final_equity
    assert str(fast.final_equity) == str(ref.final_equity)
    np.testing.assert_array_equal(fast.equity, ref.equity)


SPECS = [
    InstrumentSpec("T2", "X", "USD", Decimal("0.01"), Decimal(1), Decimal(1)),
    InstrumentSpec(
        "T5", "X", "USD", Decimal("0.00001"), Decimal("0.001"), Decimal("0.002"), Decimal(5)
    ),
    InstrumentSpec("T25", "X", "USD", Decimal("0.25"), Decimal("0.1"), Decimal("0.1")),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    count=st.integers(2, 160),
    spec=st.sampled_from(SPECS),
    levels=st.sampled_from(
        [[-1.0, 0.0, 1.0], [1.0, 0.0], [-1.0, -0.5, 0.25, 0.5, 1.0], [0.3, 0.7, -0.6]]
    ),
    change=st.sampled_from([0.05, 0.2, 0.6]),
    hours=st.sampled_from([1.0, 0.5, 8.0]),
    fee=st.sampled_from(["0", "0.001", "0.0005", "0.00123"]),
    slippage=st.sampled_from(["0", "1", "2.5", "10"]),
    latency_bars=st.integers(0, 3),
    latency_minutes=st.sampled_from([0, 30, 90, 150]),
    stop=st.sampled_from([None, "0.002", "0.01", "0.03"]),
    take=st.sampled_from([None, "0.003", "0.02", "0.05"]),
    size=st.sampled_from(["1", "3", "7"]),
    risk=st.sampled_from(
        [
            None,
            RiskLimits(),
            RiskLimits(max_order_value=Decimal(250), max_position_value=Decimal("0.3")),
            RiskLimits(daily_loss_limit=Decimal("0.002"), max_order_quantity=Decimal(10)),
        ]
    ),
    cash=st.sampled_from(["1000", "100000"]),
)
def test_fast_path_equals_the_reference(
    seed,
    count,
    spec,
    levels,
    change,
    hours,
    fee,
    slippage,
    latency_bars,
    latency_minutes,
    stop,
    take,
    size,
    risk,
    cash,
):
    bars = _bars(seed, count, float(spec.tick_size), hours)
    strategy = Scripted(_targets(seed, count, levels, change))
    config = BacktestConfig(
        spec=spec,
        order_size=Decimal(size),
        initial_cash=Decimal(cash),
        fee_rate=Decimal(fee),
        slippage_bps=Decimal(slippage),
        latency_bars=latency_bars,
        latency=timedelta(minutes=latency_minutes),
        stop_loss=None if stop is None else Decimal(stop),
        take_profit=None if take is None else Decimal(take),
        risk=risk,
    )
    fast = run_backtest(strategy, bars, config)
    ref = run_backtest(strategy, bars, config, reference=True)
    _same(fast, ref)
