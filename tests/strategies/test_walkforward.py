"""ML strategies in backtests, walk-forward only.

Pure: XGBoost refitted fold by fold never reads a bar of its test window (its targets up to a
bar do not move when later prices do, and a fold's model does not move when its test window
does), its windows keep the purge and embargo, the warm-up is flat, both decision paths agree.
Services: backtest_start takes SimpleML without a model and XGBoost with a model version
(trained here by mlmodels' own service on the real EURUSD candles), refuses a missing or
mismatched one by field with nothing saved, and backtest_run runs each to the end.
"""

from __future__ import annotations

from datetime import datetime
from io import StringIO
from itertools import pairwise

import numpy as np
import pytest
from django.core.management import call_command

from execution.domain.errors import DomainError
from execution.domain.urgency import InvalidConfig
from mlmodels.features import FeatureConfig
from mlmodels.services import model_train, model_version_activate
from mlmodels.training import InvalidTrainingData, TrainingConfig
from strategies.backtest.walkforward import (
    WalkForwardModel,
    WalkForwardXgboost,
    walk_forward_metrics,
    walk_forward_strategy,
)
from strategies.domain.base import Bars
from strategies.kinds import InvalidStrategyConfig
from strategies.library.mean_reversion import MeanReversion
from strategies.library.simple_ml import SimpleMl
from strategies.models import Backtest
from strategies.services import backtest_run, backtest_start
from tests.strategies.library.common import (
    assert_no_lookahead,
    assert_paths_agree,
    random_walk_bars,
)
from tests.strategies.services.conftest import make_strategy

FEATURES = ("return_1", "return_5", "rsi_14", "sma_ratio_20", "atr_ratio_14")
TRAINING = TrainingConfig(
    folds=3, train_size=400, n_estimators=30, max_depth=3, horizon=3, purge=3, embargo=5,
    cost=0.0, half_spread=0.0,
)  # fmt: skip
MODEL = WalkForwardModel(TRAINING, FeatureConfig(), FEATURES, "test v1")
XGB_CONFIG = {"buy_above": 0.55, "sell_below": 0.45}
BARS = random_walk_bars(1_500, seed=3)


def fitted(bars: Bars = BARS) -> WalkForwardXgboost:
    strategy = walk_forward_strategy("xgboost", XGB_CONFIG, bars, model=MODEL)
    assert isinstance(strategy, WalkForwardXgboost)
    return strategy


STRATEGY = fitted()


def perturbed_after(bars: Bars, bar: int, seed: int) -> Bars:
    """The same bars up to ``bar``, other prices after it."""
    scale = np.ones(len(bars))
    scale[bar + 1 :] = np.random.default_rng(seed).uniform(0.9, 1.1, len(bars) - bar - 1)
    return Bars(
        bars.starts, bars.open * scale, bars.high * scale, bars.low * scale, bars.close * scale,
        bars.volume,
    )  # fmt: skip


def test_windows_keep_the_purge_and_embargo_and_never_overlap():
    folds = STRATEGY.folds
    assert len(folds) == 3
    for fold in folds:
        # the last training label reads close[train.stop - 1 + horizon]: before the test window
        assert fold.train.stop - 1 + TRAINING.horizon < fold.test.start
        assert fold.test.start - fold.train.stop == TRAINING.purge + TRAINING.embargo
        assert fold.fit.stop <= fold.validation.start and fold.validation.stop == fold.train.stop
        assert fold.trees >= 1
    for before, after in pairwise(folds):
        assert before.test.stop == after.test.start  # consecutive, not overlapping
    assert folds[-1].test.stop == len(BARS)
    warmup = STRATEGY.warmup_bars
    assert warmup == folds[0].test.start
    targets = STRATEGY.target_positions(BARS)
    assert not targets[:warmup].any() and targets[warmup:].any()
    record = walk_forward_metrics(STRATEGY, BARS)
    assert record is not None and record["warmup_bars"] == warmup
    assert [f["test_bars"] for f in record["folds"]] == [len(f.test) for f in folds]
    assert record["folds"][0]["test_start"].startswith(
        str(BARS.starts[folds[0].test.start].astype("datetime64[s]"))
    )


@pytest.mark.parametrize("long_only", [False, True])
def test_the_fitted_strategy_has_no_lookahead_and_live_agrees(long_only):
    strategy = walk_forward_strategy(
        "xgboost", {**XGB_CONFIG, "long_only": long_only}, BARS, model=MODEL
    )
    cuts = (1, strategy.warmup_bars, strategy.warmup_bars + 1, 1_000, 1_499)
    assert_no_lookahead(strategy, BARS, cuts)
    assert_paths_agree(strategy, BARS, min_signals=20)


