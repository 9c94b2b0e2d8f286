"""SMA(10)/SMA(20) crossover backtests over synthetic bars, side by side (issue 5, item 8).

Bars: a seeded random walk of 1-minute bars (close on a 0.01 grid, each bar opening at the
previous close), generated here. Costs on: 0.1% fee per fill, 1 bp slippage.

- ours: ``run_backtest`` over 1,000,000 bars, the whole run (vectorised decisions, the fast
  path's fills, fees and exact final equity, the marked-to-market equity curve), best of 3
  after one warm-up run on a small head (like vectorbt's figure, which is "once compiled").
  The Decimal fills and trades are built on demand; what building them costs is in the note.
  The fast path is checked against the reference path (bar by bar through execution.domain)
  on a slice: identical fills, trades and final equity.
- backtesting: the ``backtesting`` package on the first SLICE bars (a million would take
  minutes), its rate scaled as bars/s of that slice. Ours runs on the same slice too and the
  trades must be identical: the same entry and exit bars and sizes, prices equal up to the
  slippage (the package's spread is one-sided, so it runs with commission only).
- vectorbt: measured only if it is importable (it is not a project dependency), over the same
  1M bars with the same signals (shifted one bar: fills at the next open), fees and slippage;
  its trades must have our entry and exit bars and sides, prices within one tick (its slippage
  is not rounded onto the grid).
- ours with stops: the same run with a 0.5% stop loss and 1% take profit (the event loop),
  also checked against the reference on a slice.
"""

from __future__ import annotations

import dataclasses
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
STOPS = dataclasses.replace(CONFIG, stop_loss=Decimal("0.005"), take_profit=Decimal("0.01"))
CHECK = 20_000  # bars of the fast == reference check


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


def _ours(bars: Bars, config: BacktestConfig = CONFIG) -> tuple[BacktestResult, float]:
    started = time.perf_counter()
    result = run_backtest(SmaCrossover(), bars, config)
    return result, time.perf_counter() - started


def _best(bars: Bars, config: BacktestConfig, runs: int = 3) -> tuple[BacktestResult, float]:
    _ours(bars.head(5_000), config)  # warm up
    timed = [_ours(bars, config) for _ in range(runs)]
    return min(timed, key=lambda pair: pair[1])


def _fast_equals_reference(bars: Bars, config: BacktestConfig) -> bool:
    fast = run_backtest(SmaCrossover(), bars, config)
    slow = run_backtest(SmaCrossover(), bars, config, reference=True)
    return (
        fast.fills == slow.fills
        and fast.trades == slow.trades
        and fast.final_equity == slow.final_equity
        and len(fast.fills) > 0
    )


def _vectorbt(bars: Bars, ours: BacktestResult) -> tuple[float, str]:
    import vectorbt as vbt  # type: ignore[import-untyped, import-not-found, unused-ignore]

    targets = SmaCrossover().target_positions(bars)
    previous = np.concatenate(([0.0], targets[:-1]))
    # A decision at a bar's close fills at the next bar's open: the signals shift one bar.
    long_entries = np.zeros(len(bars), dtype=bool)
    short_entries = np.zeros(len(bars), dtype=bool)
    long_entries[1:] = (targets[:-1] > 0) & (previous[:-1] <= 0)
    short_entries[1:] = (targets[:-1] < 0) & (previous[:-1] >= 0)

    def run() -> object:
        return vbt.Portfolio.from_signals(
            close=bars.close,
            entries=long_entries,
            short_entries=short_entries,
            price=bars.open,
            fees=float(FEE),
            slippage=float(SLIPPAGE_BPS / 10_000),
            size=1.0,
            init_cash=float(CONFIG.initial_cash),
            freq="1min",
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run()  # compile
        started = time.perf_counter()
        portfolio = run()
        seconds = time.perf_counter() - started
    records = portfolio.trades.records  # type: ignore[attr-defined]
    closed = records[records.status == 1]
    tick = float(SPEC.tick_size)
    same = len(closed) == len(ours.trades) and all(
        (t.entry_bar, t.exit_bar, t.side is Side.SELL) == (e, x, bool(d))
        and abs(float(t.entry_price) - ep) < tick
        and abs(float(t.exit_price) - xp) < tick
        for t, e, x, d, ep, xp in zip(
            ours.trades,
            closed.entry_idx,
            closed.exit_idx,
            closed.direction,
            closed.entry_price,
            closed.exit_price,
            strict=False,
        )
    )
    verdict = "trades identical to ours" if same else "trades DIFFER from ours"
    return len(bars) / seconds, f"{verdict} ({len(closed):,} closed); {seconds:.3f}s once compiled"


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
    result, seconds = _best(bars, CONFIG)
    events = len(result.log)
    started = time.perf_counter()
    trades = result.trades  # the Decimal fills and trades, built on demand
    build = time.perf_counter() - started
    checked = _fast_equals_reference(bars.head(CHECK), CONFIG)
    results = [
        Result(
            "backtest SMA 10/20, ours (1M bars, fees + slippage)",
            BARS / seconds,
            "bars/s",
            TARGET,
            f"{events:,} fills, {len(trades):,} trades; {seconds:.3f}s; Decimal fills and "
            f"trades built on demand in {build:.1f}s; fast == reference on {CHECK // 1000}k "
            f"bars: {'yes' if checked else 'NO'}",
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
    else:
        rate, note = _vectorbt(bars, result)
        results.append(Result("backtest SMA 10/20, vectorbt (1M bars)", rate, "bars/s", "", note))
    stopped, stop_seconds = _best(bars, STOPS)
    exits = int(np.count_nonzero(stopped.log.reason))
    checked = _fast_equals_reference(bars.head(CHECK), STOPS)
    results.append(
        Result(
            "backtest SMA 10/20 + 0.5% stop, 1% take profit, ours (1M bars)",
            BARS / stop_seconds,
            "bars/s",
            "",
            f"{len(stopped.log):,} fills ({exits:,} protective exits); {stop_seconds:.3f}s; "
            f"fast == reference on {CHECK // 1000}k bars: {'yes' if checked else 'NO'}",
        )
    )
    return results


if __name__ == "__main__":
    for row in run():
        print(row)
