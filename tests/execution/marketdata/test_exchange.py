"""The ccxt source against a real ccxt.okx whose HTTP layer is a fake OKX (no network)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from execution.marketdata.base import MarketDataError
from execution.marketdata.exchange import CcxtBooks, CcxtCandles, CcxtTrades, ccxt_client
from execution.models import BookSnapshot, Candle, Instrument, MarketTrade
from execution.selectors import candle_window, market_trade_window
from execution.services.market_history import market_history_import
from tests.execution.marketdata.okx_history import Candle as OkxCandle
from tests.execution.marketdata.okx_history import FakeOkxHistory, Trade, okx_with

START = datetime(2024, 1, 1, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)
MINUTE = 60_000


def minute_candles(count: int, *, first_ms: int = START_MS, skip: range = range(0)):
    candles = []
    for k in range(count):
        if k in skip:
            continue
        price = 42_000 + k / 10
        candles.append(
            OkxCandle(first_ms + k * MINUTE, f"{price:.1f}", f"{price + 5:.1f}",
                      f"{price - 5:.1f}", f"{price + 1:.1f}", f"{k % 7 + 0.5}")
        )  # fmt: skip
    return candles


def client(fake: FakeOkxHistory, *, now_ms: int, sleeps: list[float] | None = None):
    record = sleeps.append if sleeps is not None else (lambda _: None)
    return ccxt_client("BTC/USDT", exchange=okx_with(fake, now_ms=now_ms), sleep=record)


def test_candles_page_through_history_and_store_every_bar_once(db):
    fake = FakeOkxHistory(candles=minute_candles(250))
    until = START_MS + 250 * MINUTE
    loader = CcxtCandles(client(fake, now_ms=until + 3600_000), "1m", START_MS, until)

    summary = market_history_import(loader=loader)

    assert (summary.read, summary.added, summary.symbol) == (250, 250, "BTC-USDT")
    assert len(fake.paths("/market/history-candles")) == 3  # 100 + 100 + 50
    instrument = Instrument.objects.get(symbol="BTC-USDT")  # the grid OKX publishes
    assert (str(instrument.tick_size.normalize()), str(instrument.min_quantity.normalize())) == (
        "0.1", "0.00001",
    )  # fmt: skip
    window = candle_window(
        symbol="BTC-USDT", interval="1m", start=START, end=datetime(2024, 1, 2, tzinfo=UTC)
    )
    assert len(window) == 250
    assert window.open[0] == 42_000.0 and window.close[-1] == pytest.approx(42_025.9)
    assert np.all(np.diff(window.open_time) == np.timedelta64(60, "s"))

    again = market_history_import(loader=loader)
    assert (again.read, again.added) == (250, 0)
    assert Candle.objects.count() == 250


def test_candle_gaps_and_the_forming_bar(db):
    # No trading for minutes 120-260 (more than a page); the last bar is still forming.
    fake = FakeOkxHistory(candles=minute_candles(400, skip=range(120, 261)))
    now = START_MS + 399 * MINUTE + 30_000  # half way through minute 399
    loader = CcxtCandles(client(fake, now_ms=now), "1m", START_MS)

    summary = market_history_import(loader=loader)

    assert summary.read == 400 - 141 - 1
    stored = Candle.objects.order_by("open_time").values_list("open_time", flat=True)
    assert stored.last() == datetime(2024, 1, 1, 6, 38, tzinfo=UTC)  # minute 398


def test_a_request_refused_for_its_rate_is_retried_after_a_pause(db):
    fake = FakeOkxHistory(candles=minute_candles(10), refuse_next_for_rate=True)
    sleeps: list[float] = []
    loader = CcxtCandles(
        client(fake, now_ms=START_MS + 3600_000, sleeps=sleeps), "1m", START_MS,
        START_MS + 10 * MINUTE,
    )  # fmt: skip

    assert market_history_import(loader=loader).added == 10
    assert len(sleeps) == 1 and sleeps[0] > 0
    assert len(fake.paths("/market/history-candles")) == 2


def test_a_bad_page_refuses_the_whole_import(db):
    candles = minute_candles(150)
    candles[120].h = "41000.0"  # below its open
    fake = FakeOkxHistory(candles=candles)
    loader = CcxtCandles(client(fake, now_ms=START_MS + 10_800_000), "1m", START_MS,
                         START_MS + 150 * MINUTE)  # fmt: skip

    with pytest.raises(MarketDataError) as refused:
        market_history_import(loader=loader)

    assert "page 2 row 21, column 'high': 41000.0 is below the open or close" in str(refused.value)
    assert Candle.objects.count() == 0  # the first page too
    assert not Instrument.objects.filter(symbol="BTC-USDT").exists()


def test_an_unknown_market_or_interval_is_refused_by_name(db):
    fake = FakeOkxHistory()
    exchange = okx_with(fake, now_ms=START_MS)
    unknown = CcxtCandles(ccxt_client("DOGE/EUR", exchange=exchange), "1m", START_MS)
    with pytest.raises(MarketDataError, match="okx has no market DOGE/EUR"):
        market_history_import(loader=unknown)
    odd = CcxtCandles(ccxt_client("BTC/USDT", exchange=exchange), "7m", START_MS)
    with pytest.raises(MarketDataError, match="okx has no 7m candles"):
        market_history_import(loader=odd)


def test_trades_page_backwards_by_trade_id_down_to_since(db):
    trades = [
        Trade(1000 + k, START_MS + k * 500, f"{42_000 + k % 13}.5", "0.01",
              "buy" if k % 3 else "sell")
        for k in range(330)
    ]  # fmt: skip
    fake = FakeOkxHistory(trades=trades)
    since = START_MS + 40 * 500  # trades 40..329
    loader = CcxtTrades(client(fake, now_ms=START_MS + 3600_000), since)

    summary = market_history_import(loader=loader)

    assert (summary.kind, summary.read, summary.added) == ("trades", 290, 290)
    afters = [r.query.get("after") for r in fake.paths("/market/history-trades")]
    assert afters == [None, "1230", "1130"]  # newest first; the third reaches back past since
    window = market_trade_window(
        symbol="BTC-USDT", start=START, end=datetime(2024, 1, 2, tzinfo=UTC)
    )
    assert len(window) == 290
    assert np.all(np.diff(window.traded_at) > np.timedelta64(0, "us"))
    assert set(window.aggressor_side) == {"buy", "sell"}
    assert MarketTrade.objects.get(venue_trade_id="1040").price == 42_001.5

    assert market_history_import(loader=loader).added == 0


def test_book_snapshots_keep_the_top_levels(db):
    def book(ts: int, mid: float):
        return {
            "asks": [[f"{mid + 0.1 * k:.1f}", "1.5", "0", "2"] for k in range(1, 8)],
            "bids": [[f"{mid - 0.1 * k:.1f}", "2", "0", "3"] for k in range(1, 8)],
            "ts": str(ts),
        }

    fake = FakeOkxHistory(books=[book(START_MS, 42_000), book(START_MS + 1000, 42_001)])
    sleeps: list[float] = []
    loader = CcxtBooks(client(fake, now_ms=START_MS, sleeps=sleeps), depth=5, snapshots=2,
                       every=0.5)  # fmt: skip

    summary = market_history_import(loader=loader)

    assert (summary.kind, summary.added) == ("books", 2)
    assert sleeps == [0.5]
    first = BookSnapshot.objects.order_by("taken_at").first()
    assert first.depth == 5 and first.taken_at == START
    assert first.bids[0] == [41_999.9, 2.0] and first.asks[-1] == [42_000.5, 1.5]
    assert fake.paths("/market/books")[0].query["sz"] == "5"
