"""The catalogue: enough named, documented features in the four groups, and a fingerprint."""

from collections import Counter

import pytest

from execution.domain.urgency import InvalidConfig
from mlmodels.features import (
    FeatureConfig,
    FeatureGroup,
    catalogue,
    catalogue_hash,
)
from mlmodels.features.inputs import INPUT_BUNDLES


def test_at_least_60_features_with_unique_names_in_all_four_groups():
    specs = catalogue()
    names = [spec.name for spec in specs]
    assert len(names) >= 60
    assert len(set(names)) == len(names)
    groups = Counter(spec.group for spec in specs)
    assert set(groups) == set(FeatureGroup)
    assert all(count >= 10 for count in groups.values())


def test_features_are_listed_group_by_group():
    order = list(FeatureGroup)
    indices = [order.index(spec.group) for spec in catalogue()]
    assert indices == sorted(indices)


def test_every_feature_is_documented():
    for spec in catalogue():
        assert spec.name.isidentifier() and spec.name == spec.name.lower()
        assert len(spec.description) > 10
        assert spec.inputs and set(spec.inputs) <= set(INPUT_BUNDLES)
        assert spec.warm_up >= 0
        assert spec.as_dict()["group"] == spec.group.value


def test_issue_named_features_are_present():
    names = {spec.name for spec in catalogue()}
    assert {
        "buy_volume",
        "sell_volume",
        "net_flow",
        "flow_imbalance",
        "large_net_flow",
        "small_net_flow",
        "bid_ask_ratio_l1",
        "ofi_normalized_1m",
        "ofi_weighted_30s",
        "spread",
        "relative_spread",
        "bid_depth_l1",
        "order_imbalance_l1",
        "pressure_imbalance_weighted",
        "book_resilience",
        "volume_concentration",
        "spread_stability_norm_100",
        "vpin_50",
        "book_imbalance_momentum_5",
        "return_1",
        "sma_ratio_20",
        "ema_ratio_12",
        "rsi_14",
        "macd_12_26",
        "bollinger_position_20",
        "atr_14",
        "realized_volatility_20",
        "volume_surge_20",
        "momentum_ratio_5_20",
        "rsi_overbought_14",
        "rsi_oversold_14",
        "bollinger_upper_ratio_20",
        "trend_score",
        "liquidity_score",
    } <= names


def test_names_follow_the_configured_windows():
    names = {spec.name for spec in catalogue(FeatureConfig(return_lags=(2, 3), rsi_period=7))}
    assert {"return_2", "return_3", "rsi_7", "rsi_overbought_7"} <= names
    assert "return_5" not in names


def test_catalogue_hash_is_stable_and_follows_the_definitions():
    assert catalogue_hash() == catalogue_hash(FeatureConfig())
    assert len(catalogue_hash()) == 64
    assert catalogue_hash() != catalogue_hash(FeatureConfig(large_order_threshold=2.0))
    assert catalogue_hash() != catalogue_hash(FeatureConfig(return_lags=(1, 5)))


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"rsi_period": 1}, "rsi_period"),
        ({"rsi_period": 14.0}, "rsi_period"),
        ({"return_lags": (5, 1)}, "return_lags"),
        ({"return_lags": ()}, "return_lags"),
        ({"sma_windows": (5, 5)}, "sma_windows"),
        ({"bollinger_width": 0.0}, "bollinger_width"),
        ({"rsi_overbought": 120.0}, "rsi_overbought"),
        ({"large_order_threshold": float("nan")}, "large_order_threshold"),
        ({"macd_fast": 30}, "macd_fast"),
        ({"concentration_levels": 6}, "concentration_levels"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(settings, key):
    with pytest.raises(InvalidConfig) as error:
        FeatureConfig.from_dict(settings)
    assert error.value.key == key
    assert key in str(error.value)


def test_config_round_trips_through_plain_values():
    config = FeatureConfig(return_lags=(1, 3), pressure_decay_bps=5)
    assert FeatureConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["return_lags"] == [1, 3]


def test_config_schema_describes_every_setting_with_its_default():
    schema = FeatureConfig.schema()
    defaults = FeatureConfig().to_dict()
    assert set(schema["properties"]) == set(defaults)
    for name, entry in schema["properties"].items():
        assert entry["default"] == defaults[name]
        assert entry["description"]
    assert schema["properties"]["return_lags"]["items"]["minimum"] == 1
    assert schema["properties"]["bollinger_width"]["exclusiveMinimum"] == 0
