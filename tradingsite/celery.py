"""The Celery app: configured from Django settings (CELERY_*), tasks autodiscovered per app.

Queues (the Procfile runs a worker per queue; docs/DEPLOYMENT.md):

- ``execution``: everything that meets a venue or the paper books: submitting, polling and
  reconciling orders, execution algorithms, halts, the trading day, pending signals.
- ``copy``: copy trading: mirroring a leader's fill to the followers, copy stop losses, the
  daily equity snapshots, orphaned holdings.
- ``features``: long batch jobs over history: training runs (the weekly retraining too) and
  backtests.
- ``inference``: model predictions (``mlmodels.predict``), and tasks no route names (the
  default ``celery`` queue).
- ``strategies.bars.<n>``: the live strategy runner, one queue per group of instruments
  (strategies.runner; the task is sent there explicitly).

The paper exchange (execution.services.venues) keeps its books and resting orders in the
memory of one process, the one that runs the market feed. A worker started with
``MARKET_FEED=simulated`` (``--pool=threads`` or ``solo``, so its tasks run in its own process)
is that process: it starts the simulated feed and also consumes every strategy-runner queue,
because signals are sized and planned on the books it holds. The Procfile has it consume the
``execution`` and ``copy`` queues too: with paper accounts, sending, cancelling and copying
orders must happen where the books are.
"""

from __future__ import annotations

import logging
import logging.config
import os
from contextvars import Token
from typing import Any

from celery import Celery, Task
from celery.signals import (
    celeryd_after_setup,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_ready,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings.local")

app = Celery("tradingsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

QUEUES = ("execution", "copy", "features", "inference")

app.conf.task_routes = {
    "execution.*": {"queue": "execution"},
    # Executing a signal plans it on the paper book.
    "strategies.carry_out_pending_signals": {"queue": "execution"},
    "copytrading.*": {"queue": "copy"},
    "mlmodels.train_model": {"queue": "features"},
    "mlmodels.retrain_active_models": {"queue": "features"},
    "strategies.run_backtest": {"queue": "features"},
    "mlmodels.predict": {"queue": "inference"},
}

logger = logging.getLogger(__name__)


@setup_logging.connect
def logging_from_django(**kwargs: Any) -> None:
    """Workers log through Django's LOGGING (JSON lines in production, with trade ids), not
    Celery's own handler."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@celeryd_after_setup.connect
def paper_exchange_queues(sender: str, instance: Any, **kwargs: Any) -> None:
    """The paper exchange's worker consumes every strategy-runner queue; refuse a pool whose
    tasks would run in child processes that do not hold its books."""
    from django.conf import settings

    if settings.MARKET_FEED != "simulated":
        return
    pool = str(getattr(instance.pool_cls, "__module__", instance.pool_cls))
    if not pool.endswith((".thread", ".solo")):
        logger.critical(
            "MARKET_FEED=simulated in a worker needs --pool=threads or --pool=solo: the paper "
            "exchange's tasks must run in the process that holds its books, not %s",
            pool,
        )
        raise SystemExit(1)  # Celery logs and ignores an Exception raised by a signal handler
    for number in range(settings.STRATEGY_RUNNER_QUEUES):
        instance.app.amqp.queues.select_add(f"strategies.bars.{number}")


@worker_ready.connect
def paper_exchange_feed(sender: Any, **kwargs: Any) -> None:
    from django.conf import settings

    if settings.MARKET_FEED == "simulated":
        from execution.services.marketfeed import market_feed_start

        market_feed_start()


_bound: dict[str, Token[Any]] = {}


@task_prerun.connect
def trade_ids_enter(
    task_id: str, task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], **_: Any
) -> None:
    """The task's log lines carry the ids of the trade it works on (tradingsite.logs)."""
    from tradingsite.logs import trade_ids_bind
    from tradingsite.trade_ids import trade_ids_of_task

    try:
        ids = trade_ids_of_task(task, args, kwargs)
    except Exception:  # a log field must never fail a task
        logger.warning("trade ids of task %s not found", task.name, exc_info=True)
        return
    if ids:
        _bound[task_id] = trade_ids_bind(**ids)


@task_postrun.connect
def trade_ids_leave(task_id: str, **_: Any) -> None:
    from tradingsite.logs import trade_ids_reset

    token = _bound.pop(task_id, None)
    if token is not None:
        trade_ids_reset(token)
