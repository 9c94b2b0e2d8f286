"""Buy and hold and mean reversion: no lookahead, one decision path, bad config refused by
name, and the z-score rules on hand-made closes."""

from __future__ import annotations

import numpy as np
import pytest

from execution.domain.errors import DomainError
from strategies.library import STRATEGY_KINDS, config_schema, parse_config
from strategies.library.buy_and_hold import BuyAndHold, BuyAndHoldConfig
from strategies.library.mean_reversion import MeanReversion, MeanReversionConfig, rolling_zscore
from strategies.library.settings import settings_to_dict
from tests.strategies.library.common import (
    assert_no_lookahead,
    assert_paths_agree,
    random_walk_bars,
)


def test_buy_and_hold_is_long_from_the_first_bar_and_agrees_live():
    bars = random_walk_bars(50)
    strategy = BuyAndHold(BuyAndHoldConfig(exposure=0.5))
    np.testing.assert_array_equal(strategy.target_positions(bars), np.full(50, 0.5))
    assert_no_lookahead(strategy, bars, (1, 2, 49))
    assert_paths_agree(strategy, bars, min_signals=1)


@pytest.mark.parametrize("long_only", [False, True])
def test_mean_reversion_has_no_lookahead_and_agrees_live(long_only):
    bars = random_walk_bars(1_500, seed=3)
    strategy = MeanReversion(MeanReversionConfig(window=15, entry_z=1.5, long_only=long_only))
    assert_no_lookahead(strategy, bars, (1, 14, 15, 16, 400, 1_499))
    assert_paths_agree(strategy, bars, min_signals=20)


def test_mean_reversion_enters_beyond_entry_z_and_exits_inside_exit_z():
    config = MeanReversionConfig(window=4, entry_z=1.5, exit_z=0.5)
    closes = np.array([10, 10, 10, 7, 9.9, 10, 10, 10, 13, 10.2, 10], dtype=np.float64)
    z = rolling_zscore(closes, 4)
    # the drop to 7 is z = -sqrt(3) < -1.5; 9.9 is z > -0.5; 13 is z = +sqrt(3)
    assert z[3] == pytest.approx(-np.sqrt(3))
    assert z[4] > -0.5
    assert z[8] == pytest.approx(np.sqrt(3))
    assert z[9] < 0.5
    bars = random_walk_bars(len(closes))
    bars = type(bars)(bars.starts, closes, closes, closes, closes, bars.volume)
    targets = MeanReversion(config).target_positions(bars)
    np.testing.assert_array_equal(targets, [0, 0, 0, 1, 0, 0, 0, 0, -1, 0, 0])


def test_a_flat_window_has_z_zero():
    assert rolling_zscore(np.full(5, 3.0), 3).tolist()[2:] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("config", "kwargs", "field"),
    [
        (BuyAndHoldConfig, {"exposure": 0}, "exposure"),
        (BuyAndHoldConfig, {"exposure": 1.5}, "exposure"),
        (BuyAndHoldConfig, {"exposure": "1"}, "exposure"),
        (MeanReversionConfig, {"window": 1}, "window"),
        (MeanReversionConfig, {"window": 2.0}, "window"),
        (MeanReversionConfig, {"entry_z": 0}, "entry_z"),
        (MeanReversionConfig, {"exit_z": -0.1}, "exit_z"),
        (MeanReversionConfig, {"exit_z": 2.0}, "exit_z"),
        (MeanReversionConfig, {"entry_z": float("nan")}, "entry_z"),
        (MeanReversionConfig, {"long_only": 1}, "long_only"),
    ],
)
def test_bad_config_is_refused_naming_the_field(config, kwargs, field):
    with pytest.raises(DomainError, match=field) as raised:
        config(**kwargs)
    assert raised.value.key == field


@pytest.mark.parametrize("kind", sorted(STRATEGY_KINDS))
def test_every_kind_round_trips_its_config_and_refuses_unknown_keys(kind):
    config = parse_config(kind, {})
    assert isinstance(config, STRATEGY_KINDS[kind][1])
    assert parse_config(kind, settings_to_dict(config)) == config
    assert set(config_schema(kind)["properties"]) == set(settings_to_dict(config))
    with pytest.raises(DomainError, match="no_such_setting"):
        parse_config(kind, {"no_such_setting": 1})
