"""The market replay's settings (MARKET_SOURCE, REPLAY_SPEED), each read in a fresh process:
`make run` replays at one bar a second, the speed knob is checked at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = """
import importlib, json, os
s = importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"])
print(json.dumps({"feed": s.MARKET_FEED, "source": s.MARKET_SOURCE, "speed": s.REPLAY_SPEED}))
"""


def read(module: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MARKET_FEED", "MARKET_SOURCE", "REPLAY_SPEED", "DJANGO_SETTINGS_MODULE")
    }
    env.update(variables, DJANGO_SETTINGS_MODULE=module)
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def values(module: str, **variables: str) -> dict[str, object]:
    result = read(module, **variables)
    assert result.returncode == 0, result.stderr
    shown: dict[str, object] = json.loads(result.stdout)
    return shown


def test_make_run_replays_the_package_history_at_one_bar_a_second():
    assert values("tradingsite.settings.local") == {
        "feed": "simulated",
        "source": "replay",
        "speed": 1.0,
    }
    assert values("tradingsite.settings.local", REPLAY_SPEED="2.5")["speed"] == 2.5
    assert values("tradingsite.settings.local", MARKET_SOURCE="walk")["source"] == "walk"
    # Elsewhere nothing runs a market unless asked, and a market asked for walks.
    assert values("tradingsite.settings.test") == {"feed": "off", "source": "walk", "speed": 1.0}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REPLAY_SPEED", "0"),
        ("REPLAY_SPEED", "-1"),
        ("REPLAY_SPEED", "fast"),
        ("REPLAY_SPEED", "nan"),
        ("REPLAY_SPEED", "101"),
        ("MARKET_SOURCE", "history"),
    ],
)
def test_a_bad_value_stops_start_up_with_its_name(variable, value):
    for module in ("tradingsite.settings.local", "tradingsite.settings.test"):
        result = read(module, **{variable: value})
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr and variable in result.stderr
