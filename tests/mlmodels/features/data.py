"""Series for the feature tests: real EURUSD hourly candles (read from the installed
``backtesting`` package, never copied here) with generated book and trade flow, and a fully
generated series with time gaps, flat bars and bars without trades."""

from __future__ import annotations

import csv
from functools import cache
from importlib.resources import files

import numpy as np

from mlmodels.features import FeatureInputs
from mlmodels.features.synthetic import synthetic_book, synthetic_inputs, synthetic_trades

EURUSD_TICK = 1e-5


@cache
def eurusd_candles() -> FeatureInputs:
    """EURUSD hourly OHLCV, 5,000 bars from 2017-04-19."""
    path = files("backtesting") / "test" / "EURUSD.csv"  # the dev extra `backtesting`
    with path.open(encoding="utf-8") as file:
        rows = list(csv.reader(file))[1:]
    time = np.array([np.datetime64(row[0], "ns") for row in rows]).astype(np.int64)
    values = np.array([[float(cell) for cell in row[1:]] for row in rows])
    return FeatureInputs(
        time=time,
        open=values[:, 0],
        high=values[:, 1],
        low=values[:, 2],
        close=values[:, 3],
        volume=values[:, 4],
    )


@cache
def eurusd_full() -> FeatureInputs:
    """EURUSD candles with a generated 8-level book and trade flow (fixed seed)."""
    candles = eurusd_candles()
    return FeatureInputs(
        time=candles.time,
        open=candles.open,
        high=candles.high,
        low=candles.low,
        close=candles.close,
        volume=candles.volume,
        trades=synthetic_trades(len(candles), seed=11),
        book=synthetic_book(candles.close, levels=8, seed=11, tick=EURUSD_TICK),
    )


@cache
def generated(rows: int = 3_000) -> FeatureInputs:
    """Every input bundle, 1-second bars with gaps, a 10-level book (fixed seed)."""
    return synthetic_inputs(rows, seed=5)
