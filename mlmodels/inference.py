"""Predictions of a trained XGBoost direction model (``binary:logistic``, XGBoost's JSON format).

Batches go through XGBoost itself (``inplace_predict``, multi-threaded). A single row, the
live case, does not: XGBoost spends about 200-340 us per call on fixed overhead whatever the
model. ``predict_one`` instead walks the trees as straight-line Python compiled once from the
model's JSON: one ``if`` per split, with the row's features as local variables, so a 200-tree
depth-6 model answers in tens of microseconds.

The walk follows XGBoost's own rules, so its probabilities equal XGBoost's to float32 rounding
(the tests hold it to 1e-6): features are rounded to float32 before comparing with the float32
split values; a row goes left when its value is below the split; a missing value (NaN) follows
the split's default branch, which the generated ``if`` takes for NaN because every comparison
with NaN is false (``x < t`` for a default-right split, ``x >= t`` for a default-left one).
The margin adds the leaf values to the logit of the model's base score.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import xgboost as xgb

from execution.domain.errors import DomainError

FloatArray = npt.NDArray[np.float64]
MAX_DEPTH = 32  # deeper trees would nest the generated code past what Python's parser allows


class InvalidModel(DomainError):
    """The bytes are not an XGBoost model this predictor can read; the message says why."""


class InvalidPredictorInput(DomainError):
    """Rows that do not fit the model (wrong width or shape); the message says what it reads."""


class Predictor:
    """A loaded model. ``feature_names`` are the columns of a row, in order (NaN for a missing
    value). Safe to share between threads."""

    __slots__ = ("_booster", "_margin", "_width", "feature_names", "n_trees")

    def __init__(
        self,
        booster: xgb.Booster,
        feature_names: Sequence[str],
        margin: Callable[[list[float]], float],
        n_trees: int,
    ) -> None:
        self._booster = booster
        self._margin = margin
        self._width = len(feature_names)
        self.feature_names = list(feature_names)
        self.n_trees = n_trees

    @classmethod
    def from_json(cls, model_json: bytes, feature_names: Sequence[str]) -> Predictor:
        """Load a model saved by ``Booster.save_raw("json")`` whose rows are ``feature_names``."""
        names = [str(name) for name in feature_names]
        try:
            document = json.loads(model_json)
            learner = document["learner"]
            objective = learner["objective"]["name"]
            booster_kind = learner["gradient_booster"]["name"]
            model_param = learner["learner_model_param"]
            trees = learner["gradient_booster"]["model"]["trees"]
            width = int(model_param["num_feature"])
            base_score = float(str(model_param["base_score"]).strip("[]"))
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidModel(f"not an XGBoost JSON model ({error!r})") from None
        if objective != "binary:logistic" or booster_kind != "gbtree":
            raise InvalidModel(
                f"a {objective} {booster_kind} model: only binary:logistic gbtree models predict "
                "a direction probability here"
            )
        if width < 1 or width != len(names):
            raise InvalidModel(f"the model reads {width} features, {len(names)} names were given")
        trained_on = list(learner.get("feature_names") or [])
        if trained_on and trained_on != names:
            differ = next(
                i for i, (a, b) in enumerate(zip(trained_on, names, strict=False)) if a != b
            )
            raise InvalidModel(
                f"the model was trained on other features: column {differ} is "
                f"{trained_on[differ]!r} in the model, {names[differ]!r} here"
            )
        if not 0 < base_score < 1:
            raise InvalidModel(f"base_score {base_score} is not a probability")
        source = _source(trees, width, math.log(base_score / (1 - base_score)))
        namespace: dict[str, Any] = {}
        exec(compile(source, "<xgboost trees>", "exec"), namespace)  # numbers and names only
        booster = xgb.Booster()
        booster.load_model(bytearray(model_json))
        return cls(booster, names, namespace["margin"], len(trees))

    def _check_row(self, row: npt.ArrayLike) -> FloatArray:
        values = np.asarray(row, dtype=np.float64)
        if values.shape != (self._width,):
            raise InvalidPredictorInput(
                f"a row must hold {self._width} numbers (the model's feature_names in order, NaN "
                f"for a missing value), got shape {values.shape}"
            )
        return values

    def predict_one(self, row: npt.ArrayLike) -> float:
        """The probability of an up move for one row."""
        values = self._check_row(row)
        margin = self._margin(values.astype(np.float32).tolist())
        if margin >= 0:
            return 1.0 / (1.0 + math.exp(-margin))
        odds = math.exp(margin)  # this side: no overflow for very negative margins
        return odds / (1.0 + odds)

    def predict_proba(self, rows: npt.ArrayLike) -> FloatArray:
        """The probability of an up move for each row of a [rows, features] matrix."""
        matrix = np.asarray(rows, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self._width:
            raise InvalidPredictorInput(
                f"rows must be a [rows, {self._width}] matrix (the model's feature_names in "
                f"order, NaN for a missing value), got shape {matrix.shape}"
            )
        if not len(matrix):
            return np.empty(0)
        return np.asarray(self._booster.inplace_predict(matrix), dtype=np.float64)

    def contributions(self, row: npt.ArrayLike) -> dict[str, float]:
        """XGBoost's own per-feature contributions (SHAP values, ``pred_contribs``) to this
        row's margin in log-odds, with the constant part under ``"bias"``: they add up to
        logit(predict_one(row))."""
        values = self._check_row(row)
        matrix = xgb.DMatrix(values.reshape(1, -1), feature_names=self.feature_names)
        contributions = self._booster.predict(matrix, pred_contribs=True)[0]
        result = {
            name: float(value)
            for name, value in zip(self.feature_names, contributions[:-1], strict=True)
        }
        result["bias"] = float(contributions[-1])
        return result


def _number(value: object, where: str) -> str:
    """A JSON number as the exact float32 value XGBoost holds, as Python source."""
    number = float(np.float32(float(value)))  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise InvalidModel(f"{where} is not a finite number: {value!r}")
    return repr(number)


def _source(trees: list[dict[str, Any]], width: int, base_margin: float) -> str:
    """Python source of ``margin(row)``: the base margin plus each tree's leaf for the row."""
    variables = ", ".join(f"x{i}" for i in range(width))
    lines = ["def margin(row):", f"    {variables}, = row", f"    s = {base_margin!r}"]
    for index, tree in enumerate(trees):
        _emit_tree(tree, index, width, lines)
    lines.append("    return s")
    return "\n".join(lines) + "\n"


