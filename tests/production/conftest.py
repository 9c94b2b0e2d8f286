"""Production's parts against the real services: Celery workers as separate processes on
PostgreSQL and Redis, started like the Procfile's and always stopped, even on failure."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.execution.tasks.test_celery_worker import ROOT, _test_database_url, wait_for_worker
from tradingsite.celery import app as celery_app


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM (a warm shutdown), then SIGKILL if it is still there after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def celery_worker(queues: str, **env: str) -> Iterator[Callable[[], str]]:
    """A worker process consuming ``queues`` on this test's database; yields its log."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingsite.settings.test",
        "DATABASE_URL": _test_database_url(),
        "LOG_FORMAT": "json",
        **env,
    }
    command = [
        sys.executable, "-m", "celery", "-A", "tradingsite", "worker", "--pool=threads",
        "--concurrency=2", "-Q", queues, "--hostname", f"test-{os.getpid()}@%h",
        "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=INFO",
    ]  # fmt: skip
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, text=True
        )

        def worker_log() -> str:
            log.seek(0)
            text: str = log.read()
            return text

        try:
            wait_for_worker(process, worker_log)
            yield worker_log
        finally:
            stop(process)


@pytest.fixture
def tasks_through_the_broker() -> Iterator[None]:
    conf = celery_app.conf
    saved = conf.task_always_eager
    conf.task_always_eager = False
    yield
    conf.task_always_eager = saved
