"""Model training and inference: XGBoost's training time, and ``mlmodels.inference.Predictor``
against XGBoost's own predictions.

Data: 100,000 rows x 60 features drawn with a fixed seed (a nonlinear signal in ten of them
plus noise, 5 % of values missing). Training is ``xgboost.train`` of 200 trees of depth 6
(hist, eta 0.1) on all of them, once with one thread and once with every core; the 200-tree
model of that run is the one the inference rows use.

Single row: ``Predictor.predict_one`` (the compiled tree walk) against
``Booster.inplace_predict`` of a one-row matrix, each timed call by call over held-out rows
with the same missing values, p50 and p99; the note gives the largest difference between the
two over every row timed. Batch: rows/s of ``Predictor.predict_proba`` (XGBoost underneath)
and of ``inplace_predict`` over 100,000 rows, best of ``RUNS``.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import xgboost as xgb

from bench.common import Result, percentile
from mlmodels.inference import Predictor

ROWS = 100_000
FEATURES = 60
TREES = 200
DEPTH = 6
SINGLE_ROWS = 20_000  # predict_one calls timed
XGBOOST_SINGLE_ROWS = 2_000  # inplace_predict calls timed (each costs hundreds of us)
RUNS = 3
SEED = 20_240_601


def _data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES))
    signal = (
        x[:, 0]
        - 0.7 * x[:, 1]
        + np.sin(2 * x[:, 2])
        + 0.5 * x[:, 3] * x[:, 4]
        + 0.3 * np.abs(x[:, 5:10]).sum(axis=1)
    )
    y = (signal + rng.normal(size=rows) > signal.mean()).astype(np.float64)
    x[rng.random(x.shape) < 0.05] = np.nan
    return x, y


def _train(x: np.ndarray, y: np.ndarray, threads: int) -> tuple[xgb.Booster, float]:
    params = {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "max_depth": DEPTH,
        "eta": 0.1,
        "seed": 0,
        "nthread": threads,
    }
    started = time.perf_counter()
    booster = xgb.train(params, xgb.DMatrix(x, label=y, nthread=threads), TREES)
    return booster, time.perf_counter() - started


def _rows_per_second(predict, rows: np.ndarray) -> float:
    best = 0.0
    for _ in range(RUNS):
        started = time.perf_counter()
        predict(rows)
        best = max(best, len(rows) / (time.perf_counter() - started))
    return best


def run() -> list[Result]:
    x, y = _data(ROWS, SEED)
    _, one_thread = _train(x, y, threads=1)
    booster, all_threads = _train(x, y, threads=0)
    model_json = bytes(booster.save_raw("json"))
    names = [f"feature_{i}" for i in range(FEATURES)]

    started = time.perf_counter()
    predictor = Predictor.from_json(model_json, names)
    load_ms = (time.perf_counter() - started) * 1e3
    trees = json.loads(model_json)["learner"]["gradient_booster"]["model"]["trees"]
    nodes = sum(len(tree["left_children"]) for tree in trees)

    held_out, _ = _data(SINGLE_ROWS, SEED + 1)
    ours_us, walked = [], np.empty(SINGLE_ROWS)
    for index, row in enumerate(held_out):
        started_ns = time.perf_counter_ns()
        walked[index] = predictor.predict_one(row)
        ours_us.append((time.perf_counter_ns() - started_ns) / 1e3)
    difference = float(np.max(np.abs(walked - booster.inplace_predict(held_out))))
    theirs_us = []
    for row in held_out[:XGBOOST_SINGLE_ROWS]:
        matrix = row.reshape(1, -1)
        started_ns = time.perf_counter_ns()
        booster.inplace_predict(matrix)
        theirs_us.append((time.perf_counter_ns() - started_ns) / 1e3)
    ours_p50, theirs_p50 = percentile(ours_us, 50), percentile(theirs_us, 50)

    batch, _ = _data(ROWS, SEED + 2)
    ours_batch = _rows_per_second(predictor.predict_proba, batch)
    theirs_batch = _rows_per_second(booster.inplace_predict, batch)
    load = os.getloadavg()[0]
    model = f"{TREES} trees depth {DEPTH} ({nodes:,} nodes), {FEATURES} features"
    return [
        Result(
            f"training: {TREES} trees depth {DEPTH} on {ROWS:,} x {FEATURES}, 1 thread",
            one_thread,
            "s",
            "",
            f"XGBoost {xgb.__version__} hist; load average {load:.1f}",
        ),
        Result(
            f"training: {TREES} trees depth {DEPTH} on {ROWS:,} x {FEATURES}, {os.cpu_count()} "
            "threads",
            all_threads,
            "s",
            "",
            f"{one_thread / all_threads:.2f}x one thread (threads wait on each other when other "
            "work shares the cores)",
        ),
        Result(
            "inference: predict_one p50",
            ours_p50,
            "us",
            "<= 50",
            f"{model}; {theirs_p50 / ours_p50:.1f}x faster than XGBoost's inplace_predict; "
            f"max |difference| {difference:.1e} over {SINGLE_ROWS:,} rows (target <= 1e-6)",
        ),
        Result("inference: predict_one p99", percentile(ours_us, 99), "us"),
        Result(
            "inference: XGBoost inplace_predict, one row, p50",
            theirs_p50,
            "us",
            "",
            f"p99 {percentile(theirs_us, 99):,.0f} us over {XGBOOST_SINGLE_ROWS:,} calls",
        ),
        Result(
            f"inference: predict_proba, {ROWS:,} rows",
            ours_batch,
            "rows/s",
            "",
            f"XGBoost underneath; the tree walk row by row would do {1e6 / ours_p50:,.0f}",
        ),
        Result(
            f"inference: XGBoost inplace_predict, {ROWS:,} rows",
            theirs_batch,
            "rows/s",
            "",
            f"{os.cpu_count()} threads",
        ),
        Result("inference: load a model (parse + compile the walk)", load_ms, "ms", "", model),
    ]
