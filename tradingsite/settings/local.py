"""Development on one machine: `make run`."""

from django.core.exceptions import ImproperlyConfigured

from tradingsite.settings.base import *  # noqa: F403
from tradingsite.settings.base import env_bool, env_str

DEBUG = env_bool("DEBUG", True)
# A fixed key is fine for a laptop and never used in production (production.py requires one).
SECRET_KEY = env_str("SECRET_KEY", "django-insecure-local-development-only")
# The demo's staff sign into the admin with a password alone here; production asks for a TOTP
# code too (base.py; `check --deploy` fails without it). ADMIN_REQUIRE_OTP=true tries it out.
ADMIN_REQUIRE_OTP = env_bool("ADMIN_REQUIRE_OTP", False)
# make run: the L2 simulator drives the paper exchange in the server's process (MARKET_FEED=off
# to stop it), following the package history the demo loaded, replayed at REPLAY_SPEED bars a
# second (MARKET_SOURCE=walk: a random walk from each mark instead).
MARKET_FEED = env_str("MARKET_FEED", "simulated")
MARKET_SOURCE = env_str("MARKET_SOURCE", "replay")
if MARKET_SOURCE not in MARKET_SOURCES:  # noqa: F405
    raise ImproperlyConfigured(f"MARKET_SOURCE={MARKET_SOURCE!r}: expected walk or replay")
