"""Train a model on stored candles: ``manage.py train_model --symbol EURUSD --interval 1h
--name eurusd-direction [--config JSON] [--feature-config JSON] [--async]``.

In the terminal: a progress bar, then the new version, its walk-forward folds and the report
that compares it with the logistic baseline after costs. With ``--async`` the training is
queued for a Celery worker (the ``mlmodels.train_model`` task) and the run's id printed; its
progress is at ``GET /api/v1/ml/training-runs/<id>/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from mlmodels.errors import ModelRegistryError
from mlmodels.models import ModelVersion
from mlmodels.registry import datetime_from_ns
from mlmodels.services import model_train, training_run_start


def _settings(text: str | None, option: str) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"{option} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise CommandError(f"{option} must be a JSON object of settings, e.g. '{{\"folds\": 4}}'")
    return value


class ProgressBar:
    """One line redrawn in place on a terminal; elsewhere (a log) a line per new stage."""

    WIDTH = 30

    def __init__(self, out: OutputWrapper) -> None:
        self.out = out
        self.tty = out.isatty()
        self._last_message = ""
        self._drawn = 0

    def __call__(self, fraction: float, message: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        if self.tty:
            filled = round(fraction * self.WIDTH)
            line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:4.0%}  {message}"
            self.out.write("\r" + line.ljust(self._drawn), ending="")
            self._drawn = len(line)
            self.out.flush()
        elif message != self._last_message:
            self.out.write(f"{fraction:4.0%}  {message}")
        self._last_message = message

    def close(self) -> None:
        if self.tty and self._drawn:
            self.out.write("")


def _date(ns: Any) -> str:
    return "-" if ns is None else f"{datetime_from_ns(ns):%Y-%m-%d %H:%M}"


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _percent(value: Any) -> str:
    return "-" if value is None else f"{value * 100:+.2f}%"


# The fold table's columns: heading, the fold metric's key, how to show it.
FOLD_COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("fold", "fold", str),
    ("test from", "test_start", _date),
    ("test to", "test_end", _date),
    ("bars", "test_bars", str),
    ("AUC xgb", "xgboost_auc", _number),
    ("AUC logit", "logistic_auc", _number),
    ("acc xgb", "xgboost_accuracy", _number),
    ("acc logit", "logistic_accuracy", _number),
    ("trades xgb", "xgboost_trades", str),
    ("trades logit", "logistic_trades", str),
    ("net xgb", "xgboost_net_pnl_after_costs", _percent),
    ("net logit", "logistic_net_pnl_after_costs", _percent),
]


def fold_table(folds: list[dict[str, Any]]) -> list[str]:
    """The walk-forward folds as aligned text: out-of-sample AUC, accuracy, and the threshold
    rule's trades and net P&L after costs (of notional), XGBoost beside the logistic baseline."""
    cells = [[show(fold.get(key)) for _, key, show in FOLD_COLUMNS] for fold in folds]
    headings = [heading for heading, _, _ in FOLD_COLUMNS]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headings)]
    return [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in [headings, *cells]
    ]


class Command(BaseCommand):
    help = "Train a model walk-forward on stored candles and register it as a candidate version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbol", required=True, help="an instrument with stored candles")
        parser.add_argument("--interval", required=True, help="candle interval, e.g. 1h")
        parser.add_argument("--name", required=True, help="model name, e.g. eurusd-direction")
        parser.add_argument("--config", help="training settings as JSON (defaults otherwise)")
        parser.add_argument("--feature-config", help="feature settings as JSON")
        parser.add_argument(
            "--async",
            action="store_true",
            dest="queue",
            help="queue the training for a Celery worker and print the run's id",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        arguments = {
            "name": options["name"],
            "symbol": options["symbol"],
            "interval": options["interval"],
            "training_config": _settings(options["config"], "--config"),
            "feature_config": _settings(options["feature_config"], "--feature-config"),
        }
        if options["queue"]:
            try:
                run = training_run_start(requested_by_id=None, **arguments)
            except ModelRegistryError as error:
                raise CommandError(str(error)) from None
            run.refresh_from_db()  # without a broker the task has run already
            self.stdout.write(
                f"training run {run.pk}: {run.status}, {run.progress:.0%} ({run.message}); "
                "follow it on the admin's training runs page"
            )
            return
        bar = ProgressBar(self.stdout)
        try:
            version = model_train(progress=bar, **arguments)
        except ModelRegistryError as error:
            bar.close()
            raise CommandError(f"{error}\nNothing was registered.") from None
        bar.close()
        self._report(version)

    def _report(self, version: ModelVersion) -> None:
        self.stdout.write(
            self.style.SUCCESS(f"{version.name} v{version.version}")
            + f" ({version.status}, id {version.pk}): {len(version.feature_names)} features, "
            f"{version.symbol} {version.interval} from {version.training_start:%Y-%m-%d %H:%M} "
            f"to {version.training_end:%Y-%m-%d %H:%M} UTC"
        )
        self.stdout.write("\nWalk-forward folds:")
        for line in fold_table(version.fold_metrics):
            self.stdout.write("  " + line)
        self.stdout.write("\n" + version.report.rstrip())
        self.stdout.write(
            f"\nActivate it: POST /api/v1/ml/models/{version.pk}/activate/ (or the admin)."
        )
