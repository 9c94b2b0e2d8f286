"""Walk-forward training end to end: no leakage from the future into a fold, progress, the
stored result, and a run on the real EURUSD hourly candles."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from mlmodels.dataset import candles_dataset
from mlmodels.features import FeatureConfig, MissingFeatureInputs, catalogue
from mlmodels.inference import Predictor
from mlmodels.training import (
    InvalidTrainingData,
    TrainingConfig,
    train_walk_forward,
    walk_forward_splits,
)
from tests.mlmodels.features.data import eurusd_candles

HOUR = 3_600 * 10**9
SMALL = {
    "horizon": 2,
    "purge": 2,
    "embargo": 3,
    "folds": 3,
    "train_size": 400,
    "n_estimators": 30,
    "early_stopping_rounds": 10,
}


def _market(rows: int = 1_300, seed: int = 7):
    """Prices whose next moves a feature partly announces, plus noise features."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    steps = 0.002 * rng.normal(size=rows)
    steps[1:] += 0.001 * signal[:-1]
    close = 100 * np.exp(np.cumsum(steps))
    features = np.column_stack([signal, rng.normal(size=(rows, 5))])
    features[rng.random(features.shape) < 0.05] = np.nan  # XGBoost routes, logistic imputes
    times = np.arange(rows, dtype=np.int64) * HOUR + 1_700_000_000 * 10**9
    return features, [f"feature_{i}" for i in range(features.shape[1])], close, times


def test_the_future_changes_nothing_in_an_earlier_fold():
    features, names, close, times = _market()
    config = TrainingConfig.from_dict(SMALL)
    before = train_walk_forward(features, names, close, times, config)
    first = walk_forward_splits(len(close), config)[0]
    # Everything after fold 0's last exit (its test window plus a trade's horizon) changes.
    cut = first.test.stop + config.horizon
    rng = np.random.default_rng(99)
    features2, close2 = features.copy(), close.copy()
    features2[cut:] = rng.normal(size=features2[cut:].shape)
    close2[cut:] *= np.exp(np.cumsum(0.01 * rng.normal(size=len(close) - cut)))
    after = train_walk_forward(features2, names, close2, times, config)
    assert after.folds[0].to_dict() == before.folds[0].to_dict()
    assert after.folds[-1].to_dict() != before.folds[-1].to_dict()  # the change did reach later
    assert after.data_hash != before.data_hash


def test_a_fold_trains_on_times_before_its_test_window_only():
    features, names, close, times = _market()
    config = TrainingConfig.from_dict(SMALL)
    result = train_walk_forward(features, names, close, times, config)
    gap = (config.purge + config.embargo + 1) * HOUR  # a label at train_end reads horizon ahead
    for fold in result.folds:
        assert fold.train_end + gap == fold.test_start
        assert fold.train_end + config.horizon * HOUR < fold.test_start
        assert 0 < fold.best_iteration < config.n_estimators
        assert fold.n_validation > 0


def test_progress_result_and_stored_form():
    features, names, close, times = _market()
    config = TrainingConfig.from_dict(SMALL)
    calls: list[tuple[float, str]] = []
    result = train_walk_forward(
        features, names, close, times, config, progress=lambda f, m: calls.append((f, m))
    )
    fractions = [fraction for fraction, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(calls) == 4
    assert calls[0][1].startswith("fold 1/3: net P&L after costs xgboost ")
    stored = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert "model_json" not in stored and stored["report"] == result.report
    assert stored["summary"]["xgboost"]["trades"] == sum(f.xgboost.trades for f in result.folds)
    assert set(result.importance) == set(names)
    assert max(result.importance, key=result.importance.__getitem__) == "feature_0"
    again = train_walk_forward(features, names, close, times, config)
    assert again.data_hash == result.data_hash and again.model_json == result.model_json
    predictor = Predictor.from_json(result.model_json, names)
    assert predictor.n_trees == result.params["n_trees"]


def test_bad_training_data_is_refused():
    features, names, close, times = _market()
    config = TrainingConfig.from_dict(SMALL)
    with pytest.raises(InvalidTrainingData, match="features must be"):
        train_walk_forward(features[:, 1:], names, close, times, config)
    with pytest.raises(InvalidTrainingData, match="strictly increasing"):
        train_walk_forward(features, names, close, times[::-1].copy(), config)
    broken = features.copy()
    broken[10, 2] = np.inf
    with pytest.raises(InvalidTrainingData, match="feature_2 is infinite at row 10"):
        train_walk_forward(broken, names, close, times, config)
    wide = TrainingConfig.from_dict({**SMALL, "cost": 0.05})  # every move inside the dead zone
    with pytest.raises(
        InvalidTrainingData, match="no labelled bars: every move is inside the dead zone"
    ):
        train_walk_forward(features, names, close, times, wide)
    rare = TrainingConfig.from_dict({**SMALL, "cost": 0.007})  # a few moves beyond it
    with pytest.raises(InvalidTrainingData, match=r"labelled bars of \d class\(es\)"):
        train_walk_forward(features, names, close, times, rare)


def test_eurusd_hourly_walk_forward_against_the_logistic_baseline():
    candles = eurusd_candles()
    config = TrainingConfig(folds=3, train_size=1500, n_estimators=60)
    with pytest.warns(MissingFeatureInputs, match="book, trades"):
        features, names, labels, close, times = candles_dataset(
            candles.open,
            candles.high,
            candles.low,
            candles.close,
            candles.volume,
            candles.time,
            feature_config=FeatureConfig(),
            training_config=config,
        )
    assert names == [spec.name for spec in catalogue()]
    assert not np.isnan(features).any()  # the warm-up is dropped
    assert len(features) == len(candles) - 49
    assert np.isnan(labels[-config.horizon :]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn and XGBoost stay quiet on real data
        result = train_walk_forward(features, names, close, times, config)
    assert len(result.folds) == 3
    report = result.report
    assert "XGBoost: AUC" in report and "Logistic baseline: AUC" in report
    assert "After costs" in report and "profitable after costs" in report
    for model in ("xgboost", "logistic"):
        summary = result.summary[model]
        assert 0.4 < summary["auc"] < 0.65  # hourly FX: a weak edge at best, never a leak
        net = summary["net_pnl_after_costs"]
        assert net < summary["gross_pnl"] or summary["trades"] == 0  # costs are charged
    assert result.training_window[1] <= int(times[-1 - config.horizon])
    predictor = Predictor.from_json(result.model_json, names)
    recent = features[-200:]
    np.testing.assert_allclose(
        [predictor.predict_one(row) for row in recent], predictor.predict_proba(recent), atol=1e-6
    )


def test_candles_dataset_reads_datetimes_as_the_database_gives_them():
    candles = eurusd_candles()
    config = TrainingConfig()
    columns = (candles.open, candles.high, candles.low, candles.close, candles.volume)
    with pytest.warns(MissingFeatureInputs):
        from_ns = candles_dataset(
            *(c[:300] for c in columns),
            candles.time[:300],
            feature_config=FeatureConfig(),
            training_config=config,
        )
        from_datetimes = candles_dataset(
            *(c[:300] for c in columns),
            candles.time[:300].astype("datetime64[ns]").astype("datetime64[us]"),
            feature_config=FeatureConfig(),
            training_config=config,
        )
    for a, b in zip(from_ns, from_datetimes, strict=True):
        np.testing.assert_array_equal(a, b)
    assert from_datetimes[4].dtype == np.int64
