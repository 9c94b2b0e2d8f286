"""Walk-forward training of an XGBoost direction model beside a logistic-regression baseline,
each judged per fold by classification metrics and by the net P&L of a threshold rule after
costs.

Splits (``walk_forward_splits``). The test windows are consecutive, ``test_size`` bars each,
and end at the last bar, so the most recent data is always tested. Before each test window a
gap of ``purge + embargo`` bars is left out: ``purge`` (at least ``horizon``) because a
training label at bar i reads the close at i + horizon, which must come before the test
window; ``embargo`` because features over long windows are serially correlated across the
boundary. The training window ends at that gap and starts at bar 0 (expanding) or
``train_size`` bars earlier (sliding). Its last ``validation_fraction`` is the early-stopping
slice, after a further ``purge`` so that no fitted label reads into it. XGBoost fits the rest
and keeps the trees up to its best iteration on that slice; the logistic baseline (median
imputation, standardisation, L2) fits every labelled bar of the training window.

Labels (``labels.direction_labels``): up or down over ``horizon`` bars beyond a dead zone of
the fee plus half the spread; bars inside it are not fitted and not scored, but are traded.

The threshold rule (``threshold_rule_pnl``) runs over every bar of a test window: flat, it
goes long at the bar's close when p > threshold or short when p < 1 - threshold, and closes
``horizon`` bars later; one position at a time. Each trade earns side x (exit / entry - 1) and
pays ``cost`` on each side plus half the spread at entry and at exit (crossing the spread on
the way in and out). P&L is the sum of those returns on a constant notional: 0.01 is 1 % of
the notional once. A trade whose exit is beyond the series is not taken.

The final model fits every labelled bar (with its own early-stopping slice at the end) and is
returned in XGBoost's JSON format, with only the trees up to its best iteration.

Times are int64 nanoseconds since the epoch (UTC), as ``FeatureInputs.time`` (numpy datetimes
are read too); a window's end is the time of its last bar (inclusive).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast, get_type_hints

import numpy as np
import numpy.typing as npt
import xgboost as xgb
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from execution.domain.errors import DomainError
from execution.domain.urgency import InvalidConfig, about
from mlmodels.labels import direction_labels

FloatArray = npt.NDArray[np.float64]
Progress = Callable[[float, str], None]
MODELS = ("xgboost", "logistic")
MIN_FIT_ROWS = 50  # labelled rows a fold must fit at least


class InvalidTrainingData(DomainError):
    """Data a model cannot be trained or evaluated on; the message says what is wrong."""


# -- configuration -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingConfig:
    """Labels, walk-forward splits, costs and the settings of both models (lengths in bars)."""

    horizon: int = field(
        default=4, metadata=about("bars ahead of the label, and that each trade is held", minimum=1)
    )
    cost: float = field(
        default=0.0001,
        metadata=about("fee as a fraction of the traded value, per side", minimum=0, maximum=0.1),
    )
    half_spread: float = field(
        default=0.00005,
        metadata=about("half the quoted spread, in price units (EURUSD: 0.5 pip)", minimum=0),
    )
    folds: int = field(default=5, metadata=about("walk-forward test windows", minimum=1))
    expanding: bool = field(
        default=True,
        metadata=about("training windows start at the first bar (else they slide)"),
    )
    train_size: int = field(
        default=2000,
        metadata=about(
            "bars of the first training window (expanding) or of every one (sliding)",
            minimum=100,
        ),
    )
    test_size: int = field(
        default=0,
        metadata=about(
            "bars per test window; 0 shares the bars after the first training window equally",
            minimum=0,
        ),
    )
    purge: int = field(
        default=4,
        metadata=about(
            "bars left out before each test window (and before the early-stopping slice); at "
            "least horizon, since a label reads that far ahead",
            minimum=1,
        ),
    )
    embargo: int = field(
        default=10,
        metadata=about(
            "further bars left out before each test window: long feature windows are serially "
            "correlated across the boundary",
            minimum=0,
        ),
    )
    validation_fraction: float = field(
        default=0.2,
        metadata=about(
            "end share of each training window that XGBoost's early stopping watches; 0 for "
            "none (every tree kept)",
            minimum=0,
            maximum=0.5,
        ),
    )
    threshold: float = field(
        default=0.55,
        metadata=about(
            "the rule goes long above this probability of an up move, short below 1 minus it",
            minimum=0.5,
            maximum=1,
        ),
    )
    n_estimators: int = field(
        default=200, metadata=about("XGBoost: most trees (boosting rounds)", minimum=1)
    )
    max_depth: int = field(
        default=6, metadata=about("XGBoost: depth of each tree", minimum=1, maximum=16)
    )
    learning_rate: float = field(
        default=0.05, metadata=about("XGBoost: shrinkage (eta)", positive=True, maximum=1)
    )
    subsample: float = field(
        default=0.8, metadata=about("XGBoost: share of rows per tree", positive=True, maximum=1)
    )
    colsample_bytree: float = field(
        default=0.8,
        metadata=about("XGBoost: share of features per tree", positive=True, maximum=1),
    )
    min_child_weight: float = field(
        default=1.0, metadata=about("XGBoost: least hessian in a leaf", minimum=0)
    )
    early_stopping_rounds: int = field(
        default=20,
        metadata=about("XGBoost: rounds without a better validation log loss", minimum=1),
    )
    seed: int = field(default=0, metadata=about("XGBoost: random seed", minimum=0))
    threads: int = field(
        default=1,
        metadata=about(
            "threads of XGBoost and of the baseline's BLAS; 0 for every core (1 suits a "
            "worker beside others)",
            minimum=0,
        ),
    )
    logistic_c: float = field(
        default=1.0,
        metadata=about("logistic baseline: inverse L2 strength", positive=True),
    )
    logistic_max_iter: int = field(
        default=1000, metadata=about("logistic baseline: solver iterations", minimum=10)
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = _parse(_FIELD_TYPES[f.name], getattr(self, f.name), f.name, f.metadata)
            object.__setattr__(self, f.name, value)
        if self.purge < self.horizon:
            raise InvalidConfig(
                "purge",
                f"purge ({self.purge}) must be at least horizon ({self.horizon}): a training "
                "label reads that many bars ahead, into the test window",
            )
        if not 0.5 < self.threshold < 1:
            raise InvalidConfig(
                "threshold", f"threshold must be above 0.5 and below 1, got {self.threshold:g}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as ``from_dict`` reads them back."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TrainingConfig:
        """Build from plain values; missing keys take their defaults."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise InvalidConfig(
                unknown[0], f"unknown setting {unknown[0]!r}; known settings: {', '.join(names)}"
            )
        return cls(**data)  # type: ignore[arg-type]

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """A JSON schema of the settings: each one's type, meaning, default and bounds."""
        properties: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            meta = f.metadata
            entry: dict[str, Any] = {"type": _SCHEMA_TYPES[_FIELD_TYPES[f.name]]}
            entry.update({b: meta[b] for b in ("minimum", "maximum") if meta[b] is not None})
            if meta["positive"]:
                entry["exclusiveMinimum"] = 0
            entry["description"] = meta["doc"]
            entry["default"] = f.default
            properties[f.name] = entry
        properties["threshold"]["exclusiveMinimum"] = 0.5
        properties["threshold"]["exclusiveMaximum"] = 1
        return {"type": "object", "additionalProperties": False, "properties": properties}

    def xgboost_params(self) -> dict[str, Any]:
        """The parameters of ``xgboost.train`` (the rounds and early stopping apart)."""
        return {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "seed": self.seed,
            "nthread": self.threads,
        }


