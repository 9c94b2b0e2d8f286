"""A comparison run in the foreground: ``manage.py backtest_compare --symbol EURUSD
--interval 1h --user NAME [--kinds simple_ml mean_reversion buy_and_hold] [--costs JSON]
[--start ISO] [--end ISO] [--html out.html]``.

Every kind runs over exactly the same stored bars with the same costs (saved as one comparison,
``GET /api/v1/strategies/comparisons/<id>/``); the command shows the progress, prints the table
side by side and, with ``--html``, writes the report with plotly.min.js copied beside it (the
page works offline, opened from the disk).
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from strategies.comparison import comparison_report_for, comparison_run, comparison_start
from strategies.kinds import InvalidStrategyConfig
from strategies.report import PLOTLY_JS


def _json(text: str | None, option: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"{option} is not valid JSON: {error}") from None


def _time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{option} is not an ISO 8601 time: {text!r}") from None


class Command(BaseCommand):
    help = "Backtest several strategies on the same bars and costs; print them side by side."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbol", required=True)
        parser.add_argument("--interval", required=True, help="candle interval, e.g. 1h")
        parser.add_argument("--user", required=True, help="whose comparison it is")
        parser.add_argument(
            "--kinds", nargs="+", help="kinds with default configs (default: ML, mean "
            "reversion, buy and hold)",
        )  # fmt: skip
        parser.add_argument(
            "--runs", help='runs as JSON instead of --kinds: [{"kind": ..., "config": {...}}]'
        )
        parser.add_argument("--costs", help="fee_rate, slippage_bps, latency_bars, ... as JSON")
        parser.add_argument("--start", help="first bar at or after (ISO 8601, UTC)")
        parser.add_argument("--end", help="bars before (ISO 8601, UTC)")
        parser.add_argument("--html", help="write the report to this file")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"there is no user {options['user']!r}")
        if options["kinds"] and options["runs"]:
            raise CommandError("give --kinds or --runs, not both")
        runs = _json(options["runs"], "--runs")
        if options["kinds"]:
            runs = [{"kind": kind, "config": {}} for kind in options["kinds"]]
        try:
            comparison = comparison_start(
                owner_id=user.pk, symbol=options["symbol"], interval=options["interval"],
                start=_time(options["start"], "--start"), end=_time(options["end"], "--end"),
                costs=_json(options["costs"], "--costs"), runs=runs, queue=False,
            )  # fmt: skip
        except InvalidStrategyConfig as error:
            lines = [f"  {key}: {'; '.join(msgs)}" for key, msgs in error.errors.items()]
            raise CommandError("refused:\n" + "\n".join(lines)) from None

        def progress(fraction: float, message: str) -> None:
            self.stdout.write(f"{min(max(fraction, 0.0), 1.0):4.0%}  {message}")

        comparison_run(comparison_id=comparison.pk, progress=progress)
        try:
            report = comparison_report_for(comparison)
        except InvalidStrategyConfig as error:
            raise CommandError("; ".join(error.errors["comparison"])) from None
        self.stdout.write(report.title)
        widths = [max(len(str(v)) for v in column) for column in zip(
            report.columns, *([label, *values] for label, values in report.rows), strict=True
        )]  # fmt: skip
        for cells in (report.columns, *([label, *values] for label, values in report.rows)):
            self.stdout.write(
                "  ".join(
                    str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
                    for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
                )
            )
        for note in report.notes:
            self.stdout.write(f"- {note}")
        if options["html"]:
            path = Path(options["html"])
            path.write_text(report.html("plotly.min.js"), encoding="utf-8")
            shutil.copyfile(PLOTLY_JS, path.parent / "plotly.min.js")
            self.stdout.write(
                f"report: {path} ({path.stat().st_size:,} bytes, plotly.min.js beside it)"
            )
