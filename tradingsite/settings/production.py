"""Production: every secret and host comes from the environment; nothing insecure by default."""

from django.core.exceptions import ImproperlyConfigured

from tradingsite.settings.base import *  # noqa: F403
from tradingsite.settings.base import (
    DATABASE_URL,
    REDIS_URL,
    SECRET_KEY,
    env_bool,
    env_str,
    strategy_runner_checked,
)

DEBUG = False
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in production")
if not DATABASE_URL or not REDIS_URL:
    raise ImproperlyConfigured("production needs DATABASE_URL (PostgreSQL) and REDIS_URL")

# Strategies run in Celery workers here, one task per closed bar (STRATEGY_RUNNER in base).
STRATEGY_RUNNER = strategy_runner_checked(env_str("STRATEGY_RUNNER", "celery"))

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 30
SECURE_CONTENT_TYPE_NOSNIFF = True