@pytest.mark.parametrize("where", ["before the first test", "inside fold 1", "inside fold 2"])
def test_changing_later_prices_never_changes_earlier_targets(where):
    folds = STRATEGY.folds
    bar = {
        "before the first test": folds[0].test.start - 1,
        "inside fold 1": folds[1].test.start + 40,
        "inside fold 2": folds[2].test.start + 100,
    }[where]
    before = STRATEGY.target_positions(BARS)
    changed = perturbed_after(BARS, bar, seed=bar)
    after = fitted(changed).target_positions(changed)  # refitted on the changed bars
    np.testing.assert_array_equal(after[: bar + 1], before[: bar + 1])
    assert not np.array_equal(after, before)


def test_no_fold_is_fitted_on_its_test_window():
    folds = STRATEGY.folds
    # Change every price from just inside fold 1's test window: folds 0 and 1 were fitted on
    # bars before it, so their models are the same; fold 2 was fitted on it, and differs.
    refit = fitted(perturbed_after(BARS, folds[1].test.start, seed=1))
    rows = np.random.default_rng(0).normal(size=(200, len(FEATURES)))
    for fold in (0, 1):
        again, first = refit.predictors[fold], STRATEGY.predictors[fold]
        np.testing.assert_array_equal(again.predict_proba(rows), first.predict_proba(rows))
    assert not np.array_equal(
        refit.predictors[2].predict_proba(rows), STRATEGY.predictors[2].predict_proba(rows)
    )


def test_kinds_without_a_model_are_built_as_they_are():
    simple = walk_forward_strategy("simple_ml", {"refit_every": 10}, BARS)
    assert isinstance(simple, SimpleMl) and simple.config.refit_every == 10
    record = walk_forward_metrics(simple, BARS)
    assert record is not None and record["warmup_bars"] == simple.config.first_fit
    reversion = walk_forward_strategy("mean_reversion", {}, BARS)
    assert isinstance(reversion, MeanReversion)
    assert walk_forward_metrics(reversion, BARS) is None


def test_a_model_kind_without_a_model_is_refused_under_model_version():
    with pytest.raises(InvalidStrategyConfig) as caught:
        walk_forward_strategy("xgboost", XGB_CONFIG, BARS)
    assert list(caught.value.errors) == ["model_version"]


@pytest.mark.parametrize(
    ("plain", "key"),
    [
        ({"training_config": {"folds": 0}}, "training_config.folds"),
        ({"training_config": {"shuffle": True}}, "training_config.shuffle"),
        ({"feature_config": {"rsi_period": 1}}, "feature_config.rsi_period"),
        ({"feature_names": []}, "feature_names"),
    ],
)
def test_a_bad_stored_model_is_refused_naming_the_value(plain, key):
    arguments = {"training_config": {}, "feature_config": {}, "feature_names": FEATURES, **plain}
    with pytest.raises(InvalidConfig) as caught:
        WalkForwardModel.from_plain(**arguments)
    assert caught.value.key == key


def test_a_feature_outside_the_library_or_too_few_bars_are_refused():
    foreign = WalkForwardModel(TRAINING, FeatureConfig(), ("return_1", "alpha_42"))
    with pytest.raises(InvalidConfig, match="alpha_42"):
        walk_forward_strategy("xgboost", XGB_CONFIG, BARS, model=foreign)
    with pytest.raises(InvalidTrainingData, match="too few"):
        walk_forward_strategy("xgboost", XGB_CONFIG, BARS.head(450), model=MODEL)


# --- through the services, on the real EURUSD hourly candles ------------------------------------

SMALL_TRAINING = {
    "folds": 3, "train_size": 1500, "n_estimators": 40, "max_depth": 3, "validation_fraction": 0.0,
}  # fmt: skip


@pytest.fixture
def eurusd(db):
    """The real EURUSD hourly candles (5,000 bars, 2017-04-19 to 2018-02-07)."""
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())


@pytest.fixture
def version(eurusd):
    """A small XGBoost model trained by mlmodels' own service on every stored candle."""
    return model_train(
        symbol="EURUSD", interval="1h", name="eurusd-walk-forward",
        training_config=SMALL_TRAINING, feature_config={},
    )  # fmt: skip


