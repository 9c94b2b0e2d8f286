"""Development on one machine: `make run`."""

from tradingsite.settings.base import *  # noqa: F403
from tradingsite.settings.base import env_bool, env_str

DEBUG = env_bool("DEBUG", True)
# A fixed key is fine for a laptop and never used in production (production.py requires one).
SECRET_KEY = env_str("SECRET_KEY", "django-insecure-local-development-only")
# The demo's staff sign into the admin with a password alone here; production asks for a TOTP
# code too (base.py; `check --deploy` fails without it). ADMIN_REQUIRE_OTP=true tries it out.
ADMIN_REQUIRE_OTP = env_bool("ADMIN_REQUIRE_OTP", False)
# make run: books move in real time for the paper exchange (MARKET_FEED=off to stop it).
MARKET_FEED = env_str("MARKET_FEED", "simulated")
