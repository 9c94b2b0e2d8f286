"""Real data shipped in packages, imported from the installed packages."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from execution.marketdata.packages import SERIES
from execution.models import Candle, Instrument
from execution.selectors import candle_window
from execution.services.market_history import market_history_import

EXPECTED = {
    # name: (symbol, interval, bars, first open time)
    "backtesting:EURUSD": ("EURUSD", "1h", 5_000, datetime(2017, 4, 19, 9, tzinfo=UTC)),
    "backtesting:GOOG": ("GOOG", "1d", 2_148, datetime(2004, 8, 19, tzinfo=UTC)),
    "backtesting:BTCUSD": ("BTCUSD", "1M", 156, datetime(2012, 1, 1, tzinfo=UTC)),
    "arch:sp500": ("SPX", "1d", 5_031, datetime(1999, 1, 4, tzinfo=UTC)),
    "arch:nasdaq": ("IXIC", "1d", 5_031, datetime(1999, 1, 4, tzinfo=UTC)),
    "bokeh:AAPL": ("AAPL", "1d", 3_270, datetime(2000, 3, 1, tzinfo=UTC)),
    "bokeh:IBM": ("IBM", "1d", 3_270, datetime(2000, 3, 1, tzinfo=UTC)),
    "bokeh:MSFT": ("MSFT", "1d", 3_270, datetime(2000, 3, 1, tzinfo=UTC)),
    "bokeh:GOOG": ("GOOG", "1d", 2_148, datetime(2004, 8, 19, tzinfo=UTC)),
    "bokeh:FB": ("FB", "1d", 196, datetime(2012, 5, 18, tzinfo=UTC)),
}


def test_every_series_is_listed():
    assert set(SERIES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_series_imports_whole_and_once(db, name):
    symbol, interval, bars, first = EXPECTED[name]

    summary = market_history_import(loader=SERIES[name])

    assert (summary.symbol, summary.interval, summary.read, summary.added) == (
        symbol, interval, bars, bars,
    )  # fmt: skip
    assert summary.first == first and summary.instrument_created
    stored = Candle.objects.filter(instrument__symbol=symbol, interval=interval)
    assert stored.count() == bars
    assert stored.order_by("open_time").first().open_time == first

    again = market_history_import(loader=SERIES[name])
    assert (again.read, again.added, again.already_stored) == (bars, 0, bars)
    assert stored.count() == bars


def test_eurusd_is_5000_hourly_bars_on_a_fx_grid(db):
    market_history_import(loader=SERIES["backtesting:EURUSD"])

    eurusd = Instrument.objects.get(symbol="EURUSD")
    assert (eurusd.base_currency, eurusd.quote_currency) == ("EUR", "USD")
    assert (eurusd.tick_size, eurusd.lot_size) == (Decimal("0.00001"), Decimal(1000))
    window = candle_window(
        symbol="EURUSD", interval="1h", start=datetime(2017, 1, 1, tzinfo=UTC),
        end=datetime(2019, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    assert len(window) == 5_000
    assert (window.open[0], window.close[0]) == (1.0716, 1.07219)  # the file's first line
    gaps = np.diff(window.open_time)
    assert gaps.min() == np.timedelta64(1, "h")


def test_an_existing_instrument_keeps_its_grid(db):
    Instrument.objects.create(
        symbol="GOOG", base_currency="GOOG", quote_currency="USD", tick_size=Decimal("0.0001"),
        lot_size=Decimal("0.001"),
    )  # fmt: skip

    summary = market_history_import(loader=SERIES["backtesting:GOOG"])

    assert not summary.instrument_created
    assert Instrument.objects.get(symbol="GOOG").tick_size == Decimal("0.0001")


def test_two_packages_of_one_stock_share_its_candles(db):
    market_history_import(loader=SERIES["backtesting:GOOG"])
    second = market_history_import(loader=SERIES["bokeh:GOOG"])
    assert (second.added, second.already_stored) == (0, 2_148)


def test_aapl_is_split_adjusted_across_its_2000_and_2005_splits(db):
    market_history_import(loader=SERIES["bokeh:AAPL"])
    window = candle_window(
        symbol="AAPL", interval="1d", start=datetime(2000, 1, 1, tzinfo=UTC),
        end=datetime(2014, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    # Unadjusted, the price halves overnight at each split; adjusted, it carries on.
    for split_day in ("2000-06-21", "2005-02-28"):
        day = int(np.searchsorted(window.open_time, np.datetime64(split_day)))
        assert 0.9 < window.open[day] / window.close[day - 1] < 1.1
    # The first bar: 2000-03-01's unadjusted close (130.31) over both splits (2 x 2).
    assert window.close[0] == pytest.approx(130.31 / 4)
    assert window.close[-1] == 430.47  # after the last split: as in the file
