"""The backtester's own rules: decisions without lookahead, one decision path for backtest and
live, costs always charged, bad configuration refused by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from execution.domain.errors import DomainError
from execution.domain.positions import ExitReason
from execution.domain.risk import RiskLimits
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


def bars_ohlc(rows: list[tuple[str, str, str, str]]) -> Bars:
    """Daily bars from (open, high, low, close) strings."""
    o, h, lo, c = (np.array([float(row[i]) for row in rows]) for i in range(4))
    starts = np.datetime64("2024-01-01", "us") + np.arange(len(rows)) * np.timedelta64(1, "D")
    return Bars(starts, o, h, lo, c, np.zeros(len(rows)))


def protected(**kwargs: object) -> BacktestConfig:
    values: dict[str, object] = {
        "spec": SPEC,
        "order_size": Decimal(10),
        "initial_cash": Decimal(10_000),
        "fee_rate": Decimal(0),
        "slippage_bps": Decimal(0),
    }
    return BacktestConfig(**(values | kwargs))  # type: ignore[arg-type]


PATHS = pytest.mark.parametrize("reference", [False, True], ids=["fast", "reference"])


@PATHS
def test_a_gap_through_the_stop_fills_at_the_open_and_reentry_waits_for_a_new_target(reference):
    bars = bars_ohlc(
        [
            ("100", "100", "100", "100"),
            ("100", "101", "99.5", "100"),  # entry at the open: 100.10 after 10 bps
            ("97", "98", "96", "97"),  # opens below the stop (99.09): fills at the open
            ("97", "98", "96", "97"),
            ("97", "98", "96", "97"),
            ("97", "98", "97", "97"),  # re-entry at 97.10: its stop 96.12 is not reached
        ]
    )
    config = protected(
        stop_loss=Decimal("0.01"), fee_rate=Decimal("0.001"), slippage_bps=Decimal(10)
    )
    result = run_backtest(Scripted([1, 1, 1, 0, 1, 1]), bars, config, reference=reference)
    entry, stop, again = result.fills
    assert (entry.bar, entry.event.price, entry.reason) == (1, Decimal("100.10"), None)
    # Stop = 100.10 x 0.99 = 99.099, down onto the grid: 99.09. The bar opens at 97: the stop
    # fills there, slipped 10 bps against us and down onto the grid: 96.903 -> 96.90.
    assert (stop.bar, stop.event.side, stop.event.price) == (2, Side.SELL, Decimal("96.90"))
    assert stop.reason is ExitReason.STOP_LOSS
    assert stop.at == datetime(2024, 1, 3, tzinfo=UTC)  # at the open: the bar's start
    assert stop.event.fee == Decimal("0.969") and stop.slippage_cost == Decimal("1.00")
    (trade,) = result.trades
    assert trade.exit_reason is ExitReason.STOP_LOSS
    assert trade.net_pnl == Decimal("-32.00") - Decimal("1.001") - Decimal("0.969")
    # The target stays 1 after the stop: no re-entry; it goes 0 then 1: re-entry at bar 5.
    assert (again.bar, again.event.side, again.reason) == (5, Side.BUY, None)


@PATHS
def test_a_bar_reaching_both_levels_is_a_stop_at_the_level(reference):
    bars = bars_ohlc(
        [
            ("100", "100", "100", "100"),
            ("100", "102.5", "98.5", "100"),  # entry at 100; both 99 and 102 inside the bar
            ("100", "100", "100", "100"),
        ]
    )
    config = protected(stop_loss=Decimal("0.01"), take_profit=Decimal("0.02"))
    result = run_backtest(Scripted([1, 1, 1]), bars, config, reference=reference)
    _, stop = result.fills
    assert (stop.bar, stop.event.price, stop.reason) == (1, Decimal("99"), ExitReason.STOP_LOSS)
    assert stop.at == datetime(2024, 1, 3, tzinfo=UTC)  # inside the bar: its end
    assert result.trades[0].net_pnl == Decimal(-10)
    assert result.final_equity == Decimal(10_000 - 10)


@PATHS
@pytest.mark.parametrize(
    ("bar", "price"),
    [
        (("101", "102.4", "100.5", "102"), Decimal("102")),  # reached inside: at the level
        (("103", "104", "102.5", "103"), Decimal("103")),  # opens above it: at the open
    ],
)
def test_a_short_or_long_take_profit_fills_at_the_level_or_a_better_open(reference, bar, price):
    bars = bars_ohlc([("100", "100", "100", "100"), ("100", "100.5", "99.5", "100"), bar, bar])
    config = protected(take_profit=Decimal("0.02"))
    result = run_backtest(Scripted([1, 1, 1, 1]), bars, config, reference=reference)
    _, exit_fill = result.fills
    assert (exit_fill.bar, exit_fill.event.price) == (2, price)
    assert exit_fill.reason is ExitReason.TAKE_PROFIT
    assert result.trades[0].net_pnl == (price - 100) * 10
    # The mirror image: a short's take profit is below its entry.
    mirror = bars_ohlc(
        [
            ("100", "100", "100", "100"),
            ("100", "100.5", "99.5", "100"),
            ("99", "99.5", "97.9", "98"),
        ]
    )
    short = run_backtest(Scripted([-1, -1, -1]), mirror, config, reference=reference)
    assert [(f.bar, f.event.side, f.event.price) for f in short.fills] == [
        (1, Side.SELL, Decimal("100")),
        (2, Side.BUY, Decimal("98")),
    ]


@PATHS
def test_risk_refusals_are_recorded_with_their_rules_and_nothing_fills(reference):
    bars = bars_of(["100", "100", "100", "100"], ["100", "100", "100", "100"])
    # 10 x 100 = 1000 is above the order value limit; a 2-unit order is below min notional.
    spec = InstrumentSpec("TEST", "X", "USD", Decimal("0.01"), Decimal(1), Decimal(1), Decimal(300))
    config = protected(spec=spec, risk=RiskLimits(max_order_value=Decimal(500)))
    result = run_backtest(Scripted([1, 1, 0.2, 0.2]), bars, config, reference=reference)
    assert result.fills == ()
    assert [(r.bar, r.side, r.quantity) for r in result.refusals] == [
        (0, Side.BUY, Decimal(10)),
        (2, Side.BUY, Decimal(2)),
    ]
    assert result.refusal_counts == {"max_order_value": 1, "min_notional": 1}
    assert result.final_equity == Decimal(10_000)
    # Room for the order: it goes through, and the position is capped by max_position_value.
    ok = run_backtest(
        Scripted([1, 1, 1, 1]),
        bars,
        protected(risk=RiskLimits(max_position_value=Decimal("0.05"))),
        reference=reference,
    )
    assert ok.fills == () and ok.refusal_counts == {"max_position_value": 1}
    fine = run_backtest(
        Scripted([1, 1, 1, 1]), bars, protected(risk=RiskLimits()), reference=reference
    )
    assert [f.event.quantity for f in fine.fills] == [Decimal(10)] and fine.refusals == ()


def test_bad_protective_levels_are_refused_naming_the_field():
    for kwargs, field in (
        ({"stop_loss": Decimal(0)}, "stop_loss"),
        ({"stop_loss": Decimal(1)}, "stop_loss"),
        ({"take_profit": Decimal("-0.1")}, "take_profit"),
    ):
        with pytest.raises(DomainError, match=field):
            protected(**kwargs)
