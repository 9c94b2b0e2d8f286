"""PostgreSQL's binary COPY format for rows of a timestamp and float8 columns, encoded and
decoded by numpy in place: no Python object per value.

A stream is a 19-byte header, then per row a 16-bit field count and each field as a 32-bit
length and its big-endian value, then a 16-bit -1. Timestamps count microseconds from
2000-01-01 UTC.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from execution.marketdata.base import Floats, Times

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")


def row_type(time_column: str, float_columns: tuple[str, ...]) -> np.dtype[Any]:
    fields = [("fields", ">i2"), (f"{time_column}_length", ">i4"), (time_column, ">i8")]
    for name in float_columns:
        fields += [(f"{name}_length", ">i4"), (name, ">f8")]
    return np.dtype(fields)


def encode(times: Times, floats: dict[str, Floats], row: np.dtype[Any]) -> bytes:
    """Rows of ``row_type(time, tuple(floats))``: the time column, then ``floats`` in order."""
    names = row.names or ()
    rows = np.empty(len(times), dtype=row)
    rows["fields"] = 1 + len(floats)
    for name in names[1::2]:
        rows[name] = 8
    rows[names[2]] = (times.astype("datetime64[us]") - _EPOCH).astype(np.int64)
    for name, values in floats.items():
        rows[name] = values
    return HEADER + rows.tobytes() + TRAILER


def decode(data: bytes, row: np.dtype[Any]) -> tuple[Times, dict[str, Floats]]:
    """The time column and the float columns of a stream of ``row`` rows."""
    count = max((len(data) - len(HEADER) - len(TRAILER)) // row.itemsize, 0)
    rows = np.frombuffer(data, dtype=row, count=count, offset=len(HEADER))
    names = row.names or ()
    times: Times = _EPOCH + rows[names[2]].astype(np.int64).astype("timedelta64[us]")
    return times, {name: rows[name].astype(np.float64) for name in names[4::2]}
