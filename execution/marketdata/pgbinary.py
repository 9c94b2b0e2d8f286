"""Rows of one timestamp and some float8 columns in PostgreSQL's binary forms, encoded and
decoded by numpy in place: no Python object per value.

In: the binary COPY format (a 19-byte header; per row a 16-bit field count, then each field's
32-bit length and big-endian value; a 16-bit -1 at the end). Out: one bytea that the server
aggregates from each row's ``timestamptz_send(t) || float8send(x) || ...``, so the client
receives a single value instead of a message per row (measured: about half the time of a
binary SELECT and a third of a binary COPY for 100,000 rows). Timestamps count microseconds
from 2000-01-01 UTC.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from execution.marketdata.base import Floats, Times

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")


def copy_rows(times: Times, floats: dict[str, Floats]) -> bytes:
    """A binary COPY stream of rows (time, *floats), in the order of ``floats``."""
    fields: list[tuple[str, str]] = [("fields", ">i2"), ("time_length", ">i4"), ("time", ">i8")]
    for name in floats:
        fields += [(f"{name}_length", ">i4"), (name, ">f8")]
    rows = np.empty(len(times), dtype=np.dtype(fields))
    rows["fields"] = 1 + len(floats)
    rows["time_length"] = 8
    rows["time"] = (times.astype("datetime64[us]") - _EPOCH).astype(np.int64)
    for name, values in floats.items():
        rows[f"{name}_length"] = 8
        rows[name] = values
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


def packed_rows_sql(time_column: str, float_columns: tuple[str, ...], *, order_by: str) -> str:
    """The aggregate that packs each row's time and floats into one bytea, in ``order_by``
    order; the columns may be expressions (a cast to float8, say)."""
    parts = [f"timestamptz_send({time_column})"] + [f"float8send({c})" for c in float_columns]
    return f"string_agg({' || '.join(parts)}, ''::bytea ORDER BY {order_by})"


def unpack_rows(
    data: bytes | None, float_names: tuple[str, ...]
) -> tuple[Times, dict[str, Floats]]:
    """The times and the named float columns of a ``packed_rows_sql`` value (None: no rows)."""
    fields: list[tuple[str, Any]] = [("time", ">i8")] + [(name, ">f8") for name in float_names]
    rows = np.frombuffer(data or b"", dtype=np.dtype(fields))
    times: Times = _EPOCH + rows["time"].astype(np.int64).astype("timedelta64[us]")
    return times, {name: rows[name].astype(np.float64) for name in float_names}
