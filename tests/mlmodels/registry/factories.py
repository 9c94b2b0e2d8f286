"""Model versions for tests: small XGBoost models made by hand on random rows and registered
through the service that registers a trained model, so no test waits for a training."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import cast

import numpy as np
import xgboost as xgb

from mlmodels.features import FeatureConfig
from mlmodels.services import TrainingRequest, model_version_register
from mlmodels.training import TrainingConfig, TrainingResult

# Features of the default catalogue that candles alone give.
FEATURES = ["return_1", "return_5", "rsi_14", "sma_ratio_20", "atr_ratio_14"]
# 2017-04-19 09:00 and 2017-12-01 00:00 UTC: inside the EURUSD hourly history.
WINDOW = (1_492_592_400_000_000_000, 1_512_086_400_000_000_000)


def hand_made_model(names: list[str], *, seed: int = 0, trees: int = 4) -> bytes:
    """A binary:logistic model on random rows whose first feature decides the direction."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, len(names)))
    y = (x[:, 0] + 0.5 * rng.normal(size=400) > 0).astype(np.float64)
    params = {"objective": "binary:logistic", "max_depth": 2, "seed": seed, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(x, label=y, feature_names=names), trees)
    return bytes(booster.save_raw("json"))


def fold(number: int) -> dict[str, object]:
    return {
        "fold": number,
        "test_start": WINDOW[0] + number * 3_600_000_000_000,
        "test_end": WINDOW[1],
        "test_bars": 100,
        "xgboost_auc": 0.52,
        "logistic_auc": 0.50,
        "xgboost_net_pnl_after_costs": 0.01,
        "logistic_net_pnl_after_costs": -0.02,
    }


def register(
    name: str = "eurusd-direction",
    *,
    names: list[str] | None = None,
    seed: int = 0,
    symbol: str = "EURUSD",
    interval: str = "1h",
    window: tuple[int, int] = WINDOW,
    run_id=None,
):
    names = list(names or FEATURES)
    model_json = hand_made_model(names, seed=seed)
    request = TrainingRequest(
        name=name,
        symbol=symbol,
        interval=interval,
        training_config=TrainingConfig(),
        feature_config=FeatureConfig(),
        start=datetime(2017, 1, 1, tzinfo=UTC),
        end=datetime(2018, 1, 1, tzinfo=UTC),
    )
    # Duck-typed: what model_version_register reads of a TrainingResult.
    result = SimpleNamespace(
        feature_names=names,
        folds=[SimpleNamespace(to_dict=lambda n=n: fold(n)) for n in range(2)],
        summary={"xgboost": {"auc": 0.52}, "logistic": {"auc": 0.5}, "folds": 2},
        report="XGBoost against the logistic baseline after costs: ahead by 3.00%.",
        importance={feature: float(len(names) - i) for i, feature in enumerate(names)},
        model_json=model_json,
        params={"seed": seed},
        training_window=window,
        data_hash=hashlib.sha256(model_json).hexdigest(),
    )
    return model_version_register(
        request=request, result=cast(TrainingResult, result), run_id=run_id
    )