_SCHEMA_TYPES = {bool: "boolean", int: "integer", float: "number"}
_FIELD_TYPES: dict[str, Any] = get_type_hints(TrainingConfig)


def _parse(kind: type, value: object, key: str, meta: Mapping[str, Any]) -> object:
    if kind is bool:
        if not isinstance(value, bool):
            raise InvalidConfig(key, f"{key} must be true or false, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidConfig(key, f"{key} must be a number, got {value!r}")
    if kind is int:
        if not isinstance(value, int):
            raise InvalidConfig(key, f"{key} must be a whole number, got {value!r}")
        number: float = value
    else:
        number = float(value)
        if not math.isfinite(number):
            raise InvalidConfig(key, f"{key} must be a finite number, got {value!r}")
    if meta["positive"] and not number > 0:
        raise InvalidConfig(key, f"{key} must be greater than zero, got {number:g}")
    if meta["minimum"] is not None and number < meta["minimum"]:
        raise InvalidConfig(key, f"{key} must be at least {meta['minimum']}, got {number:g}")
    if meta["maximum"] is not None and number > meta["maximum"]:
        raise InvalidConfig(key, f"{key} must be at most {meta['maximum']}, got {number:g}")
    return number


# -- splits --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FoldSplit:
    """Rows of one fold: XGBoost fits ``fit`` and stops early on ``validation`` (empty without
    early stopping); the logistic baseline fits the whole ``train`` window; both are tested on
    ``test``."""

    fold: int
    train: range
    fit: range
    validation: range
    test: range


def walk_forward_splits(rows: int, config: TrainingConfig) -> list[FoldSplit]:
    """The folds over a series of ``rows`` bars (see the module docstring for the layout)."""
    gap = config.purge + config.embargo
    test_size = config.test_size or (rows - config.train_size - gap) // config.folds
    first_test = rows - config.folds * test_size
    if test_size < 1 or first_test - gap < config.train_size:
        per_test = max(config.test_size, 1)
        needed = config.train_size + gap + config.folds * per_test
        raise InvalidTrainingData(
            f"{rows:,} bars are too few for {config.folds} folds: they need at least "
            f"{needed:,} (a training window of {config.train_size:,}, a gap of {gap} for the "
            f"purge and embargo, and {config.folds} test windows of {per_test:,}); lower "
            "folds, train_size or test_size, or give more bars"
        )
    splits = []
    for fold in range(config.folds):
        test_start = first_test + fold * test_size
        train_stop = test_start - gap
        train = range(0 if config.expanding else train_stop - config.train_size, train_stop)
        fit, validation = _early_stopping_split(train, config)
        splits.append(
            FoldSplit(
                fold=fold,
                train=train,
                fit=fit,
                validation=validation,
                test=range(test_start, test_start + test_size),
            )
        )
    return splits


def _early_stopping_split(train: range, config: TrainingConfig) -> tuple[range, range]:
    """The rows XGBoost fits and the slice at the end of ``train`` its early stopping watches,
    ``purge`` bars apart; without early stopping, all of ``train`` and an empty slice."""
    held_out = round(config.validation_fraction * len(train))
    if not held_out:
        return train, range(train.stop, train.stop)
    validation = range(train.stop - held_out, train.stop)
    return range(train.start, validation.start - config.purge), validation


# -- metrics -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RulePnl:
    """The threshold rule over a test window: trades taken, and their summed returns before
    and after costs (fractions of a constant notional)."""

    trades: int
    gross_pnl: float
    net_pnl: float


def threshold_rule_pnl(
    proba: npt.ArrayLike,
    close: npt.ArrayLike,
    *,
    start: int,
    horizon: int,
    threshold: float,
    cost: float,
    half_spread: float,
) -> RulePnl:
    """Trade the probabilities of bars ``start``, ``start + 1``, ... of ``close`` by the
    threshold rule (module docstring); exits may fall after the window, not after the series."""
    p = np.asarray(proba, dtype=np.float64)
    prices = np.asarray(close, dtype=np.float64)
    trades, gross, net = 0, 0.0, 0.0
    bar = 0
    while bar < len(p):
        entry_row, exit_row = start + bar, start + bar + horizon
        side = 1 if p[bar] > threshold else -1 if p[bar] < 1 - threshold else 0
        if side == 0 or exit_row >= len(prices):
            bar += 1
            continue
        entry, exit_price = float(prices[entry_row]), float(prices[exit_row])
        move = side * (exit_price / entry - 1.0)
        costs = 2 * cost + half_spread / entry + half_spread / exit_price
        trades += 1
        gross += move
        net += move - costs
        bar += horizon
    return RulePnl(trades=trades, gross_pnl=gross, net_pnl=net)


@dataclass(frozen=True, slots=True)
class ModelMetrics:
    """One model on one test window. ``auc`` is NaN when the window holds one class only;
    ``precision_at_threshold`` is the share of the rule's calls (up above the threshold, down
    below 1 minus it) that the labelled bars bear out, NaN when it makes none."""

    auc: float
    log_loss: float
    accuracy: float
    precision_at_threshold: float
    trades: int
    gross_pnl: float
    net_pnl_after_costs: float

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def model_metrics(
    labels: npt.ArrayLike,
    proba: npt.ArrayLike,
    close: npt.ArrayLike,
    *,
    start: int,
    config: TrainingConfig,
) -> ModelMetrics:
    """Metrics of probabilities for the bars ``start``, ``start + 1``, ... of ``close``:
    classification on the labelled bars (NaN labels are the dead zone), P&L on all of them."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(proba, dtype=np.float64)
    known = np.isfinite(y)
    y_known, p_known = y[known], p[known]
    auc = log_loss_value = accuracy = precision = math.nan
    if len(y_known):
        if len(np.unique(y_known)) == 2:
            auc = float(roc_auc_score(y_known, p_known))
        clipped = np.clip(p_known, 1e-15, 1 - 1e-15)
        log_loss_value = float(log_loss(y_known, clipped, labels=[0.0, 1.0]))
        accuracy = float(np.mean((p_known > 0.5) == (y_known == 1.0)))
        calls = (p_known > config.threshold) | (p_known < 1 - config.threshold)
        if calls.any():
            precision = float(np.mean((p_known[calls] > 0.5) == (y_known[calls] == 1.0)))
    rule = threshold_rule_pnl(
        p,
        close,
        start=start,
        horizon=config.horizon,
        threshold=config.threshold,
        cost=config.cost,
        half_spread=config.half_spread,
    )
    return ModelMetrics(
        auc=auc,
        log_loss=log_loss_value,
        accuracy=accuracy,
        precision_at_threshold=precision,
        trades=rule.trades,
        gross_pnl=rule.gross_pnl,
        net_pnl_after_costs=rule.net_pnl,
    )


@dataclass(frozen=True, slots=True)
class FoldMetrics:
    """One fold: its windows (int64 ns, ends inclusive), labelled bar counts (``n_train`` of
    the training window, ``n_validation`` of its early-stopping slice, ``n_test`` of the test
    window, which has ``test_bars`` bars) and each model's metrics."""

    fold: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int
    n_train: int
    n_validation: int
    n_test: int
    test_bars: int
    best_iteration: int
    xgboost: ModelMetrics
    logistic: ModelMetrics

    def to_dict(self) -> dict[str, Any]:
        """Flat plain values (``xgboost_auc``, ``logistic_net_pnl_after_costs``...): one row of
        a table; NaN becomes None."""
        row: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in MODELS
        }
        for model in MODELS:
            for key, value in getattr(self, model).to_dict().items():
                row[f"{model}_{key}"] = value
        return row


