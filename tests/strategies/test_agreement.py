"""Agreement with an independent engine: the ``backtesting`` package (issue 5, item 4).

For an SMA(10)/SMA(20) crossover on the GOOG daily and EURUSD hourly candles that the package
bundles (read in place; AGPL, never copied), our trade list (entry and exit bar and price)
equals the package's and the final equity agrees to 1e-6 relative.

Assumptions matched between the two engines:

- Signal: the package's own example strategy: on a strict cross up (fast[-2] < slow[-2] and
  fast[-1] > slow[-1]) close the position and buy; on a strict cross down close and sell. Ours
  is ``SmaCrossover`` long/short. Averages are pandas' rolling mean there and ours here, both
  rounded to ``AVERAGE_DECIMALS`` places: they differ in the last bits, and on a price grid
  the two averages are often exactly equal, a tie that float noise must not make a cross.
- A cross in the direction already held is no trade: the example would close and reopen at
  the same open (paying two commissions); our target is already there. It happens after a tie:
  fast == slow, then fast < slow without a strict cross down, then a cross up. So the
  package's strategy checks ``not self.position.is_long`` (``is_short``) before trading.
- Warm-up: the package calls ``next`` first at the bar after the slow average's first value;
  our crosses need both averages on the bar before, which is the same bar.
- Fills: ``trade_on_close=False``: market orders at the next bar's open; ours fill at the open
  of the bar after the decision (no latency). Spread 0 there, slippage 0 here.
- Size: a fixed number of units per trade there (``size=SIZE``); ``order_size=SIZE`` here. A
  reversal is two orders there (close, then open) at the same open; one order through zero
  here, which our accounting splits into the same two trades.
- Commission: a fraction of each fill's value, charged at entry and at exit there; a taker
  fee of the same fraction on every fill here. Same money.
- Cash and margin: margin 1 with cash large enough that the package never cancels an order;
  ours has no margin check.
- End: ``finalize_trades=False``: the last open trade is not in the package's trade list and
  equity marks it at the last close without an exit commission; ours reports it as the open
  trade, marked the same way.
- Prices: the files' prices are on a grid of 0.01 (GOOG) and 0.00001 (EURUSD), our tick sizes.
"""

from __future__ import annotations

import importlib.util
import warnings
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information
import pytest

from execution.domain.values import InstrumentSpec
from strategies.backtest.engine import BacktestConfig, run_backtest
from strategies.domain.base import Bars
from strategies.library.sma_crossover import AVERAGE_DECIMALS, SmaCrossover

COMMISSION = Decimal("0.002")
CASES = [
    # file, tick size, size in units, cash
    ("GOOG.csv", Decimal("0.01"), Decimal(10), 1_000_000),
    ("EURUSD.csv", Decimal("0.00001"), Decimal(10_000), 1_000_000),
]


def _data_dir() -> Path:
    spec = importlib.util.find_spec("backtesting")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "test"


def _load(name: str) -> pd.DataFrame:
    return pd.read_csv(_data_dir() / name, index_col=0, parse_dates=True)


def bars_from(frame: pd.DataFrame) -> Bars:
    return Bars(
        starts=frame.index.values.astype("datetime64[us]"),
        open=frame["Open"].to_numpy(np.float64),
        high=frame["High"].to_numpy(np.float64),
        low=frame["Low"].to_numpy(np.float64),
        close=frame["Close"].to_numpy(np.float64),
        volume=frame["Volume"].to_numpy(np.float64),
    )


def run_reference(frame: pd.DataFrame, *, size: int, cash: float, commission: float):
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
                self.buy(size=size)
            elif crossover(self.slow, self.fast) and not self.position.is_short:
                self.position.close()
                self.sell(size=size)

    backtest = Backtest(
        frame,
        SmaCross,
        cash=cash,
        commission=commission,
        spread=0.0,
        margin=1.0,
        trade_on_close=False,
        exclusive_orders=False,
        finalize_trades=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "trades remain open at the end": matched on purpose
        return backtest.run()


@pytest.mark.parametrize(("name", "tick", "size", "cash"), CASES)
def test_trades_and_final_equity_agree_with_backtesting(name, tick, size, cash):
    frame = _load(name)
    reference = run_reference(frame, size=int(size), cash=cash, commission=float(COMMISSION))
    spec = InstrumentSpec(
        symbol=name.removesuffix(".csv"),
        base="X",
        quote="Q",
        tick_size=tick,
        lot_size=Decimal(1),
        min_quantity=Decimal(1),
    )
    config = BacktestConfig(
        spec=spec,
        order_size=size,
        initial_cash=Decimal(cash),
        fee_rate=COMMISSION,
        slippage_bps=Decimal(0),
    )
    ours = run_backtest(SmaCrossover(), bars_from(frame), config)

    theirs = reference._trades
    assert len(theirs) > 10
    expected = [
        (int(t.EntryBar), int(t.ExitBar), round(t.EntryPrice, 6), round(t.ExitPrice, 6))
        for t in theirs.itertuples()
    ]
    got = [
        (t.entry_bar, t.exit_bar, round(float(t.entry_price), 6), round(float(t.exit_price), 6))
        for t in ours.trades
    ]
    assert got == expected
    assert [int(s) for s in theirs.Size] == [
        int(t.quantity) * (1 if t.side.sign > 0 else -1) for t in ours.trades
    ]
    assert ours.open_trade is not None  # the package leaves one open too
    final = float(reference["Equity Final [$]"])
    assert abs(float(ours.final_equity) - final) <= 1e-6 * final
    # The float curve marks the same account at every close.
    assert np.allclose(ours.equity, reference._equity_curve["Equity"].to_numpy(), rtol=1e-9)
