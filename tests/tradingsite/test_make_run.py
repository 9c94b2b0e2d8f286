"""`make run` end to end, as a newcomer runs it: migrate, demo_load and the server (daphne's
runserver with the local settings: embedded SQLite, the market replay at its default speed) as
subprocesses on a scratch database. Signed in over HTTP, the leader's and a follower's P&L on
/overview/state.json must move within a minute of the server's start, and Ctrl-C must stop
the server cleanly, the replayed bars stored."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tradingsite import demo

ROOT = Path(__file__).resolve().parents[2]
WITHIN = 60.0  # seconds from the server's start


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.pop("REPLAY_SPEED", None)  # the default speed
    env.pop("MARKET_SOURCE", None)
    env.pop("MARKET_FEED", None)
    return env | {
        "DJANGO_SETTINGS_MODULE": "tradingsite.settings.local",
        "SQLITE_NAME": str(database),
    }


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class Session:
    """A signed-in browser's cookies, over plain HTTP."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        login = f"{base}/accounts/login/"
        page = self.opener.open(login, timeout=30).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token is not None
        form = {"username": username, "password": password, "csrfmiddlewaretoken": token[1]}
        request = urllib.request.Request(
            login, data=urllib.parse.urlencode(form).encode(), headers={"Referer": login}
        )
        self.opener.open(request, timeout=30).read()

    def equity(self) -> str:
        state = json.loads(self.opener.open(f"{self.base}/overview/state.json", timeout=30).read())
        return str(state["accounts"][0]["equity"])


def _wait_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            urllib.request.urlopen(f"{base}/accounts/login/", timeout=5).read()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    raise AssertionError(f"the server did not answer within 60 s:\n{log.read_text()}")


def test_make_run_shows_live_pnl_within_a_minute_and_ctrl_c_stops_it(tmp_path):
    database = tmp_path / "run.sqlite3"
    env = _env(database)
    _manage(env, "migrate", "--noinput")
    _manage(env, "demo_load")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            # As a terminal's Ctrl-C would reach it (a background job ignores SIGINT).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
    started = time.monotonic()
    try:
        _wait_up(base, server, log)
        sessions = {
            demo.LEADER: Session(base, demo.LEADER, demo.LEADER_PASSWORD),
            **{name: Session(base, name, demo.FOLLOWER_PASSWORD) for name in demo.FOLLOWERS},
        }
        first = {name: session.equity() for name, session in sessions.items()}
        moved: set[str] = set()
        while time.monotonic() - started < WITHIN and not (
            demo.LEADER in moved and moved & set(demo.FOLLOWERS)
        ):
            time.sleep(2)
            moved |= {name for name, s in sessions.items() if s.equity() != first[name]}
        assert demo.LEADER in moved, f"the leader's equity stayed {first[demo.LEADER]}"
        assert moved & set(demo.FOLLOWERS), f"no follower's equity moved from {first}"

        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    output = log.read_text()
    assert "Traceback" not in output, output
    with sqlite3.connect(database) as db:
        (candles,) = db.execute("SELECT COUNT(*) FROM execution_candle").fetchone()
        (books,) = db.execute("SELECT COUNT(*) FROM execution_booksnapshot").fetchone()
    history = demo.HISTORY_BARS * 4
    assert candles > history and books == candles  # bars replayed, each with its closing book
