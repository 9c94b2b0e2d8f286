"""Algorithm parameters: one registry, defaults, clear errors naming the bad field, and a
plain (JSON) form that builds the same algorithm again."""

import json
from datetime import timedelta
from decimal import Decimal as D

import pytest

from execution.domain.algos import (
    Iceberg,
    InvalidAlgoConfig,
    LimitWithTimeout,
    Market,
    Pov,
    Twap,
    Vwap,
    algorithm_from_config,
)
from execution.domain.errors import DomainError, RuleViolation
from execution.domain.values import Side
from tests.execution.domain.algos.helpers import SPEC, start, view

VALID = {
    "market": {},
    "limit": {"timeout": 60, "fallback_to_market": True, "price": "99.5"},
    "twap": {"duration": "3600", "num_slices": 3, "use_limit_orders": True},
    "iceberg": {"visible_pct": "0.2", "max_refresh_time": "30", "min_visible_size": "0.05"},
    "vwap": {"duration": 3600, "profile": ["3", "1", "1", "3"], "slices_per_bucket": 2},
    "pov": {"participation_rate": "0.1", "max_participation_rate": "0.2"},
}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_kind_builds_and_its_plain_form_builds_it_again(kind):
    algo = algorithm_from_config(kind, VALID[kind])
    assert algo.kind == kind
    plain = json.loads(json.dumps(algo.params()))
    assert algorithm_from_config(kind, plain) == algo


def test_defaults_and_parsed_types():
    twap = algorithm_from_config("twap", {"duration": "0.5"})
    assert twap == Twap(duration=timedelta(milliseconds=500))
    assert twap.num_slices == 10 and twap.use_limit_orders is False
    assert twap.finish_with_market is True and twap.max_child_slippage_bps == D(50)
    assert algorithm_from_config("market", {}) == Market()
    assert Iceberg().visible_pct == D("0.1") and Iceberg().max_refresh_time == timedelta(minutes=1)
    assert LimitWithTimeout(timeout=timedelta(seconds=5)).fallback_to_market is False
    assert Pov(participation_rate=D("0.1")).cap == D("0.1")
    assert Vwap(duration=timedelta(hours=1), profile=("1", 2)).profile == (D(1), D(2))


@pytest.mark.parametrize(
    ("kind", "params", "field", "message"),
    [
        (
            "twap",
            {"duration": 60, "num_slices": 0},
            "num_slices",
            "num_slices must be at least 1, got 0",
        ),
        ("twap", {"duration": 0}, "duration", "duration must be positive"),
        ("twap", {"duration": 60, "num_slices": "3.5"}, "num_slices", "must be a whole number"),
        (
            "twap",
            {"duration": 60, "price_offset_pct": "1"},
            "price_offset_pct",
            r"in \[0, 1\), got 1",
        ),
        ("twap", {"duration": 60, "use_limit_orders": "yes"}, "use_limit_orders", "true or false"),
        ("twap", {"duration": 1.5}, "duration", "not float"),
        ("twap", {"duration": "0.0000001"}, "duration", "whole number of microseconds"),
        (
            "iceberg",
            {"visible_pct": "1.5"},
            "visible_pct",
            r"visible_pct must be in \(0, 1\], got 1.5",
        ),
        ("iceberg", {"visible_pct": "0"}, "visible_pct", r"in \(0, 1\]"),
        ("iceberg", {"max_refresh_time": -1}, "max_refresh_time", "must be positive"),
        ("iceberg", {"min_visible_size": "-1"}, "min_visible_size", "must not be negative"),
        ("limit", {"timeout": 0}, "timeout", "timeout must be positive"),
        ("limit", {"timeout": 5, "price": "0"}, "price", "price must be greater than zero"),
        ("vwap", {"duration": 60, "profile": []}, "profile", "at least one weight"),
        ("vwap", {"duration": 60, "profile": ["1", "-1"]}, "profile", "-1 for bucket 1"),
        ("vwap", {"duration": 60, "profile": ["0", "0"]}, "profile", "must not all be zero"),
        ("vwap", {"duration": 60, "profile": "1,2"}, "profile", "must be a list of weights"),
        ("vwap", {"duration": 60, "profile": ["1", "x"]}, "profile[1]", "'x' is not a number"),
        ("pov", {"participation_rate": "0"}, "participation_rate", r"in \(0, 1\], got 0"),
        (
            "pov",
            {"participation_rate": "0.2", "max_participation_rate": "0.1"},
            "max_participation_rate",
            r"in \[participation_rate 0.2, 1\], got 0.1",
        ),
        (
            "pov",
            {"participation_rate": "0.1", "min_child_size": "-1"},
            "min_child_size",
            "negative",
        ),
        ("market", {"max_child_slippage_bps": "-1"}, "max_child_slippage_bps", ">= 0, got -1"),
    ],
)
def test_bad_parameters_are_named(kind, params, field, message):
    with pytest.raises(InvalidAlgoConfig, match=message) as caught:
        algorithm_from_config(kind, params)
    assert caught.value.field == field


def test_unknown_kinds_and_parameters_and_missing_ones_are_refused_by_name():
    with pytest.raises(InvalidAlgoConfig, match="unknown algorithm 'sniper'; known: iceberg, "):
        algorithm_from_config("sniper", {})
    with pytest.raises(InvalidAlgoConfig, match="twap takes no parameter 'slices', 'speed'") as e:
        algorithm_from_config("twap", {"duration": 60, "slices": 3, "speed": 1})
    assert e.value.field == "slices"
    with pytest.raises(InvalidAlgoConfig, match="pov needs 'participation_rate'"):
        algorithm_from_config("pov", {})


def test_direct_construction_validates_too():
    with pytest.raises(InvalidAlgoConfig, match="num_slices must be at least 1"):
        Twap(duration=timedelta(minutes=1), num_slices=0)


def test_parent_ids_quantities_and_fixed_prices_are_checked_against_the_instrument():
    with pytest.raises(DomainError, match="1 to 20 letters and digits"):
        Market().start(
            parent_id="p-1",
            spec=SPEC,
            side=Side.BUY,
            quantity=D(1),
            now=view().timestamp,
            market=view(),
        )
    with pytest.raises(RuleViolation, match="not a multiple of BTCUSDT's lot size"):
        start(Market(), quantity="0.0005")
    with pytest.raises(RuleViolation, match="not a multiple of BTCUSDT's tick size"):
        start(LimitWithTimeout(timeout=timedelta(seconds=5), price=D("99.95")))