# -- training ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingResult:
    """A walk-forward training: per-fold metrics, their summary with the XGBoost-against-
    logistic report after costs, and the final XGBoost model (``model_json``, XGBoost's own
    JSON) fitted on every labelled bar of ``training_window`` (int64 ns, inclusive).
    ``importance`` is the final model's gain per feature (0 for features it never splits on);
    ``data_hash`` the sha256 of the feature matrix (float64, row-major) and the labels."""

    feature_names: list[str]
    folds: list[FoldMetrics]
    summary: dict[str, Any]
    importance: dict[str, float]
    model_json: bytes
    params: dict[str, Any]
    training_window: tuple[int, int]
    data_hash: str

    @property
    def report(self) -> str:
        """XGBoost against the logistic baseline after costs, in a few lines."""
        text: str = self.summary["report"]
        return text

    def to_dict(self) -> dict[str, Any]:
        """Everything but the model itself, as plain JSON values (NaN as None)."""
        return {
            "feature_names": list(self.feature_names),
            "folds": [fold.to_dict() for fold in self.folds],
            "summary": self.summary,
            "report": self.report,
            "importance": self.importance,
            "params": self.params,
            "training_window": list(self.training_window),
            "data_hash": self.data_hash,
        }


def train_walk_forward(
    features: npt.ArrayLike,
    feature_names: Sequence[str],
    close: npt.ArrayLike,
    times: npt.ArrayLike,
    config: TrainingConfig,
    *,
    progress: Progress | None = None,
) -> TrainingResult:
    """Train and evaluate walk-forward, then fit the final model on every labelled bar.

    ``features[t]`` must use data up to bar t only (``mlmodels.features`` does); labels are
    made here from ``close``. ``progress(fraction, message)`` is called as each fold and the
    final model finish."""
    x, names, prices, stamps = _checked(features, feature_names, close, times)
    report = progress or (lambda fraction, message: None)
    labels = direction_labels(
        prices, horizon=config.horizon, cost=config.cost, half_spread=config.half_spread
    )
    labelled = np.flatnonzero(np.isfinite(labels))
    if not len(labelled):
        raise InvalidTrainingData(
            "no labelled bars: every move is inside the dead zone (cost plus half_spread over "
            "the price); lower cost or half_spread, or a longer horizon"
        )
    splits = walk_forward_splits(len(x), config)
    steps = len(splits) + 1
    folds = []
    for split in splits:
        fold = _run_fold(x, labels, prices, stamps, names, split, config)
        folds.append(fold)
        report(
            (split.fold + 1) / steps,
            f"fold {split.fold + 1}/{len(splits)}: net P&L after costs "
            f"xgboost {_percent(fold.xgboost.net_pnl_after_costs)}, "
            f"logistic {_percent(fold.logistic.net_pnl_after_costs)}",
        )
    fit, validation = _early_stopping_split(range(0, int(labelled[-1]) + 1), config)
    booster, best = _fit_xgboost(x, labels, names, fit, validation, config)
    gains = booster.get_score(importance_type="gain")
    importance = dict(
        sorted(
            ((name, float(cast(float, gains.get(name, 0.0)))) for name in names),
            key=lambda item: -item[1],
        )
    )
    report(1.0, f"final model: {best + 1} trees on {len(labelled):,} labelled bars")
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    digest.update(labels.tobytes())
    return TrainingResult(
        feature_names=names,
        folds=folds,
        summary=_summary(folds, config),
        importance=importance,
        model_json=bytes(booster.save_raw("json")),
        params={
            "training_config": config.to_dict(),
            "xgboost": config.xgboost_params(),
            "best_iteration": best,
            "n_trees": best + 1,
            "xgboost_version": xgb.__version__,
            "rows": len(x),
            "labelled_rows": len(labelled),
        },
        training_window=(int(stamps[labelled[0]]), int(stamps[labelled[-1]])),
        data_hash=digest.hexdigest(),
    )


