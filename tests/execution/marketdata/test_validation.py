"""The rules every batch passes, without a database."""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information
import pytest

from execution.marketdata.base import MarketDataError
from execution.marketdata.packages import split_adjusted
from execution.marketdata.validation import (
    FILE_ROWS,
    Rows,
    books_from_levels,
    candles_from_table,
    trades_from_table,
)

HEADER = ["time", "open", "high", "low", "close", "volume"]
GOOD = [
    ["2024-01-01 00:00", "10", "12", "9", "11", "100"],
    ["2024-01-01 01:00", "11", "13", "10", "12", "0"],
    ["2024-01-01 02:00", "12", "12.5", "11.5", "12", "7.25"],
]


def table(rows, header=HEADER):
    return pd.DataFrame(rows, columns=header, dtype=str)


def refusal(rows, header=HEADER) -> str:
    with pytest.raises(MarketDataError) as refused:
        candles_from_table(table(rows, header), interval="1h", source="f.csv", rows=FILE_ROWS)
    return str(refused.value)


def with_cell(row: int, column: str, value: str):
    rows = [list(r) for r in GOOD]
    rows[row][HEADER.index(column)] = value
    return rows


def test_good_candles_become_columns():
    batch = candles_from_table(table(GOOD), interval="1h", source="f.csv", rows=FILE_ROWS)
    assert len(batch) == 3 and batch.interval == "1h"
    assert batch.open_time[0] == np.datetime64("2024-01-01T00:00")
    assert batch.volume.tolist() == [100.0, 0.0, 7.25]


@pytest.mark.parametrize(
    ("row", "column", "value", "message"),
    [
        (1, "open", "abc", "line 3, column 'open': 'abc' is not a number"),
        (1, "volume", "", "line 3, column 'volume': missing value"),
        (2, "close", "NaN", "line 4, column 'close': NaN (not a number)"),
        (0, "high", "inf", "line 2, column 'high': inf is not finite"),
        (1, "low", "-1", "line 3, column 'low': -1.0 is not positive"),
        (1, "open", "0", "line 3, column 'open': 0.0 is not positive"),
        (2, "volume", "-3", "line 4, column 'volume': -3.0 is negative"),
        (0, "high", "10.5", "line 2, column 'high': 10.5 is below the open or close (11.0)"),
        (1, "low", "11.5", "line 3, column 'low': 11.5 is above the open or close (11.0)"),
        (1, "time", "yesterday", "line 3, column 'time': 'yesterday' is not a time"),
        (
            2,
            "time",
            "2024-01-01 01:00",
            "line 4, column 'time': 2024-01-01 01:00:00 repeats line 3",
        ),
        (
            2,
            "time",
            "2023-12-31 23:00",
            "line 4, column 'time': 2023-12-31 23:00:00 is earlier than line 3: "
            "rows must be in time order",
        ),
    ],
)
def test_each_bad_value_is_named_by_line_and_column(row, column, value, message):
    assert message in refusal(with_cell(row, column, value))


def test_missing_columns_are_named_with_the_columns_found():
    text = refusal([r[:5] for r in GOOD], header=HEADER[:5])
    assert "line 1, column 'volume': missing (the columns are 'time', 'open'" in text


def test_every_problem_is_listed_and_the_count_given():
    rows = with_cell(1, "open", "x")
    rows[2][HEADER.index("close")] = "-2"
    text = refusal(rows)
    assert text.startswith("f.csv: 2 problems")


def test_long_lists_are_cut_but_counted():
    rows = [[f"2024-01-01 {h:02d}:00", "x", "1", "1", "1", "1"] for h in range(24)] * 2
    text = refusal(rows)
    assert "... and" in text and "more" in text
    assert "49 problems" in text  # 48 bad opens, and the second day starts before the first ends


def test_time_zones_are_converted_to_utc_and_epoch_milliseconds_understood():
    rows = [
        ["2024-01-01T01:00:00+01:00", "1", "1", "1", "1", "1"],
        ["1704070800000", "1", "1", "1", "1", "1"],  # 2024-01-01 01:00 UTC
    ]
    batch = candles_from_table(table(rows), interval="1h", source="f", rows=FILE_ROWS)
    assert batch.open_time.tolist() == [
        np.datetime64("2024-01-01T00:00", "us").item(),
        np.datetime64("2024-01-01T01:00", "us").item(),
    ]


