"""What the settings modules build from the environment, each imported in a fresh process."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Every variable the settings read: a case sets only what it names.
SETTINGS_VARIABLES = {
    "DATABASE_URL",
    "DATABASE_PREPARE_THRESHOLD",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SQLITE_NAME",
    "SQLITE_TEST_NAME",
    "TEST_DATABASE_NAME",
    "REQUIRE_SERVICES",
    "SECURE_SSL_REDIRECT",
    "LOG_LEVEL",
    "PAPER_MAKER_FEE_RATE",
    "PAPER_TAKER_FEE_RATE",
    "API_THROTTLE_USER",
    "API_THROTTLE_ANON",
    "CHANNEL_LAYER_PREFIX",
    "DJANGO_SETTINGS_MODULE",
}

SHOW = """
import importlib, json, os
s = importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"])
db = s.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"],
    "name": str(db["NAME"]),
    "host": db.get("HOST"),
    "options": db.get("OPTIONS", {}),
    "conn_max_age": db.get("CONN_MAX_AGE"),
    "layer": s.CHANNEL_LAYERS["default"],
    "broker": s.CELERY_BROKER_URL,
    "eager": s.CELERY_TASK_ALWAYS_EAGER,
    "debug": s.DEBUG,
}))
"""


def run(module="tradingsite.settings.local", **variables):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env.update(variables, DJANGO_SETTINGS_MODULE=module)
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def settings_for(**kw):
    result = run(**kw)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refusal(**kw):
    result = run(**kw)
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_with_nothing_set_everything_is_embedded():
    s = settings_for()
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["name"] == str(ROOT / "db.sqlite3")
    assert s["layer"] == {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    assert s["eager"] is True and s["broker"].startswith("memory://")
    assert s["debug"] is True  # local development


def test_database_url_selects_postgresql_with_server_side_binding():
    s = settings_for(DATABASE_URL="postgres://trader:pw@db.internal:5433/trading")
    assert s["engine"] == "django.db.backends.postgresql"
    assert (s["name"], s["host"]) == ("trading", "db.internal")
    assert s["options"] == {
        "server_side_binding": True,
        "prepare_threshold": 5,
        "pool": {"min_size": 1, "max_size": 20, "timeout": 10},
    }
    assert s["conn_max_age"] == 0  # the pool, not persistent connections (they leak under ASGI)


def test_the_pool_size_and_prepared_statements_are_settings():
    s = settings_for(
        DATABASE_URL="postgres://db.internal/trading",
        DATABASE_POOL_SIZE="50",
        DATABASE_PREPARE_THRESHOLD="",
    )
    assert s["options"]["pool"]["max_size"] == 50 and s["options"]["prepare_threshold"] is None


def test_redis_url_selects_the_redis_pubsub_layer_and_broker():
    url = "redis://cache.internal:6379/2"
    s = settings_for(REDIS_URL=url)
    assert s["layer"] == {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [url], "prefix": "asgi2."},
    }
    assert s["broker"] == url and s["eager"] is False


def test_deployments_on_one_redis_server_never_share_websocket_channels():
    # Redis pub/sub ignores the database number: the number goes into the channel names.
    prefixes = {
        settings_for(REDIS_URL=url)["layer"]["CONFIG"]["prefix"]
        for url in ("redis://r:6379/0", "redis://r:6379/4", "redis://r:6379")
    }
    assert prefixes == {"asgi0.", "asgi4."}
    named = settings_for(REDIS_URL="redis://r:6379/4", CHANNEL_LAYER_PREFIX="blue.")
    assert named["layer"]["CONFIG"]["prefix"] == "blue."


def test_a_database_url_that_is_not_postgresql_is_refused():
    message = refusal(DATABASE_URL="mysql://root:s3cret@db.internal/trading")
    assert "DATABASE_URL must point at PostgreSQL" in message
    assert "mysql://" in message and "s3cret" not in message  # never echo a password


def test_production_refuses_to_start_without_a_secret_key():
    message = refusal(
        module="tradingsite.settings.production",
        DATABASE_URL="postgres://trader@db.internal/trading",
        REDIS_URL="redis://cache.internal:6379/0",
    )
    assert "SECRET_KEY must be set in production" in message


def test_a_boolean_that_is_not_one_names_the_variable():
    message = refusal(DEBUG="maybe")
    assert "DEBUG='maybe': expected true or false" in message