def _checked(
    features: npt.ArrayLike,
    feature_names: Sequence[str],
    close: npt.ArrayLike,
    times: npt.ArrayLike,
) -> tuple[FloatArray, list[str], FloatArray, npt.NDArray[np.int64]]:
    x = np.asarray(features, dtype=np.float64)
    names = [str(name) for name in feature_names]
    if x.ndim != 2 or x.shape[1] != len(names):
        raise InvalidTrainingData(
            f"features must be [bars, {len(names)} features] like feature_names, got {x.shape}"
        )
    if len(set(names)) != len(names):
        raise InvalidTrainingData("feature_names repeat a name")
    infinite = np.argwhere(np.isinf(x))
    if len(infinite):
        row, column = infinite[0]
        raise InvalidTrainingData(f"feature {names[column]} is infinite at row {row}")
    prices = np.asarray(close, dtype=np.float64)
    stamps = nanoseconds(times)
    if prices.shape != (len(x),) or stamps.shape != (len(x),):
        raise InvalidTrainingData(
            f"close and times need one value per bar ({len(x)}), got {prices.shape} and "
            f"{stamps.shape}"
        )
    if np.any(np.diff(stamps) <= 0):
        raise InvalidTrainingData("times must be strictly increasing")
    return x, names, prices, stamps


