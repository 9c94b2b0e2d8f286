"""settings.production with the documented environment (.env.example): `manage.py check
--deploy` has nothing to say, and what production refuses to start without."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def documented_environment() -> dict[str, str]:
    """.env.example's variables, with a real secret key in place of its placeholder."""
    env: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    env["SECRET_KEY"] = secrets.token_urlsafe(64)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_check_deploy_reports_nothing_with_the_documented_environment():
    env = documented_environment()
    assert env["DJANGO_SETTINGS_MODULE"] == "tradingsite.settings.production"

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr + result.stdout


def test_production_refuses_a_short_or_insecure_secret_key_and_missing_hosts():
    env = documented_environment()

    short = manage("check", env={**env, "SECRET_KEY": "too-short"})
    assert short.returncode != 0 and "SECRET_KEY must be a long random value" in short.stderr

    no_hosts = manage("check", env={**env, "ALLOWED_HOSTS": ""})
    assert no_hosts.returncode != 0 and "ALLOWED_HOSTS must name" in no_hosts.stderr


def test_production_logs_json_lines_and_serves_static_files_from_each_web_node():
    env = documented_environment()
    probe = (
        "from django.conf import settings; "
        "print(settings.LOGGING['formatters']['default']['()']); "
        "print(settings.MIDDLEWARE[1]); "
        "print(settings.STORAGES['staticfiles']['BACKEND'])"
    )

    result = manage("shell", "--no-imports", "-c", probe, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "tradingsite.logs.JsonLineFormatter",
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "whitenoise.storage.CompressedManifestStaticFilesStorage",
    ]
