"""Storage: the database's own checks, windows of candles, and PostgreSQL's COPY path."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.db import IntegrityError, connection, transaction

from execution.marketdata.base import CandleBatch
from execution.models import Candle, Instrument, MarketTrade
from execution.selectors import candle_window, stored_candle_history
from execution.services.market_history import market_history_import

START = datetime(2024, 3, 1, tzinfo=UTC)


class Bars:
    """A loader of ``count`` one-minute bars from START (a Loader of candles)."""

    name = "test:bars"
    symbol = "XYZ-USD"

    def __init__(self, count: int, *, offset: int = 0) -> None:
        self.count, self.offset = count, offset

    @property
    def instrument(self):
        from execution.domain.values import InstrumentSpec

        return InstrumentSpec(symbol="XYZ-USD", base="XYZ", quote="USD",
                              tick_size=Decimal("0.01"), lot_size=Decimal(1),
                              min_quantity=Decimal(1))  # fmt: skip

    def batches(self):
        k = np.arange(self.offset, self.offset + self.count)
        first = np.datetime64(START.replace(tzinfo=None), "us")
        close = 100 + np.sin(k / 10)
        yield CandleBatch(
            interval="1m",
            open_time=first + k * np.timedelta64(60, "s"),
            open=close - 0.01, high=close + 0.25, low=close - 0.25, close=close,
            volume=k.astype(np.float64),
        )  # fmt: skip


@pytest.fixture
def xyz(db):
    return Instrument.objects.create(
        symbol="XYZ-USD", base_currency="XYZ", quote_currency="USD", tick_size=Decimal("0.01"),
        lot_size=Decimal(1),
    )  # fmt: skip


def bar(instrument, **values):
    row = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1.0, **values}
    return Candle(instrument=instrument, interval="1m", open_time=START, **row)


@pytest.mark.parametrize(
    "values",
    [
        {"high": 10.2},  # below the close
        {"low": 10.4},  # above the open
        {"low": 0.0, "open": 0.5, "close": 0.5},
        {"volume": -1.0},
        {"high": math.nan},
        {"volume": math.nan},
        {"high": math.inf},
    ],
)
def test_the_database_refuses_impossible_bars(xyz, values):
    with pytest.raises(IntegrityError), transaction.atomic():
        bar(xyz, **values).save()


def test_one_bar_per_instrument_interval_and_open_time(xyz):
    Candle.objects.bulk_create([bar(xyz)])
    with pytest.raises(IntegrityError), transaction.atomic():
        Candle.objects.bulk_create([bar(xyz, close=10.9)])


def test_one_trade_per_venue_trade_id(xyz):
    trade = {"instrument": xyz, "venue_trade_id": "1", "traded_at": START, "price": 1.0,
             "size": 1.0, "aggressor_side": "buy"}  # fmt: skip
    MarketTrade.objects.create(**trade)
    with pytest.raises(IntegrityError), transaction.atomic():
        MarketTrade.objects.bulk_create([MarketTrade(**{**trade, "price": 2.0})])
    with pytest.raises(IntegrityError), transaction.atomic():
        MarketTrade.objects.create(**{**trade, "venue_trade_id": "2", "aggressor_side": "hold"})


def test_a_window_is_exactly_the_range_asked_for_in_order(db):
    market_history_import(loader=Bars(600))
    start, end = START + timedelta(minutes=100), START + timedelta(minutes=350)

    window = candle_window(symbol="XYZ-USD", interval="1m", start=start, end=end)

    assert len(window) == 250  # [start, end): the bar opening at `end` is not in it
    assert window.open_time[0] == np.datetime64(start.replace(tzinfo=None), "us")
    assert window.open_time[-1] == np.datetime64((end - timedelta(minutes=1)).replace(tzinfo=None))
    assert np.all(np.diff(window.open_time) == np.timedelta64(60, "s"))
    assert window.volume.tolist() == list(range(100, 350))
    assert window.close[0] == 100 + math.sin(10.0)  # float8 in, the same float out
    empty = candle_window(symbol="XYZ-USD", interval="1h", start=start, end=end)
    assert len(empty) == 0 and empty.close.dtype == np.float64


def test_overlapping_imports_add_only_the_new_bars(db):
    market_history_import(loader=Bars(300))
    summary = market_history_import(loader=Bars(300, offset=200))
    assert (summary.read, summary.added, summary.already_stored) == (300, 200, 100)
    assert Candle.objects.count() == 500
    (history,) = stored_candle_history()
    assert (history.symbol, history.candles, history.first) == ("XYZ-USD", 500, START)


@pytest.mark.postgres
def test_postgresql_imports_through_copy_and_loads_packed_windows(db):
    assert connection.vendor == "postgresql"
    summary = market_history_import(loader=Bars(20_000))
    assert summary.added == 20_000
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM market_candle_in")  # the COPY staging table
        assert cursor.fetchone() == (20_000,)  # emptied at commit, not before
    window = candle_window(
        symbol="XYZ-USD", interval="1m", start=START, end=START + timedelta(days=30)
    )
    assert len(window) == 20_000
    assert window.volume[-1] == 19_999.0
    assert market_history_import(loader=Bars(20_000, offset=10_000)).added == 10_000