def _emit_tree(tree: dict[str, Any], index: int, width: int, lines: list[str]) -> None:
    """Append one tree as nested ``if``s that add its leaf value to ``s``."""
    try:
        left, right = tree["left_children"], tree["right_children"]
        features, values = tree["split_indices"], tree["split_conditions"]
        default_left = tree["default_left"]
        numeric = not any(tree.get("split_type", [])) and not tree.get("categories")
    except (KeyError, TypeError) as error:
        raise InvalidModel(f"tree {index} is incomplete ({error!r})") from None
    if not numeric:
        raise InvalidModel(f"tree {index} has categorical splits, which are not supported")

    def emit(node: int, depth: int) -> None:
        indent = "    " * (depth + 1)
        if depth > MAX_DEPTH:
            raise InvalidModel(f"tree {index} is deeper than {MAX_DEPTH} levels")
        if left[node] == -1:
            lines.append(f"{indent}s += {_number(values[node], f'tree {index} leaf')}")
            return
        feature = int(features[node])
        if not 0 <= feature < width:
            raise InvalidModel(f"tree {index} splits on feature {feature} of {width}")
        split = _number(values[node], f"tree {index} split")
        if default_left[node]:  # NaN >= t is false: NaN goes to the else (left) branch
            lines.append(f"{indent}if x{feature} >= {split}:")
            emit(right[node], depth + 1)
            lines.append(f"{indent}else:")
            emit(left[node], depth + 1)
        else:  # NaN < t is false: NaN goes to the else (right) branch
            lines.append(f"{indent}if x{feature} < {split}:")
            emit(left[node], depth + 1)
            lines.append(f"{indent}else:")
            emit(right[node], depth + 1)

    emit(0, 0)
