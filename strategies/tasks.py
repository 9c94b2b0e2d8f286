"""Celery tasks (thin: each calls one service and is safe to run twice)."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task

from strategies.runner import bar_evaluate, signals_pending_carry_out
from strategies.services import backtest_run


@shared_task(name="strategies.run_backtest")
def run_backtest(backtest_id: int) -> str:
    """Run a queued backtest; its progress is written on the row as it goes."""
    return str(backtest_run(backtest_id=backtest_id).status)


@shared_task(name="strategies.evaluate_bar")
def evaluate_bar(symbol: str, interval: str, bar_start: str) -> list[str]:
    """Evaluate the active strategies on one closed bar; a repeat evaluates nothing again."""
    evaluations = bar_evaluate(
        symbol=symbol, interval=interval, bar_start=datetime.fromisoformat(bar_start)
    )
    return [str(evaluation.verdict) for evaluation in evaluations]


@shared_task(name="strategies.carry_out_pending_signals")
def carry_out_pending_signals() -> int:
    """Execute (or expire) signals a crash left pending; each is carried out once."""
    return signals_pending_carry_out()
