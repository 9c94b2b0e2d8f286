"""The test suite: SQLite unless DATABASE_URL points at PostgreSQL (CI does)."""

from tradingsite.settings.base import *  # noqa: F403
from tradingsite.settings.base import DATABASES, env_bool, env_str

DEBUG = False
SECRET_KEY = "test-only-secret-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user creation
# Admin tests sign staff in with force_login; tests/security/test_admin_otp.py switches the
# TOTP requirement (on by default, and in production) back on, and its browser test
# starts a server with ADMIN_REQUIRE_OTP=true.
ADMIN_REQUIRE_OTP = env_bool("ADMIN_REQUIRE_OTP", False)

# CI sets this: a test that needs PostgreSQL or Redis fails instead of skipping.
REQUIRE_SERVICES = env_bool("REQUIRE_SERVICES", False)

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: threads, subprocesses and servers in tests must see the same rows.
    DATABASES["default"]["TEST"] = {"NAME": env_str("SQLITE_TEST_NAME", "test-db.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", "test_tradingsite")}

# Tests run tasks in-process even when REDIS_URL names a real broker; the test that drives a
# real worker process switches this off for itself.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
