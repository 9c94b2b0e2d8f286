"""GET /health/: is this deployment able to trade? For a load balancer and a monitor.

The database answers a query, Redis a PING, and each Celery queue the platform needs has a
worker that answered a broadcast within HEALTH_WORKER_TIMEOUT. 200 when all is well; 503 with
``down`` naming each part that is not. Open to anyone and so it says nothing more: no
hostnames, versions, addresses or errors (those go to the log), only each part's state and how
many workers consume each queue.

A broadcast waits its whole timeout for answers, so the workers' answer is kept for
HEALTH_CACHE_SECONDS per process: a monitor polling every second costs one broadcast a few
seconds.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

_workers_lock = threading.Lock()
_workers_cache: tuple[float, dict[str, int]] | None = None


def expected_queues() -> list[str]:
    from tradingsite.celery import QUEUES

    bars = [f"strategies.bars.{n}" for n in range(settings.STRATEGY_RUNNER_QUEUES)]
    return [*QUEUES, *bars] if settings.STRATEGY_RUNNER == "celery" else list(QUEUES)


def database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("health: the database did not answer")
        return "down"
    return "ok"


def redis_state() -> str:
    if not settings.REDIS_URL:
        return "not configured"  # the embedded default: in-memory layer, tasks in-process
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=settings.HEALTH_WORKER_TIMEOUT,
            socket_connect_timeout=settings.HEALTH_WORKER_TIMEOUT,
        )  # fmt: skip
        with client:
            client.ping()
    except Exception:
        logger.exception("health: Redis did not answer")
        return "down"
    return "ok"


def worker_counts() -> dict[str, int]:
    """How many workers answered per queue (cached HEALTH_CACHE_SECONDS)."""
    global _workers_cache
    with _workers_lock:
        now = time.monotonic()
        if _workers_cache is not None and now - _workers_cache[0] < settings.HEALTH_CACHE_SECONDS:
            return _workers_cache[1]
        from tradingsite.celery import app

        counts = dict.fromkeys(expected_queues(), 0)
        try:
            replies = app.control.inspect(timeout=settings.HEALTH_WORKER_TIMEOUT).active_queues()
        except Exception:
            logger.exception("health: the workers could not be asked")
            replies = None
        for queues in (replies or {}).values():
            for name in {queue["name"] for queue in queues}:
                counts[name] = counts.get(name, 0) + 1
        # Only the queues the platform needs are reported: others are none of a visitor's
        # business.
        counts = {name: counts[name] for name in expected_queues()}
        _workers_cache = (now, counts)
        return counts


def health_reset() -> None:
    """Forget the cached worker answer (tests)."""
    global _workers_cache
    with _workers_lock:
        _workers_cache = None


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    database = database_state()
    redis = redis_state()
    body: dict[str, object] = {"database": database, "redis": redis}
    down = [name for name, state in body.items() if state == "down"]
    from tradingsite.celery import app

    if settings.REDIS_URL and not app.conf.task_always_eager:
        workers = worker_counts() if redis == "ok" else dict.fromkeys(expected_queues(), 0)
        body["workers"] = workers
        down += [f"workers:{queue}" for queue, count in workers.items() if not count]
    else:
        body["workers"] = "in-process"  # no broker: tasks run in the caller
    body["status"] = "down" if down else "ok"
    if down:
        body["down"] = down
    return JsonResponse(body, status=503 if down else 200)