def nanoseconds(times: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Bar times as int64 nanoseconds since the epoch, from integers (taken as nanoseconds) or
    numpy datetimes of any unit (as ``CandleWindow.open_time`` holds)."""
    stamps = np.asarray(times)
    if np.issubdtype(stamps.dtype, np.datetime64):
        return stamps.astype("datetime64[ns]").astype(np.int64)
    if not np.issubdtype(stamps.dtype, np.integer):
        raise InvalidTrainingData(
            f"times must be integer nanoseconds or datetime64, got {stamps.dtype}"
        )
    return stamps.astype(np.int64)


def _labelled(labels: FloatArray, rows: range) -> npt.NDArray[np.intp]:
    return rows.start + np.flatnonzero(np.isfinite(labels[rows.start : rows.stop]))


def _fit_xgboost(
    x: FloatArray,
    labels: FloatArray,
    names: list[str],
    fit: range,
    validation: range,
    config: TrainingConfig,
) -> tuple[xgb.Booster, int]:
    """XGBoost on the labelled bars of ``fit``, stopped early on those of ``validation``;
    returns the booster cut to its best iteration, and that iteration."""
    fit_rows = _labelled(labels, fit)
    classes = np.unique(labels[fit_rows])
    if len(fit_rows) < MIN_FIT_ROWS or len(classes) < 2:
        raise InvalidTrainingData(
            f"bars {fit.start}-{fit.stop - 1} hold {len(fit_rows)} labelled bars of "
            f"{len(classes)} class(es); fitting needs {MIN_FIT_ROWS} of both: give more bars, "
            "a larger train_size or a smaller dead zone (cost, half_spread)"
        )
    train = xgb.DMatrix(
        x[fit_rows], label=labels[fit_rows], feature_names=names, nthread=config.threads
    )
    validation_rows = _labelled(labels, validation)
    if not len(validation_rows):
        booster = xgb.train(config.xgboost_params(), train, num_boost_round=config.n_estimators)
        return booster, config.n_estimators - 1
    watched = xgb.DMatrix(
        x[validation_rows],
        label=labels[validation_rows],
        feature_names=names,
        nthread=config.threads,
    )
    booster = xgb.train(
        config.xgboost_params(),
        train,
        num_boost_round=config.n_estimators,
        evals=[(watched, "validation")],
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
    )
    best = int(booster.best_iteration)
    return booster[: best + 1], best


def fit_fold_xgboost(
    x: FloatArray, labels: FloatArray, names: list[str], split: FoldSplit, config: TrainingConfig
) -> tuple[bytes, int]:
    """One fold's XGBoost as ``train_walk_forward`` fits it (on the labelled bars of
    ``split.fit``, stopped early on ``split.validation``): the model in XGBoost's JSON, cut to
    its best iteration, and that iteration. Its test window is never read."""
    booster, best = _fit_xgboost(x, labels, names, split.fit, split.validation, config)
    return bytes(booster.save_raw("json")), best


def _fit_logistic(
    x: FloatArray, labels: FloatArray, rows: npt.NDArray[np.intp], config: TrainingConfig
) -> Pipeline:
    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=config.logistic_c, max_iter=config.logistic_max_iter),
    )
    # BLAS threads on a problem this small mostly wait for each other: on a busy 2-core
    # machine two made the solver 7 times slower than one.
    with threadpool_limits(limits=config.threads or None, user_api="blas"):
        model.fit(x[rows], labels[rows])
    return model


def _run_fold(
    x: FloatArray,
    labels: FloatArray,
    prices: FloatArray,
    stamps: npt.NDArray[np.int64],
    names: list[str],
    split: FoldSplit,
    config: TrainingConfig,
) -> FoldMetrics:
    booster, best = _fit_xgboost(x, labels, names, split.fit, split.validation, config)
    train_rows = _labelled(labels, split.train)
    logistic = _fit_logistic(x, labels, train_rows, config)
    test = slice(split.test.start, split.test.stop)
    scored = {
        "xgboost": np.asarray(booster.inplace_predict(x[test]), dtype=np.float64),
        "logistic": np.asarray(logistic.predict_proba(x[test])[:, 1], dtype=np.float64),
    }
    metrics = {
        model: model_metrics(labels[test], p, prices, start=split.test.start, config=config)
        for model, p in scored.items()
    }
    return FoldMetrics(
        fold=split.fold,
        train_start=int(stamps[split.train.start]),
        train_end=int(stamps[split.train.stop - 1]),
        test_start=int(stamps[split.test.start]),
        test_end=int(stamps[split.test.stop - 1]),
        n_train=len(train_rows),
        n_validation=len(_labelled(labels, split.validation)),
        n_test=int(np.isfinite(labels[test]).sum()),
        test_bars=len(split.test),
        best_iteration=best,
        xgboost=metrics["xgboost"],
        logistic=metrics["logistic"],
    )


# -- summary -------------------------------------------------------------------------------


def _plain(value: object) -> object:
    """JSON-safe: NaN (undefined metric) as None, numpy scalars as Python ones."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _percent(value: float) -> str:
    return f"{value * 100:+.2f}%"


