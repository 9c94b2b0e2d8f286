"""Fault tests on the real services: PostgreSQL (the test database), a private redis-server
that a test may stop, kill or restart (never the shared one), and Celery worker processes
that a test may kill -9. Each test prints its figures through the terminal reporter, so they
show without ``-s``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import redis
from django.conf import settings
from django.db import connection

from execution.services.venues import paper_reset
from tests.execution.tasks.test_celery_worker import ROOT, _test_database_url, wait_for_worker
from tradingsite.celery import app as celery_app

WORKER_APPLICATION = "faults-worker"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], Any], *, timeout: float, what: str, log: Callable[[], str] = str
) -> Any:
    """Poll ``condition`` until it returns something true; fail naming ``what`` (and showing
    ``log()``, a worker's say) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout:.0f} s\n{log()}")
        time.sleep(0.1)


class RedisServer:
    """A redis-server of the test's own on a free port, persisting like a production broker
    (append-only file), so a restart keeps the queued tasks."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_until(lambda: self._pings(client), timeout=20, what="redis-server start")

    @staticmethod
    def _pings(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): the append-only file is flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def restart(self) -> float:
        """Stop and start again; returns how long the broker was away, in seconds."""
        started = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - started


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        message = "the fault tests start their own redis-server, and none is installed"
        if getattr(settings, "REQUIRE_SERVICES", False):
            pytest.fail(message)
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="faults-redis-") as directory:
        server = RedisServer(Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.stop()


def use_broker(url: str, *, eager: bool = False) -> None:
    """Send this process's tasks to ``url`` (not run eagerly, as the test settings do)."""
    celery_app.conf.update(task_always_eager=eager, broker_url=url)
    # Drop the pooled connections to the previous broker (what Celery does after a fork).
    celery_app._after_fork()  # type: ignore[attr-defined]


@pytest.fixture
def through_broker(private_redis: RedisServer) -> Iterator[RedisServer]:
    """Tasks this process sends go to the private redis-server."""
    conf = celery_app.conf
    eager, url = conf.task_always_eager, conf.broker_url
    use_broker(private_redis.url())
    try:
        yield private_redis
    finally:
        use_broker(url, eager=eager)


@pytest.fixture(autouse=True)
def _clean_market() -> Iterator[None]:
    paper_reset()
    yield
    paper_reset()


class Worker:
    """A Celery worker process (tests.faults.worker: the project's worker with a paper BTC-USDT
    book of its own) in its own process group, so kill -9 takes it whole."""

    def __init__(self, name: str, broker_url: str, *, beat: bool = False) -> None:
        self.name = name
        self.broker_url = broker_url
        self.beat = beat
        self.log: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in stop)
        self.process: subprocess.Popen[str] | None = None
        self.schedule = Path(tempfile.gettempdir()) / f"faults-beat-{os.getpid()}-{name}"

    def start(self) -> Worker:
        command = [
            sys.executable, "-m", "tests.faults.worker", "--pool=solo", "-n", f"{self.name}@%h",
            "-Q", "execution,copy,celery", "--without-heartbeat", "--without-gossip",
            "--without-mingle", "--loglevel=INFO",
        ]  # fmt: skip
        if self.beat:
            command += ["-B", f"--schedule={self.schedule}"]
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tradingsite.settings.test",
            # Named, so a test can find (and terminate) the worker's database connections.
            "DATABASE_URL": f"{_test_database_url()}?application_name={WORKER_APPLICATION}",
            "REDIS_URL": self.broker_url,
        }
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True, text=True,
        )  # fmt: skip
        return self

    def wait_ready(self) -> None:
        assert self.process is not None
        wait_for_worker(self.process, self.text)

    def text(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def kill9(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()
        for path in self.schedule.parent.glob(self.schedule.name + "*"):
            path.unlink(missing_ok=True)


@pytest.fixture
def workers(private_redis: RedisServer) -> Iterator[Callable[..., Worker]]:
    """Start workers on the private broker: ``workers("a", beat=True)``; all stopped after."""
    started: list[Worker] = []

    def start(name: str, *, beat: bool = False) -> Worker:
        worker = Worker(name, private_redis.url(), beat=beat).start()
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


_FIGURES: list[str] = []


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Print a line of the test's figures, with or without ``-s`` (again at the end of the
    run, under "fault figures")."""
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    name = request.node.name

    def say(line: str) -> None:
        line = f"[{name}] {line}"
        _FIGURES.append(line)
        if reporter is None or capture is None:
            print(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(line)

    return say


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("fault figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


def terminate_worker_connections() -> int:
    """pg_terminate_backend on every connection the workers hold to this test's database;
    returns how many were terminated."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [WORKER_APPLICATION],
        )
        return int(cursor.fetchone()[0])