def test_numbers_of_the_wrong_type_are_refused_in_tables_too():
    frame = pd.DataFrame(
        {"Date": pd.to_datetime(["2024-01-01", "2024-01-02"]), "Open": [1.0, np.nan],
         "High": [2.0, 2.0], "Low": [0.5, 0.5], "Close": [1.5, 1.5], "Volume": [True, False]}
    )  # fmt: skip
    with pytest.raises(MarketDataError) as refused:
        candles_from_table(frame, interval="1d", source="arch:x", rows=Rows())
    text = str(refused.value)
    assert "row 2, column 'open': NaN (not a number)" in text
    assert "row 1, column 'volume': 'True' is not a number" in text


def test_a_chunk_is_checked_against_the_previous_chunks_last_time():
    with pytest.raises(MarketDataError, match="line 7, column 'time'.*the previous chunk"):
        candles_from_table(
            table(GOOD), interval="1h", source="f", rows=FILE_ROWS.after(5),
            after=np.datetime64("2024-01-01T00:00", "us"),
        )  # fmt: skip


def test_trades_may_share_a_time_but_not_an_id():
    frame = pd.DataFrame(
        {"timestamp": ["1704067200000", "1704067200000", "1704067199000", "1704067201000"],
         "price": ["1", "2", "3", "0"], "amount": ["1", "1", "1", "1"],
         "side": ["buy", "SELL", "buy", "hold"], "id": ["a", "b", "a", ""]}
    )  # fmt: skip
    with pytest.raises(MarketDataError) as refused:
        trades_from_table(frame, source="t.csv", rows=FILE_ROWS)
    problems = {str(p) for p in refused.value.problems}
    assert problems == {
        "line 4, column 'trade_id': 'a' repeats line 2",
        "line 4, column 'time': 2024-01-01 00:00:00 is earlier than line 3: rows must be in "
        "time order"[:0]
        + "line 4, column 'time': 2023-12-31 23:59:59 is earlier than line 3: "
        "rows must be in time order",
        "line 5, column 'price': 0.0 is not positive",
        "line 5, column 'side': 'hold' is neither buy nor sell",
        "line 5, column 'trade_id': missing value",
    }


def test_trades_sides_are_lower_cased():
    frame = pd.DataFrame({"time": ["2024-01-01"], "price": ["1"], "size": ["2"],
                          "side": ["Sell"], "trade_id": ["7"]})  # fmt: skip
    batch = trades_from_table(frame, source="t")
    assert batch.aggressor_side.tolist() == ["sell"]


def test_books_refuse_short_crossed_or_unordered_sides():
    bids = [[[10, 1], [9, 1]], [[10, 1]], [[10, 1], [11, 1]], [[12, 1], [11, 1]]]
    asks = [[[11, 1], [12, 1]], [[11, 1], [12, 1]], [[12, 1], [13, 1]], [[11, 1], [13, 1]]]
    times = [1, 2, 3, 4]
    with pytest.raises(MarketDataError) as refused:
        books_from_levels(times, bids, asks, depth=2, source="okx")
    assert {str(p) for p in refused.value.problems} == {
        "snapshot 2, column 'bids': fewer than 2 levels",
        "snapshot 3, column 'bids': levels are not in price order, best first",
        "snapshot 4, column 'bids': the best bid is not below the best ask",
    }


def test_splits_are_undone_and_dividends_left_alone():
    # A 2:1 split between the 2nd and 3rd bars, a small dividend before the 2nd.
    frame = pd.DataFrame(
        {"open": [100.0, 102.0, 51.0], "high": [101.0, 103.0, 52.0], "low": [99.0, 101.0, 50.0],
         "close": [100.0, 102.0, 51.0], "volume": [10, 10, 20],
         "adj_close": [49.5, 51.0, 51.0]}
    )  # fmt: skip
    adjusted = split_adjusted(frame)
    assert adjusted["close"].tolist() == [50.0, 51.0, 51.0]
    assert adjusted["high"].tolist() == [50.5, 51.5, 52.0]
    assert adjusted["volume"].tolist() == [20.0, 20.0, 20.0]
