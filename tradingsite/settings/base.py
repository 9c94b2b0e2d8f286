"""Settings shared by every environment, read from the environment.

With nothing set the project runs on embedded defaults (SQLite, the in-memory channel layer,
Celery tasks executed in-process). DATABASE_URL switches to PostgreSQL (psycopg 3), REDIS_URL
to channels-redis and the Redis Celery broker.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from tradingsite.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = env_str(name)
    if not raw:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: expected true or false")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_str(name)
    return [item.strip() for item in raw.split(",") if item.strip()] if raw else default


def env_int(name: str, default: int, *, minimum: int) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value}: must be at least {minimum}")
    return value


def env_json(name: str, default: dict[str, object]) -> dict[str, object]:
    raw = env_str(name)
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object of settings")
    return value


SECRET_KEY = env_str("SECRET_KEY")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",  # first: `runserver` then serves ASGI (websockets included)
    "accounts.apps.StaffAdminConfig",  # django.contrib.admin: staff only, with TOTP
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from this machine: no CDN
    "django_otp",
    "django_otp.plugins.otp_totp",
    "accounts",
    "channels",
    "django_celery_results",  # failed tasks, listed in the admin (CELERY_RESULT_BACKEND)
    "execution",
    "mlmodels",
    "strategies",
    "copytrading",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "tradingsite.limits.RequestSizeLimitMiddleware",  # 413 for a body over the upload limit
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified() for the admin
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Request bodies (forms and JSON) above this many bytes are refused with 413 (tradingsite.limits,
# execution.api.parsers); no request of this site needs more than a few kilobytes.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024, minimum=1024)

ROOT_URLCONF = "tradingsite.urls"
WSGI_APPLICATION = "tradingsite.wsgi.application"
ASGI_APPLICATION = "tradingsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tradingsite.navigation.navigation",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    # A connection pool, not persistent connections: under ASGI each request's sync code runs
    # on a new thread, and CONN_MAX_AGE would leave one open connection per thread behind
    # (measured: 16 clients exhausted PostgreSQL's 100). The pool needs CONN_MAX_AGE 0.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    # Server-side binding with prepared statements: PostgreSQL plans fill_record's statements
    # once per connection instead of on every fill (planning was most of their time). Set
    # DATABASE_PREPARE_THRESHOLD to an empty value behind a transaction-pooling PgBouncer.
    prepare_threshold = env_str("DATABASE_PREPARE_THRESHOLD", "5")
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True,
        prepare_threshold=int(prepare_threshold) if prepare_threshold else None,
        pool={
            "min_size": 1,
            "max_size": int(env_str("DATABASE_POOL_SIZE", "20")),
            "timeout": 10,  # seconds to wait for a free connection before an error
        },
    )
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        scheme = DATABASE_URL.split(":", 1)[0]  # never echo the rest: it may hold a password
        raise ImproperlyConfigured(
            f"DATABASE_URL must point at PostgreSQL (postgres://...), not {scheme}://"
        )
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(BASE_DIR / env_str("SQLITE_NAME", "db.sqlite3")),
            # Writers wait for each other instead of failing at once with "database is locked".
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- channels and celery ----------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")


def channel_layer_prefix(redis_url: str) -> str:
    """Redis pub/sub ignores the database number: deployments (or test runs) sharing a Redis
    server on different databases would push to each other's sockets (user groups are named by
    user id). The database number goes into the channel names; CHANNEL_LAYER_PREFIX overrides."""
    database = urlsplit(redis_url).path.strip("/") or "0"
    return env_str("CHANNEL_LAYER_PREFIX") or f"asgi{database}."


if REDIS_URL:
    CHANNEL_LAYERS = {
        # The pub/sub layer delivers to large groups far faster than the default one.
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": channel_layer_prefix(REDIS_URL)},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://localhost/"
    # No broker: tasks run in-process, right away, with their errors raised to the caller.
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is redelivered; tasks are idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Only failures are kept: no caller reads a task's return value, but a task that failed is
# listed in the admin with its name, arguments, exception and traceback.
# django-celery-results' backend, retrying a write whose database connection was lost
# (tradingsite.results): the stock one let that error stop the worker.
CELERY_RESULT_BACKEND = "tradingsite.results:DatabaseBackend"
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = 10
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_STORE_ERRORS_EVEN_IF_IGNORED = True
CELERY_RESULT_EXTENDED = True  # the task's name, arguments and worker with its failure
# Failures are kept 30 days: beat's daily celery.backend_cleanup deletes older ones.
CELERY_RESULT_EXPIRES = 60 * 60 * 24 * 30
# GET /health/ (tradingsite.health): how long the workers have to answer, and how long their
# answer is kept by each web process.
HEALTH_WORKER_TIMEOUT = float(env_str("HEALTH_WORKER_TIMEOUT", "1.0"))
HEALTH_CACHE_SECONDS = float(env_str("HEALTH_CACHE_SECONDS", "5"))
CELERY_BEAT_SCHEDULE = {
    # The daily loss limit counts from each account's equity at the start of the UTC day.
    "open-account-days": {
        "task": "execution.open_account_days",
        "schedule": crontab(minute=0, hour=0),
    },
    # Execution algorithms keep their next due time in the database; this wakes them.
    "run-due-parent-orders": {"task": "execution.run_due_parent_orders", "schedule": 1.0},
    # Live exchanges push nothing here: working live orders are asked for news. A poll still
    # queued when the next one is due is dropped, not run late.
    "poll-live-orders": {
        "task": "execution.poll_live_orders",
        "schedule": 2.0,
        "options": {"expires": 2.0},
    },
    # Orders, balances and positions of every live account against its exchange.
    "reconcile-live-accounts": {
        "task": "execution.reconcile_live_accounts",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # Orders saved whose submit task was lost (a worker died before sending) are sent, once.
    "submit-unsent-orders": {
        "task": "execution.submit_unsent_orders",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    # Outbox messages (a fill's news for copy trading and its parent order) that a broker
    # outage or a crash left unsent are published again; sent ones are kept a day.
    "relay-outbox": {
        "task": "execution.relay_outbox",
        "schedule": 2.0,
        "options": {"expires": 2.0},
    },
    "prune-outbox": {"task": "execution.prune_outbox", "schedule": crontab(minute=30)},
    # A signal whose evaluation committed but whose execution a crash cut off is carried out
    # (or expired, past its decay): the runner's safety net.
    "carry-out-pending-signals": {
        "task": "strategies.carry_out_pending_signals",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    # A halt that came due while an instrument's feed was quiet is written down.
    "advance-instrument-halts": {
        "task": "execution.advance_instrument_halts",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    # Copy trading: each subscription's equity at the start of the UTC day (the P&L series
    # and statistics), the copy stop loss between leader fills, and orphaned follower holdings.
    "copy-equity-snapshots": {
        "task": "copytrading.take_equity_snapshots",
        "schedule": crontab(minute=0, hour=0),
    },
    "check-copy-stop-losses": {
        "task": "copytrading.check_copy_stop_losses",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "report-copy-orphans": {
        "task": "copytrading.report_copy_orphans",
        "schedule": crontab(minute=15),
    },
    # Scheduled retraining: a new candidate of every active model each Sunday at 02:00 UTC, by
    # a features worker; activating it stays a person's decision, after its report.
    "retrain-active-models": {
        "task": "mlmodels.retrain_active_models",
        "schedule": crontab(minute=0, hour=2, day_of_week="sun"),
    },
}

# --- auth, i18n, static ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTHENTICATION_BACKENDS = ["accounts.backends.ThrottledModelBackend"]
# Sign-in throttling (accounts.backends), on the sign-in page, the admin and the token endpoint:
# after SIGN_IN_FAILURE_LIMIT failures for a username from one address within the cool-off,
# that username is refused from there until the cool-off ends; a success clears the count.
SIGN_IN_FAILURE_LIMIT = env_int("SIGN_IN_FAILURE_LIMIT", 5, minimum=1)
SIGN_IN_COOL_OFF_SECONDS = env_int("SIGN_IN_COOL_OFF_SECONDS", 15 * 60, minimum=1)
# API tokens (accounts, stored hashed): at most API_TOKENS_PER_USER named ones each; those
# that POST /api/v1/auth/token/ issues for a username and password expire after
# API_TOKEN_PASSWORD_DAYS, and only the newest API_TOKEN_PASSWORD_KEEP of them are kept.
API_TOKENS_PER_USER = env_int("API_TOKENS_PER_USER", 100, minimum=1)
API_TOKEN_PASSWORD_DAYS = env_int("API_TOKEN_PASSWORD_DAYS", 30, minimum=1)
API_TOKEN_PASSWORD_KEEP = env_int("API_TOKEN_PASSWORD_KEEP", 10, minimum=1)
# The admin asks staff for a TOTP code too (django-otp; `manage.py totp_enrol <user>`).
# `check --deploy` fails with it off.
ADMIN_REQUIRE_OTP = env_bool("ADMIN_REQUIRE_OTP", True)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Trading platform")  # the name in the phone's app

# Sessions end after SESSION_COOKIE_AGE seconds (12 hours), not Django's two weeks. Cookies are
# out of scripts' reach and not sent on cross-site subrequests; production.py marks them Secure.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 60 * 60, minimum=60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # no script reads it: forms and Swagger UI get the token rendered
CSRF_COOKIE_SAMESITE = "Lax"

# Headers on every response: no framing, no MIME sniffing, no referrer to other sites, a
# browsing context group of our own, and a Content-Security-Policy (django-csp): scripts and
# styles from this site only, inline ones only with the response's nonce; connect-src 'self'
# covers the site's own websocket. Plotly adds its rules to an empty <style> element it makes
# (allowed by the hash of empty text; rules added through the CSSOM are not inline code) and
# inlines one fixed stylesheet for map traces (allowed by its hash; a Plotly upgrade that
# changes it shows up as a violation in the browser tests).
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Browser features no page here uses, refused to the site and anything it might embed.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer", "camera", "display-capture", "geolocation", "gyroscope",
        "magnetometer", "microphone", "midi", "payment", "usb",
    )
}  # fmt: skip
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [
            SELF,
            NONCE,
            "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # empty text
            "'sha256-V2sIX92Uh6ZaGSFTKMHghsB85b9toJtmazgG09AI2uk='",  # plotly.min.js 3.x maps
        ],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- REST API ----------------------------------------------------------------------------------
# Requests per client: "N/second", "N/minute", "N/hour" or "N/day"; "off" switches a limit off.
# Counters live in the default cache, so each process counts its own requests.
API_THROTTLE_USER = env_str("API_THROTTLE_USER", "100/second")
API_THROTTLE_ANON = env_str("API_THROTTLE_ANON", "60/minute")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous caller gets 401 with "WWW-Authenticate: Token".
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "execution.api.parsers.DecimalJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["execution.api.filters.StrictFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "execution.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "execution.api.throttling.AnonThrottle",
        "execution.api.throttling.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": None if API_THROTTLE_ANON.lower() == "off" else API_THROTTLE_ANON,
        "user": None if API_THROTTLE_USER.lower() == "off" else API_THROTTLE_USER,
    },
    "EXCEPTION_HANDLER": "execution.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Trading platform API",
    "DESCRIPTION": (
        "Orders, positions, trades, performance and accounts of the authenticated user. "
        "Authenticate with `Authorization: Token <key>` (a token from POST /api/v1/auth/token/ "
        "with your username and password, POST /api/v1/auth/tokens/, the API tokens page or "
        "`manage.py api_token_create <user>`) or a session. "
        "Amounts are decimal strings. Every error has the same shape: `detail` (a sentence), "
        "`code`, `errors` (messages by field) and, for rule and risk refusals, `violations`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+/[a-z]+",
    "ENUM_NAME_OVERRIDES": {
        "OrderSideEnum": "execution.api.serializers.ORDER_SIDES",
        "PositionSideEnum": "execution.api.serializers.POSITION_SIDES",
        "ModelVersionStatusEnum": "mlmodels.api.serializers.MODEL_STATUSES",
        "TrainingRunStatusEnum": "mlmodels.api.serializers.TRAINING_STATUSES",
        "AccountModeEnum": "execution.models.AccountMode",
        "CopyModeEnum": "copytrading.api.serializers.COPY_MODES",
        "StrategyKindEnum": "strategies.api.serializers.KIND_NAMES",
        "CopyTradeKindEnum": "copytrading.models.CopyTradeKind",
        # Strategies and copy subscriptions share one lifecycle: active, paused, stopped.
        "LifecycleStatusEnum": "copytrading.models.SubscriptionStatus",
        "TokenSourceEnum": "accounts.models.TokenSource",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}


def logging_from_env(default_format: str) -> dict[str, object]:
    """LOGGING from LOG_FORMAT (text or json lines), LOG_LEVEL and LOG_AUDIT_LEVEL (the audit
    trail's lines, execution.audit); each line carries its trade's ids (tradingsite.logs)."""
    log_format = env_str("LOG_FORMAT", default_format)
    if log_format not in {"text", "json"}:
        raise ImproperlyConfigured(f"LOG_FORMAT={log_format!r}: expected text or json")
    return logging_config(
        json_lines=log_format == "json",
        level=env_str("LOG_LEVEL", "INFO"),
        audit_level=env_str("LOG_AUDIT_LEVEL", "INFO"),
    )


LOGGING = logging_from_env("text")

# --- trading ---------------------------------------------------------------------------------
# Paper venue fees and latency (the paper exchange is the default venue).
PAPER_MAKER_FEE_RATE = env_str("PAPER_MAKER_FEE_RATE", "0.0002")
PAPER_TAKER_FEE_RATE = env_str("PAPER_TAKER_FEE_RATE", "0.0005")
# Fernet keys that encrypt live accounts' exchange API keys at rest, comma-separated, newest
# first (execution.venues.credentials). Without one, live credentials can be neither stored
# nor read.
EXCHANGE_KEY_ENCRYPTION_KEYS = env_list("EXCHANGE_KEY_ENCRYPTION_KEYS", [])
# "simulated": the ASGI server runs a simulated L2 market for the paper exchange
# (execution.services.marketfeed); "off": books come from elsewhere (a feed, a backtest).
MARKET_FEED = env_str("MARKET_FEED", "off")
if MARKET_FEED not in {"off", "simulated"}:
    raise ImproperlyConfigured(f"MARKET_FEED={MARKET_FEED!r}: expected off or simulated")
# What the simulated market follows: "walk", a seeded random walk from each instrument's mark,
# or "replay", package history played forward (execution.services.replay) at REPLAY_SPEED
# bars a second (local.py's default: the demo's market).
MARKET_SOURCES = {"walk", "replay"}
MARKET_SOURCE = env_str("MARKET_SOURCE", "walk")
if MARKET_SOURCE not in MARKET_SOURCES:
    raise ImproperlyConfigured(f"MARKET_SOURCE={MARKET_SOURCE!r}: expected walk or replay")
try:
    REPLAY_SPEED = float(env_str("REPLAY_SPEED", "1"))
except ValueError:
    REPLAY_SPEED = float("nan")
if not 0 < REPLAY_SPEED <= 100:  # NaN fails too
    raise ImproperlyConfigured("REPLAY_SPEED: bars a second, above 0 and at most 100")

# The live strategy runner (strategies.runner): "inline" evaluates the strategies of a closed
# bar in the process that closed it, after commit (the embedded default); "celery" sends one
# task per bar to the queue of its instrument, strategies.bars.<n> with n < STRATEGY_RUNNER_QUEUES
# (production: one solo worker per queue keeps each instrument's bars in order).
STRATEGY_RUNNER = env_str("STRATEGY_RUNNER", "inline")
STRATEGY_RUNNER_QUEUES = env_int("STRATEGY_RUNNER_QUEUES", 1, minimum=1)


def strategy_runner_checked(value: str) -> str:
    if value not in {"inline", "celery"}:
        raise ImproperlyConfigured(f"STRATEGY_RUNNER={value!r}: expected inline or celery")
    return value


strategy_runner_checked(STRATEGY_RUNNER)

# Urgency thresholds and circuit breakers (execution.domain.urgency.UrgencyConfig and
# execution.domain.breakers.BreakerConfig): JSON objects of the settings to change, e.g.
# EXECUTION_BREAKERS='{"halt_after": 90, "max_overrides": 3}' (durations in seconds). Checked at
# start-up.
EXECUTION_URGENCY = env_json("EXECUTION_URGENCY", {})
EXECUTION_BREAKERS = env_json("EXECUTION_BREAKERS", {})

# --- models ------------------------------------------------------------------------------------
# A model version is expired (GET /api/v1/ml/models/{id}/drift/) once its training data ended
# more than this many days ago; drift compares its training window with this many recent bars.
ML_MODEL_MAX_AGE_DAYS = env_int("ML_MODEL_MAX_AGE_DAYS", 30, minimum=1)
ML_DRIFT_RECENT_BARS = env_int("ML_DRIFT_RECENT_BARS", 500, minimum=50)
