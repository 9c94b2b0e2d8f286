"""Browser test harness: a real ASGI server (daphne) and Debian's Chromium driven by Playwright.

- ``asgi_server``: daphne (``manage.py runserver`` with daphne installed, static files served)
  in a subprocess on a free port, against this run's test database and, when REDIS_URL is set,
  the Redis channel layer, so a push committed in the test process reaches the server's
  consumers. ``restart()`` kills it and starts it again on the same port.
- ``browser`` / ``browser_page``: Chromium (one per test module) and a fresh context and page.
  A page that reports a Content-Security-Policy violation in its console fails the test.
- ``sign_in(page, user)`` and ``screenshot(page, name)`` (desktop 1280x800 and phone 390x844
  PNGs under test-artifacts/screenshots/).

Tests using these need ``@pytest.mark.django_db(transaction=True)``: the server is another
process and only sees committed rows.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
START_TIMEOUT = 60.0


def _unavailable(reason: str) -> None:
    if getattr(settings, "REQUIRE_SERVICES", False):
        pytest.fail(f"REQUIRE_SERVICES is set but browser tests cannot run: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AsgiServer:
    """The site served by daphne in a subprocess; ``url`` is its base URL."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = env
        self._process: subprocess.Popen[bytes] | None = None
        self._log = ROOT / "test-artifacts" / f"asgi-server-{self.port}.log"

    def start(self) -> None:
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "runserver",
                    "--noreload",
                    "--insecure",  # static files, with DEBUG off as in production
                    "--skip-checks",
                    f"127.0.0.1:{self.port}",
                ],
                cwd=ROOT,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the ASGI server exited; see {self._log}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the ASGI server did not answer in {START_TIMEOUT:.0f} s: {self._log}")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.kill()  # a crash, not a polite shutdown: what the page must survive
        self._process.wait(timeout=10)
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env["DJANGO_SETTINGS_MODULE"] = "tradingsite.settings.test"
    env["MARKET_FEED"] = "off"  # prices move only when a test moves them
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        env["SQLITE_NAME"] = str(Path(db["NAME"]).resolve())
    else:
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        env["DATABASE_URL"] = (
            f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    return env


@pytest.fixture(scope="session")
def asgi_server(django_db_setup: None, django_db_blocker: Any) -> Iterator[AsgiServer]:
    with django_db_blocker.unblock():
        env = _server_env()  # the test database's name is known once it is set up
    server = AsgiServer(env)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Playwright's sync API keeps an event loop running in this
    thread, and Django refuses sync ORM calls while one runs: allowed for browser tests only,
    while Playwright runs (the server's environment never has it)."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"needs Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("needs the playwright package (pip install -e '.[dev]')")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def new_page(browser: Any, asgi_server: AsgiServer) -> Iterator[Any]:
    """A factory of pages, each in its own browser context (its own cookies: its own user)."""
    contexts = []
    violations: list[str] = []

    def make() -> Any:
        context = browser.new_context(base_url=asgi_server.url, viewport=DESKTOP)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.add_init_script(_REPORT_VIOLATIONS)
        page.on("console", lambda message: _csp_violation(message, page, violations))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not violations, "the Content-Security-Policy refused:\n" + "\n".join(violations)


# What was blocked and by which line, which Chromium's own console message leaves out.
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => console.error(
  `Content Security Policy: ${e.effectiveDirective} blocked ${e.blockedURI} ` +
  `"${e.sample}" at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber}`));
"""


def _csp_violation(message: Any, page: Any, violations: list[str]) -> None:
    """Chromium reports whatever the CSP blocks (inline code without the nonce, eval, a
    foreign source) as a console error."""
    if "Content Security Policy" in message.text:
        violations.append(f"{page.url}: {message.text}")


@pytest.fixture
def browser_page(new_page: Any) -> Any:
    return new_page()


def sign_in(page: Any, user: Any, password: str | None = None) -> None:
    """Signs ``user`` in through the sign-in form (tests.factories gives "pw-<username>")."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(password or f"pw-{user.get_username()}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def screenshot(page: Any, name: str) -> list[Path]:
    """Full-page PNGs of ``page`` at desktop and phone width; the viewport is restored."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size or DESKTOP
    paths = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(150)  # charts and wrapped layouts settle after a resize
        path = SCREENSHOTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.set_viewport_size(original)
    return paths
