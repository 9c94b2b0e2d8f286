"""Production: every secret and host comes from the environment; nothing insecure by default.

`manage.py check --deploy` passes with no warning given the environment documented in
.env.example and docs/DEPLOYMENT.md: behind a TLS proxy that sets X-Forwarded-Proto, HTTPS
only (redirects, HSTS with subdomains and preload, secure cookies), static files served by
each web node (WhiteNoise, compressed and fingerprinted by `collectstatic`), JSON log lines.
"""

from django.core.exceptions import ImproperlyConfigured

from tradingsite.settings.base import *  # noqa: F403
from tradingsite.settings.base import (
    DATABASE_URL,
    MIDDLEWARE,
    REDIS_URL,
    SECRET_KEY,
    env_bool,
    env_int,
    env_str,
    logging_from_env,
    strategy_runner_checked,
)

DEBUG = False
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in production")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured(
        "SECRET_KEY must be a long random value (50+ characters), e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(64))'`"
    )
if not DATABASE_URL or not REDIS_URL:
    raise ImproperlyConfigured("production needs DATABASE_URL (PostgreSQL) and REDIS_URL")
if not env_str("ALLOWED_HOSTS"):
    raise ImproperlyConfigured("ALLOWED_HOSTS must name the site's host names in production")

# Strategies run in Celery workers here, one task per closed bar (STRATEGY_RUNNER in base).
STRATEGY_RUNNER = strategy_runner_checked(env_str("STRATEGY_RUNNER", "celery"))

# TLS ends at the proxy in front of the web nodes, which must set X-Forwarded-Proto (and
# overwrite one sent by a client).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# The load balancer's health checks come over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# HSTS: a year, subdomains included, eligible for the browsers' preload list. Start a new
# domain lower (SECURE_HSTS_SECONDS=300) until HTTPS works everywhere on it.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True

# Static files from every web node, no shared volume: WhiteNoise right after the security
# middleware serves what `collectstatic` gathered (fingerprinted names, gzip and brotli copies,
# cached for a year).
_after_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
MIDDLEWARE = [
    *MIDDLEWARE[:_after_security],
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[_after_security:],
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGGING = logging_from_env("json")