def test_simple_ml_needs_no_model_and_runs_to_the_end(account, eurusd):
    config = {"refit_every": 100}
    backtest = backtest_start(
        owner_id=account.owner_id, kind="simple_ml", config=config, symbol="EURUSD",
        interval="1h", queue=False,
    )  # fmt: skip
    messages: list[str] = []
    run = backtest_run(backtest_id=backtest.pk, progress=lambda f, m: messages.append(m))
    assert run.status == "succeeded", run.error
    record = run.metrics["walk_forward"]
    assert record["refits"] == len(range(record["warmup_bars"], 5_000, 100))
    assert run.metrics["trade_count"] > 5 and float(run.metrics["total_costs"]) > 0
    first_entry = min(datetime.fromisoformat(t["entry_time"]) for t in run.trades)
    assert first_entry > datetime.fromisoformat(run.metrics["first_bar"])


def test_xgboost_runs_walk_forward_on_its_strategys_model_version(account, version):
    strategy = make_strategy(
        account, name="xgb", kind="xgboost", symbols=["EURUSD"], config=XGB_CONFIG,
        model_version_id=version.pk,
    )  # fmt: skip
    backtest = backtest_start(owner_id=account.owner_id, strategy_id=strategy.pk, queue=False)
    messages: list[str] = []
    run = backtest_run(backtest_id=backtest.pk, progress=lambda f, m: messages.append(m))
    assert run.status == "succeeded", run.error
    record = run.metrics["walk_forward"]
    assert record["model"] == f"eurusd-walk-forward v{version.version}"
    assert len(record["folds"]) == 3 and record["warmup_bars"] > 1_500
    assert [m.split(":")[0] for m in messages if "fold" in m] == [
        "walk-forward fold 1/3", "walk-forward fold 2/3", "walk-forward fold 3/3",
    ]  # fmt: skip
    first_test = datetime.fromisoformat(record["folds"][0]["test_start"])
    assert run.trades and all(
        datetime.fromisoformat(t["entry_time"]) > first_test for t in run.trades
    )
    for fold in record["folds"]:
        assert fold["train_end"] < fold["test_start"]


def test_xgboost_by_kind_takes_the_active_version_for_the_symbol(account, version):
    with pytest.raises(InvalidStrategyConfig) as caught:
        backtest_start(
            owner_id=account.owner_id, kind="xgboost", symbol="EURUSD", interval="1h",
            queue=False,
        )  # fmt: skip
    assert "no model version is active" in caught.value.errors["model_version"][0]
    assert Backtest.objects.count() == 0
    model_version_activate(version_id=version.pk)
    backtest = backtest_start(
        owner_id=account.owner_id, kind="xgboost", config=XGB_CONFIG, symbol="EURUSD",
        interval="1h", queue=False,
    )  # fmt: skip
    assert backtest.model_version_id == version.pk  # pinned when asked for
    run = backtest_run(backtest_id=backtest.pk)
    assert run.status == "succeeded", run.error
    assert run.metrics["walk_forward"]["model"].startswith("eurusd-walk-forward")


def test_a_mismatched_model_version_is_refused_and_nothing_saved(account, version):
    from tests.factories import make_instrument

    strategy = make_strategy(
        account, name="xgb", kind="xgboost", symbols=["EURUSD"], config=XGB_CONFIG,
        model_version_id=version.pk,
    )  # fmt: skip
    make_instrument("ETH-USDT")
    for changes, message in [
        ({"interval": "1d"}, "trained on 1h, not 1d"),
        ({"symbol": "ETH-USDT"}, "trained on EURUSD, not ETH-USDT"),
    ]:
        with pytest.raises(InvalidStrategyConfig) as caught:
            backtest_start(
                owner_id=account.owner_id, strategy_id=strategy.pk, queue=False, **changes
            )
        assert any(message in text for text in caught.value.errors["model_version"])
    sma = make_strategy(account, name="sma", symbols=["EURUSD"])
    with pytest.raises(InvalidStrategyConfig) as caught:
        backtest_start(owner_id=account.owner_id, strategy_id=sma.pk, kind="xgboost", queue=False)
    assert "has no model version" in caught.value.errors["model_version"][0]
    assert Backtest.objects.count() == 0


def test_a_walk_forward_that_does_not_fit_the_window_fails_with_a_reason(account, version):
    model_version_activate(version_id=version.pk)
    backtest = backtest_start(
        owner_id=account.owner_id, kind="xgboost", symbol="EURUSD", interval="1h",
        end=datetime.fromisoformat("2017-07-01T00:00:00+00:00"), queue=False,
    )  # fmt: skip
    run = backtest_run(backtest_id=backtest.pk)
    assert run.status == "failed" and "too few" in run.error


def test_bad_input_is_not_a_server_error():
    with pytest.raises(DomainError):
        walk_forward_strategy("xgboost", {"buy_above": 2}, BARS, model=MODEL)
