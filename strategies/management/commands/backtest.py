"""Backtest in the foreground: ``manage.py backtest --strategy ID`` or ``manage.py backtest
--kind sma_crossover --symbol EURUSD --interval 1h --user NAME [--config JSON] [--costs JSON]``.
``--data l2`` runs on the stored L2 books and trades instead (``manage.py l2_simulate`` stores
a simulated history), its orders worked as ``--execution`` says (algorithm, latency_ms, ...).

Runs on the stored candles (``manage.py marketdata_import``) with costs always on, shows its
progress, then prints the metrics and the costs. The backtest is saved like one started from
the API (``GET /api/v1/strategies/backtests/<id>/result/``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from strategies.kinds import InvalidStrategyConfig
from strategies.models import BacktestStatus, Strategy
from strategies.services import backtest_run, backtest_start


def _json(text: str | None, option: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"{option} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise CommandError(f"{option} must be a JSON object, e.g. '{{\"fast_window\": 10}}'")
    return value


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{option} is not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Run a backtest on stored candles, costs included, and print its metrics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", type=int, help="a saved strategy's id")
        parser.add_argument("--kind", help="a strategy kind, e.g. sma_crossover")
        parser.add_argument("--symbol", help="instrument (default: the strategy's first)")
        parser.add_argument("--interval", help="candle interval, e.g. 1h")
        parser.add_argument("--user", help="whose backtest it is (with --kind)")
        parser.add_argument("--config", help="the kind's settings as JSON")
        parser.add_argument("--costs", help="fee_rate, slippage_bps, latency_bars, ... as JSON")
        parser.add_argument(
            "--data", choices=["candles", "l2"], default="candles",
            help="stored candles, or stored L2 books and trades",
        )  # fmt: skip
        parser.add_argument("--execution", help="L2: algorithm, latency_ms, ... as JSON")
        parser.add_argument("--start", help="from this UTC time (ISO 8601; default: the first)")
        parser.add_argument("--end", help="up to this UTC time (default: after the last)")

    def handle(self, *args: Any, **options: Any) -> None:
        if (options["strategy"] is None) == (options["kind"] is None):
            raise CommandError("give either --strategy ID or --kind KIND")
        if options["strategy"] is not None:
            strategy = Strategy.objects.filter(pk=options["strategy"]).first()
            if strategy is None:
                raise CommandError(f"there is no strategy {options['strategy']}")
            owner_id = strategy.owner_id
        else:
            user = get_user_model().objects.filter(username=options["user"] or "").first()
            if user is None:
                raise CommandError("--kind needs --user: the name of whose backtest it is")
            owner_id = user.pk
        try:
            backtest = backtest_start(
                owner_id=owner_id, strategy_id=options["strategy"], kind=options["kind"],
                config=_json(options["config"], "--config"), symbol=options["symbol"],
                interval=options["interval"], costs=_json(options["costs"], "--costs"),
                data=options["data"], execution=_json(options["execution"], "--execution"),
                start=_moment(options["start"], "--start"), end=_moment(options["end"], "--end"),
                queue=False,
            )  # fmt: skip
        except InvalidStrategyConfig as error:
            lines = [f"  {key}: {'; '.join(msgs)}" for key, msgs in error.errors.items()]
            raise CommandError("refused:\n" + "\n".join(lines)) from None

        def progress(fraction: float, message: str) -> None:
            self.stdout.write(f"{min(max(fraction, 0.0), 1.0):4.0%}  {message}")

        backtest = backtest_run(backtest_id=backtest.pk, progress=progress)
        if backtest.status != BacktestStatus.SUCCEEDED:
            raise CommandError(f"backtest {backtest.pk} {backtest.status}: {backtest.error}")
        progress(1.0, "done")
        self.stdout.write(
            f"backtest {backtest.pk}: {backtest.kind} on {backtest.symbol} {backtest.interval}"
            f" ({backtest.data})"
        )
        for name, value in backtest.metrics.items():
            if not isinstance(value, dict | list):  # the open trade and such: in the API
                self.stdout.write(f"  {name:<24} {value}")
        for algorithm, quality in backtest.metrics.get("execution", {}).items():
            shown = ", ".join(f"{key} {value}" for key, value in quality.items())
            self.stdout.write(f"  execution {algorithm}: {shown}")
