"""A CSV file of one's own: imported whole, or refused whole with each problem's line and
column."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.apps import apps

from execution.domain.values import InstrumentSpec
from execution.marketdata import files
from execution.marketdata.base import MarketDataError
from execution.marketdata.files import CsvCandles, CsvTrades
from execution.models import Candle, Instrument, MarketTrade
from execution.selectors import candle_window
from execution.services.market_history import market_history_import

GRID = InstrumentSpec(
    symbol="ABC-USD", base="ABC", quote="USD", tick_size=Decimal("0.01"), lot_size=Decimal(1),
    min_quantity=Decimal(1),
)  # fmt: skip


def row_counts() -> dict[str, int]:
    return {
        m.__name__: m._default_manager.count()
        for m in apps.get_app_config("execution").get_models()
    }


def write(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def hourly(count: int, start_hour: int = 0) -> str:
    lines = ["Time,Open,High,Low,Close,Volume"]
    for k in range(count):
        day, hour = divmod(start_hour + k, 24)
        price = 100 + k % 17
        lines.append(f"2024-01-{day + 1:02d} {hour:02d}:00,{price},{price + 1},{price - 1},"
                     f"{price + 0.5},{k}")  # fmt: skip
    return "\n".join(lines) + "\n"


def test_a_good_file_imports_and_creates_its_instrument(db, tmp_path):
    path = write(tmp_path, hourly(48))
    summary = market_history_import(
        loader=CsvCandles(path=path, symbol="ABC-USD", interval="1h", instrument=GRID)
    )
    assert (summary.read, summary.added, summary.instrument_created) == (48, 48, True)
    assert Instrument.objects.get(symbol="ABC-USD").tick_size == Decimal("0.01")
    window = candle_window(
        symbol="ABC-USD", interval="1h", start=datetime(2024, 1, 2, tzinfo=UTC),
        end=datetime(2024, 1, 2, 6, tzinfo=UTC),
    )  # fmt: skip
    assert len(window) == 6 and window.volume.tolist() == [24, 25, 26, 27, 28, 29]


BAD_FILES = {
    "missing column": (
        "time,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n",
        "line 1, column 'volume': missing",
    ),
    "wrong type": (
        "time,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,1\n2024-01-02,1,2,0.5,one,1\n",
        "line 3, column 'close': 'one' is not a number",
    ),
    "not a time": (
        "time,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,1\n2024-13-45,1,2,0.5,1.5,1\n",
        "line 3, column 'time': '2024-13-45' is not a time",
    ),
    "NaN price": (
        "time,open,high,low,close,volume\n2024-01-01,1,2,0.5,NaN,1\n",
        "line 2, column 'close': NaN (not a number)",
    ),
    "infinite volume": (
        "time,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,inf\n",
        "line 2, column 'volume': inf is not finite",
    ),
    "negative price": (
        "time,open,high,low,close,volume\n2024-01-01,1,2,-0.5,1.5,1\n",
        "line 2, column 'low': -0.5 is not positive",
    ),
    "high below low": (
        "time,open,high,low,close,volume\n2024-01-01,1,0.4,0.5,1.5,1\n",
        "line 2, column 'high': 0.4 is below the open or close (1.5)",
    ),
    "unsorted": (
        "time,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,1\n2024-01-01,1,2,0.5,1.5,1\n",
        "line 3, column 'time': 2024-01-01 00:00:00 is earlier than line 2",
    ),
    "duplicate": (
        "time,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,1\n2024-01-01,1,2,0.5,1.5,1\n",
        "line 3, column 'time': 2024-01-01 00:00:00 repeats line 2",
    ),
    "blank line": (
        "time,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,1\n\n2024-01-03,1,2,0.5,1.5,1\n",
        "line 3, column 'time': missing value",
    ),
    "ragged line": (
        "time,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,1\n2024-01-02,1,2,0.5,1.5,1,9\n",
        "Expected 6 fields in line 3, saw 7",
    ),
    "empty file": ("", "line 1, column '*': the file is empty"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_bad_file_is_refused_naming_line_and_column_and_nothing_is_written(db, tmp_path, kind):
    text, message = BAD_FILES[kind]
    before = row_counts()
    loader = CsvCandles(path=write(tmp_path, text), symbol="ABC-USD", interval="1d",
                        instrument=GRID)  # fmt: skip

    with pytest.raises(MarketDataError) as refused:
        market_history_import(loader=loader)

    assert message in str(refused.value)
    assert row_counts() == before  # not even the instrument


def test_a_bad_line_in_a_later_chunk_undoes_the_earlier_chunks(db, tmp_path, monkeypatch):
    monkeypatch.setattr(files, "CHUNK_ROWS", 10)
    text = hourly(35).replace("2024-01-02 07:00,", "2024-01-02 06:00,")  # row 32 repeats 31
    loader = CsvCandles(path=write(tmp_path, text), symbol="ABC-USD", interval="1h",
                        instrument=GRID)  # fmt: skip

    with pytest.raises(MarketDataError, match="line 33, column 'time': .* repeats line 32"):
        market_history_import(loader=loader)

    assert Candle.objects.count() == 0


def test_chunks_are_checked_in_order_across_their_boundary(db, tmp_path, monkeypatch):
    monkeypatch.setattr(files, "CHUNK_ROWS", 10)
    lines = hourly(20).splitlines()
    lines[11], lines[10] = lines[10], lines[11]  # rows 10 and 11 change places, across chunks
    loader = CsvCandles(path=write(tmp_path, "\n".join(lines)), symbol="ABC-USD", interval="1h",
                        instrument=GRID)  # fmt: skip

    with pytest.raises(
        MarketDataError, match="line 12, column 'time': .* earlier than the previous"
    ):
        market_history_import(loader=loader)


def test_without_a_grid_a_new_instrument_is_refused(db, tmp_path):
    loader = CsvCandles(path=write(tmp_path, hourly(3)), symbol="NEW-USD", interval="1h")
    with pytest.raises(MarketDataError, match="there is no instrument NEW-USD"):
        market_history_import(loader=loader)


def test_a_missing_file_is_refused(db, tmp_path):
    loader = CsvCandles(path=tmp_path / "nope.csv", symbol="ABC-USD", interval="1h",
                        instrument=GRID)  # fmt: skip
    with pytest.raises(MarketDataError, match="does not exist"):
        market_history_import(loader=loader)


def test_trades_from_a_file_import_once(db, tmp_path):
    text = ("time,price,size,side,trade_id\n"
            "2024-01-01T00:00:00.250Z,100.5,2,buy,t1\n"
            "2024-01-01T00:00:00.250Z,100.4,1,sell,t2\n"
            "2024-01-01T00:00:01Z,100.6,0.5,BUY,t3\n")  # fmt: skip
    loader = CsvTrades(path=write(tmp_path, text), symbol="ABC-USD", instrument=GRID)

    assert market_history_import(loader=loader).added == 3
    assert market_history_import(loader=loader).added == 0
    t3 = MarketTrade.objects.get(venue_trade_id="t3")
    assert (t3.price, t3.aggressor_side) == (100.6, "buy")
    assert t3.traded_at == datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_bad_trades_are_refused_and_nothing_is_written(db, tmp_path):
    text = ("time,price,size,side,trade_id\n"
            "2024-01-01T00:00:00Z,100.5,2,buy,t1\n"
            "2024-01-01T00:00:01Z,100.4,-1,sell,t1\n")  # fmt: skip
    loader = CsvTrades(path=write(tmp_path, text), symbol="ABC-USD", instrument=GRID)
    with pytest.raises(MarketDataError) as refused:
        market_history_import(loader=loader)
    assert "line 3, column 'size': -1.0 is not positive" in str(refused.value)
    assert "line 3, column 'trade_id': 't1' repeats line 2" in str(refused.value)
    assert MarketTrade.objects.count() == 0
