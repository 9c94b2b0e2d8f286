# Two commands for a newcomer: `make run` and `make test`. Everything installs from this
# repository's own files into .venv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench install install-dev migrate demo clean chromium security

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs Python 3.11 as '$(PYTHON)' (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	@echo "installing the project and its dependencies into $(VENV) (a few minutes the first time)"
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py demo_load --url http://$(HOST):$(PORT)/

# The market replay's speed in bars a second (make run REPLAY_SPEED=5).
REPLAY_SPEED ?= 1

run: demo
	@echo
	@echo "  Trading platform: http://$(HOST):$(PORT)/   admin: http://$(HOST):$(PORT)/admin/"
	@echo "  Demo logins: 'demo' / 'demo-trader' (the leader), 'follower1' and 'follower2' / 'demo-follower'"
	@echo "  Market: package history replayed, REPLAY_SPEED=$(REPLAY_SPEED) bars a second (make run REPLAY_SPEED=5 for faster)."
	@echo "  The console shows the audit trail (signals, orders, fills); LOG_LEVEL=INFO make run shows every log line."
	@echo "  Ctrl-C stops everything; make run again resumes the market where it stopped."
	@echo
	REPLAY_SPEED=$(REPLAY_SPEED) LOG_LEVEL=$${LOG_LEVEL:-WARNING} $(PY) manage.py runserver $(HOST):$(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	DJANGO_SETTINGS_MODULE=tradingsite.settings.test $(PY) manage.py makemigrations --check --dry-run >/dev/null || { echo 'models changed without a migration: run manage.py makemigrations'; exit 1; }

# The browser tests drive Debian's Chromium through Playwright (Playwright's own browser download
# needs the internet): installed here when missing, quietly.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }; }

# The static security checks alone, with their counts (`make test` runs them too):
# bandit (no medium or high finding) and pip-audit (skipped, saying why, where no
# vulnerability data is reachable).
security: install-dev
	$(BIN)/pytest tests/security/test_static_checks.py -rs

test: install-dev lint chromium
	$(BIN)/pytest

# The issue's figures are on PostgreSQL and Redis: use the local ones unless told otherwise.
bench: install-dev
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	TEST_DATABASE_NAME=$${TEST_DATABASE_NAME:-bench_tradingsite} $(PY) -m bench

clean:
	rm -rf $(VENV) db.sqlite3 test-db.sqlite3 .mypy_cache .ruff_cache .hypothesis
