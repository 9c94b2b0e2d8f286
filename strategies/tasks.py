"""Celery tasks (thin: each calls one service and is safe to run twice)."""

from __future__ import annotations

from celery import shared_task

from strategies.services import backtest_run


@shared_task(name="strategies.run_backtest")
def run_backtest(backtest_id: int) -> str:
    """Run a queued backtest; its progress is written on the row as it goes."""
    return str(backtest_run(backtest_id=backtest_id).status)
