"""SMA(10)/SMA(20) crossover backtests over synthetic bars, side by side (issue 5, item 8).

Bars: a seeded random walk of 1-minute bars (close on a 0.01 grid, each bar opening at the
previous close), generated here. Costs on: 0.1% fee per fill, 1 bp slippage.

- ours: ``run_backtest`` over 1,000,000 bars, the whole run (vectorised decisions, the event
  loop through execution.domain on every target change, the marked-to-market equity curve).
- backtesting: the ``backtesting`` package on the first SLICE bars (a million would take
  minutes), its rate scaled as bars/s of that slice. Ours runs on the same slice too and the
  trades must be identical: the same entry and exit bars and sizes, prices equal up to the
  slippage (the package's spread is one-sided, so it runs with commission only).
- vectorbt: measured only if it is importable; it is not a project dependency.
"""

from __future__ import annotations

import importlib.util
import time
import warnings
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np

from bench.common import Result
from execution.domain.values import InstrumentSpec, Side
from strategies.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from strategies.domain.base import Bars
from strategies.library.sma_crossover import AVERAGE_DECIMALS, SmaCrossover

SEED = 20240605
BARS = 1_000_000
SLICE = 100_000
FEE = Decimal("0.001")
SLIPPAGE_BPS = Decimal(1)
TARGET = ">= 3,000,000"
SPEC = InstrumentSpec(
    symbol="SYNTH",
    base="X",
    quote="USD",
    tick_size=Decimal("0.01"),
    lot_size=Decimal(1),
    min_quantity=Decimal(1),
)
CONFIG = BacktestConfig(
    spec=SPEC,
    order_size=Decimal(1),
    initial_cash=Decimal(10_000_000),
    fee_rate=FEE,
    slippage_bps=SLIPPAGE_BPS,
)


def synthetic_bars(count: int, seed: int = SEED) -> Bars:
    rng = np.random.default_rng(seed)
    close = np.round(np.maximum(1_000 + np.cumsum(rng.normal(0, 1, count)), 1), 2)
    open_ = np.concatenate(([1_000.0], close[:-1]))
    wick = np.round(np.abs(rng.normal(0, 0.3, count)), 2)
    high = np.round(np.maximum(open_, close) + wick, 2)
    low = np.round(np.maximum(np.minimum(open_, close) - wick, 0.01), 2)
    starts = np.datetime64("2020-01-01", "us") + np.arange(count) * np.timedelta64(60, "s")
    volume = rng.integers(1, 1_000, count).astype(np.float64)
    return Bars(
        starts,
        open_,
        high.astype(np.float64),
        low.astype(np.float64),
        close.astype(np.float64),
        volume,
    )


def _ours(bars: Bars) -> tuple[BacktestResult, float]:
    started = time.perf_counter()
    result = run_backtest(SmaCrossover(), bars, CONFIG)
    return result, time.perf_counter() - started


def _backtesting(bars: Bars):
    import pandas as pd  # type: ignore[import-untyped]
    from backtesting import Backtest, Strategy  # type: ignore[import-untyped]
    from backtesting.lib import crossover  # type: ignore[import-untyped]

    def sma(values, window):
        return pd.Series(values).rolling(window).mean().round(AVERAGE_DECIMALS)

    class SmaCross(Strategy):
        def init(self):
            self.fast = self.I(sma, self.data.Close, 10)
            self.slow = self.I(sma, self.data.Close, 20)

        def next(self):
            if crossover(self.fast, self.slow) and not self.position.is_long:
                self.position.close()
                self.buy(size=1)
            elif crossover(self.slow, self.fast) and not self.position.is_short:
                self.position.close()
                self.sell(size=1)

    frame = pd.DataFrame(
        {
            "Open": bars.open,
            "High": bars.high,
            "Low": bars.low,
            "Close": bars.close,
            "Volume": bars.volume,
        },
        index=pd.DatetimeIndex(bars.starts),
    )
    backtest = Backtest(
        frame,
        SmaCross,
        cash=float(CONFIG.initial_cash),
        commission=float(FEE),
        trade_on_close=False,
        finalize_trades=False,
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = backtest.run()
    return stats._trades, time.perf_counter() - started


def _slipped(price: float, side: Side) -> Decimal:
    """The package's unslipped price moved by our slippage rule (against us, onto the grid)."""
    moved = Decimal(repr(price)) * (1 + side.sign * SLIPPAGE_BPS / Decimal(10_000))
    rounding = ROUND_CEILING if side is Side.BUY else ROUND_FLOOR
    return (moved / SPEC.tick_size).to_integral_value(rounding) * SPEC.tick_size


def _assert_same_trades(ours: BacktestResult, theirs) -> None:
    assert len(ours.trades) == len(theirs) > 100, (len(ours.trades), len(theirs))
    for trade, (_, row) in zip(ours.trades, theirs.iterrows(), strict=True):
        side = Side.BUY if row.Size > 0 else Side.SELL
        assert (trade.entry_bar, trade.exit_bar, trade.side) == (row.EntryBar, row.ExitBar, side)
        assert trade.entry_price == _slipped(row.EntryPrice, side)
        assert trade.exit_price == _slipped(row.ExitPrice, side.opposite)


def run() -> list[Result]:
    bars = synthetic_bars(BARS)
    SmaCrossover().target_positions(bars.head(1_000))  # warm numpy up
    result, seconds = _ours(bars)
    events = len(result.fills)
    results = [
        Result(
            "backtest SMA 10/20, ours (1M bars, fees + slippage)",
            BARS / seconds,
            "bars/s",
            TARGET,
            f"{events:,} fills through execution.domain ({events / seconds:,.0f} fills/s); "
            f"{seconds:.2f}s",
        )
    ]
    if importlib.util.find_spec("backtesting") is not None:
        head = bars.head(SLICE)
        ours_slice, _ = _ours(head)
        theirs, their_seconds = _backtesting(head)
        _assert_same_trades(ours_slice, theirs)
        results.append(
            Result(
                f"backtest SMA 10/20, backtesting package ({SLICE // 1000}k-bar slice)",
                SLICE / their_seconds,
                "bars/s",
                "",
                f"trades identical to ours on the slice ({len(theirs):,}); "
                f"ours is {BARS / seconds / (SLICE / their_seconds):.1f}x",
            )
        )
    if importlib.util.find_spec("vectorbt") is None:
        results.append(
            Result("backtest SMA 10/20, vectorbt", 0.0, "bars/s", "", "not installed: skipped")
        )
    return results


if __name__ == "__main__":
    for row in run():
        print(row)