def _date(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d")


def _summary(folds: list[FoldMetrics], config: TrainingConfig) -> dict[str, Any]:
    per_model: dict[str, dict[str, Any]] = {}
    for model in MODELS:
        metrics = [getattr(fold, model) for fold in folds]
        per_model[model] = {
            "auc": _mean([m.auc for m in metrics]),
            "log_loss": _mean([m.log_loss for m in metrics]),
            "accuracy": _mean([m.accuracy for m in metrics]),
            "precision_at_threshold": _mean([m.precision_at_threshold for m in metrics]),
            "trades": sum(m.trades for m in metrics),
            "gross_pnl": sum(m.gross_pnl for m in metrics),
            "net_pnl_after_costs": sum(m.net_pnl_after_costs for m in metrics),
        }
    xgb_net = per_model["xgboost"]["net_pnl_after_costs"]
    logistic_net = per_model["logistic"]["net_pnl_after_costs"]
    ahead = sum(
        fold.xgboost.net_pnl_after_costs > fold.logistic.net_pnl_after_costs for fold in folds
    )
    summary: dict[str, Any] = {
        model: {key: _plain(value) for key, value in values.items()}
        for model, values in per_model.items()
    }
    summary.update(
        {
            "folds": len(folds),
            "test_bars": sum(fold.test_bars for fold in folds),
            "net_pnl_difference": _plain(xgb_net - logistic_net),
            "folds_xgboost_ahead": ahead,
            "mean_best_iteration": _plain(_mean([float(f.best_iteration) for f in folds])),
            "report": _report(folds, per_model, ahead, config),
        }
    )
    return summary


def _model_line(label: str, m: Mapping[str, Any], threshold: float) -> str:
    def number(value: float, spec: str) -> str:
        return "n/a" if not math.isfinite(value) else format(value, spec)

    return (
        f"{label}: AUC {number(m['auc'], '.3f')}, log loss {number(m['log_loss'], '.4f')}, "
        f"accuracy {number(m['accuracy'], '.1%')}, precision at {threshold:g} "
        f"{number(m['precision_at_threshold'], '.1%')}; {m['trades']} trades, net P&L after "
        f"costs {_percent(m['net_pnl_after_costs'])} of notional "
        f"(before costs {_percent(m['gross_pnl'])})"
    )


def _report(
    folds: list[FoldMetrics],
    per_model: Mapping[str, Mapping[str, Any]],
    ahead: int,
    config: TrainingConfig,
) -> str:
    xgb_net = per_model["xgboost"]["net_pnl_after_costs"]
    logistic_net = per_model["logistic"]["net_pnl_after_costs"]
    window = "expanding" if config.expanding else "sliding"
    lines = [
        f"Walk-forward over {len(folds)} {window} folds, {sum(f.test_bars for f in folds):,} "
        f"test bars from {_date(folds[0].test_start)} to {_date(folds[-1].test_end)} "
        f"(purge {config.purge} + embargo {config.embargo} bars); each trade held "
        f"{config.horizon} bars, paying {config.cost * 1e4:g} bp per side plus a half spread "
        f"of {np.format_float_positional(config.half_spread, trim='-')} at entry and exit.",
        _model_line("XGBoost", per_model["xgboost"], config.threshold),
        _model_line("Logistic baseline", per_model["logistic"], config.threshold),
    ]
    difference = xgb_net - logistic_net
    leader = "XGBoost" if difference > 0 else "the logistic baseline"
    verdict = (
        "After costs the two are level"
        if difference == 0
        else f"After costs {leader} is ahead by {abs(difference) * 100:.2f}% of notional"
    )
    profitable = [
        name for name, net in (("XGBoost", xgb_net), ("logistic", logistic_net)) if net > 0
    ]
    if len(profitable) == 2:
        outcome = "both are profitable after costs"
    elif profitable:
        outcome = f"only {profitable[0]} is profitable after costs"
    else:
        outcome = "neither is profitable after costs"
    lines.append(f"{verdict}; XGBoost leads in {ahead} of {len(folds)} folds; {outcome}.")
    return "\n".join(lines)
