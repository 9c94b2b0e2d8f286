"""The backtester's own rules: decisions without lookahead, one decision path for backtest and
live, costs always charged, bad configuration refused by name."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from execution.domain.errors import DomainError
from execution.domain.values import InstrumentSpec, Side
from strategies.backtest.engine import BacktestConfig, run_backtest
from strategies.domain.base import Bars, FloatArray, LiveStrategy, signals_from_targets
from strategies.library.sma_crossover import SmaCrossover, SmaCrossoverConfig

SPEC = InstrumentSpec(
    symbol="TEST",
    base="X",
    quote="USD",
    tick_size=Decimal("0.01"),
    lot_size=Decimal(1),
    min_quantity=Decimal(1),
)


def random_walk_bars(count: int, seed: int = 7) -> Bars:
    rng = np.random.default_rng(seed)
    close = np.round(100 + np.cumsum(rng.normal(0, 0.5, count)), 2)
    close = np.maximum(close, 1.0)
    open_ = np.round(np.concatenate(([100.0], close[:-1])), 2)
    high = np.maximum(open_, close) + 0.05
    low = np.minimum(open_, close) - 0.05
    starts = np.datetime64("2024-01-01T00:00", "us") + np.arange(count) * np.timedelta64(1, "h")
    high, low = np.round(high, 2).astype(np.float64), np.round(low, 2).astype(np.float64)
    return Bars(starts, open_.astype(np.float64), high, low, close, np.full(count, 10.0))


def bars_of(opens: list[str], closes: list[str]) -> Bars:
    o = np.array([float(x) for x in opens])
    c = np.array([float(x) for x in closes])
    starts = np.datetime64("2024-01-01", "us") + np.arange(len(o)) * np.timedelta64(1, "D")
    return Bars(starts, o, np.maximum(o, c), np.minimum(o, c), c, np.zeros(len(o)))


class Scripted:
    """A strategy whose targets are given: to test the engine alone."""

    name = "scripted"
    warmup_bars = 0

    def __init__(self, targets: list[float]) -> None:
        self.targets = np.array(targets, dtype=np.float64)

    def target_positions(self, bars: Bars) -> FloatArray:
        return self.targets[: len(bars)]

    def live(self) -> LiveStrategy:
        raise NotImplementedError


@pytest.mark.parametrize("long_only", [False, True])
def test_no_lookahead_prefix_decisions_equal_whole_series_decisions(long_only):
    bars = random_walk_bars(600)
    strategy = SmaCrossover(SmaCrossoverConfig(fast_window=5, slow_window=13, long_only=long_only))
    whole = strategy.target_positions(bars)
    assert np.count_nonzero(np.diff(whole)) > 10
    for cut in (1, 12, 13, 14, 50, 333, 599):
        np.testing.assert_array_equal(strategy.target_positions(bars.head(cut)), whole[:cut])


@pytest.mark.parametrize("long_only", [False, True])
def test_vectorised_and_incremental_paths_decide_the_same(long_only):
    bars = random_walk_bars(1_000, seed=11)
    strategy = SmaCrossover(SmaCrossoverConfig(long_only=long_only))
    live = strategy.live()
    incremental = [signal for bar in bars if (signal := live.on_bar(bar)) is not None]
    vectorised = signals_from_targets(bars, strategy.target_positions(bars))
    assert len(vectorised) > 10
    assert incremental == vectorised


def test_a_round_trip_loses_exactly_its_fees_and_slippage():
    # Buy after bar 0, sell after bar 2: fills at the opens of bars 1 and 3, both 100.00.
    bars = bars_of(["100", "100", "101", "100"], ["100", "101", "100", "100"])
    config = BacktestConfig(
        spec=SPEC,
        order_size=Decimal(10),
        initial_cash=Decimal(10_000),
        fee_rate=Decimal("0.001"),
        slippage_bps=Decimal(10),
    )
    result = run_backtest(Scripted([1, 1, 0, 0]), bars, config)
    buy, sell = (fill.event for fill in result.fills)
    # 10 bps against us, on the grid against us: buy at 100.10, sell at 99.90.
    assert (buy.side, buy.price, sell.side, sell.price) == (
        Side.BUY,
        Decimal("100.10"),
        Side.SELL,
        Decimal("99.90"),
    )
    assert buy.fee == Decimal("1.001") and sell.fee == Decimal("0.999")
    (trade,) = result.trades
    assert (trade.entry_bar, trade.exit_bar) == (1, 3)
    assert trade.slippage_cost == Decimal("2.00")  # 0.10 x 10, twice
    assert trade.fees == Decimal("2.000")
    assert trade.net_pnl == Decimal("-4.000")  # the price round-trips: only costs remain
    assert result.final_equity == Decimal("9996.000")
    assert result.total_costs == Decimal("4.000")
    assert result.open_trade is None
    assert result.equity[-1] == pytest.approx(9996.0)


def test_latency_in_bars_and_in_time_delays_the_fill():
    bars = bars_of(["100", "101", "102", "103", "104"], ["100", "101", "102", "103", "104"])
    base = {
        "spec": SPEC,
        "order_size": Decimal(1),
        "initial_cash": Decimal(1_000),
        "fee_rate": Decimal(0),
        "slippage_bps": Decimal(0),
    }
    strategy = Scripted([1, 1, 1, 1, 1])
    by_bars = run_backtest(strategy, bars, BacktestConfig(**base, latency_bars=2))
    by_time = run_backtest(strategy, bars, BacktestConfig(**base, latency=timedelta(hours=20)))
    assert [(f.bar, f.event.price) for f in by_bars.fills] == [(3, Decimal("103"))]
    assert [(f.bar, f.event.price) for f in by_time.fills] == [(2, Decimal("102"))]


def test_a_reversal_is_one_order_through_zero_and_two_trades():
    bars = bars_of(["100", "100", "102", "104", "103"], ["100", "102", "104", "103", "103"])
    config = BacktestConfig(
        spec=SPEC,
        order_size=Decimal(2),
        initial_cash=Decimal(1_000),
        fee_rate=Decimal(0),
        slippage_bps=Decimal(0),
    )
    result = run_backtest(Scripted([1, 1, -1, -1, -1]), bars, config)
    assert [(f.event.side, f.event.quantity) for f in result.fills] == [
        (Side.BUY, Decimal(2)),
        (Side.SELL, Decimal(4)),
    ]
    (closed,) = result.trades
    assert (closed.entry_price, closed.exit_price, closed.net_pnl) == (
        Decimal("100"),
        Decimal("104"),
        Decimal("8"),
    )
    assert result.open_trade is not None and result.open_trade.side is Side.SELL
    assert result.final_equity == Decimal(1_000 + 8 + 2)  # short 2 from 104, marked at 103


def test_metrics_come_from_the_domain_on_the_exact_curve():
    bars = random_walk_bars(400)
    config = BacktestConfig(spec=SPEC, order_size=Decimal(5), initial_cash=Decimal(100_000))
    result = run_backtest(SmaCrossover(), bars, config)
    closes = [Decimal(repr(float(c))) for c in bars.close]
    curve = result.equity_curve(closes)
    assert curve[-1][1] == result.final_equity
    np.testing.assert_allclose([float(e) for _, e in curve], result.equity, rtol=1e-12)
    summary = result.summary(24 * 365, closes)
    assert summary.trade_count == len(result.trades)
    assert summary.total_fees > 0
    assert summary.total_return == result.final_equity / Decimal(100_000) - 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"fast_window": 0}, "fast_window"),
        ({"slow_window": 2.5}, "slow_window"),
        ({"fast_window": 20, "slow_window": 10}, "fast_window"),
        ({"long_only": "yes"}, "long_only"),
    ],
)
def test_bad_strategy_config_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(DomainError, match=field):
        SmaCrossoverConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"order_size": Decimal(0)}, "order_size"),
        ({"initial_cash": Decimal(-1)}, "initial_cash"),
        ({"fee_rate": Decimal("1.5")}, "fee_rate"),
        ({"fee_rate": 0.001}, "fee_rate"),
        ({"slippage_bps": Decimal(-1)}, "slippage_bps"),
        ({"latency_bars": -1}, "latency_bars"),
        ({"latency": timedelta(seconds=-1)}, "latency"),
    ],
)
def test_bad_backtest_config_is_refused_naming_the_field(kwargs, field):
    values = {"spec": SPEC, "order_size": Decimal(1), "initial_cash": Decimal(100)} | kwargs
    with pytest.raises(DomainError, match=field):
        BacktestConfig(**values)


def test_prices_off_the_tick_grid_are_refused_naming_the_bar():
    bars = bars_of(["100", "100.005"], ["100", "100"])
    config = BacktestConfig(spec=SPEC, order_size=Decimal(1), initial_cash=Decimal(100))
    with pytest.raises(DomainError, match="bar 1: open"):
        run_backtest(Scripted([0, 0]), bars, config)
