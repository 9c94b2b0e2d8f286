"""Creating, changing and running strategies: validation field by field, presets, status."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from strategies import kinds
from strategies.kinds import InvalidStrategyConfig
from strategies.models import Strategy
from strategies.services import (
    StrategyStateError,
    strategy_clone,
    strategy_pause,
    strategy_resume,
    strategy_stop,
    strategy_update,
)
from tests.factories import make_account, make_user
from tests.strategies.services.conftest import make_strategy


def refused(account, **overrides) -> dict[str, list[str]]:
    with pytest.raises(InvalidStrategyConfig) as caught:
        make_strategy(account, **overrides)
    assert Strategy.objects.count() == 0
    return caught.value.errors


def test_a_valid_strategy_is_saved_paused_with_its_full_config(account, btc):
    strategy = make_strategy(account)
    assert strategy.status == "paused" and strategy.paused_at is not None
    assert strategy.config == {"fast_window": 5, "slow_window": 30, "long_only": False}
    assert [i.symbol for i in strategy.instruments.all()] == ["BTC-USDT"]
    assert strategy.max_signals_per_minute == 10 and strategy.signal_decay_seconds == 300


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"fast_windw": 5}, "config.fast_windw"),  # unknown key
        ({"fast_window": 0}, "config.fast_window"),  # out of range
        ({"fast_window": "ten"}, "config.fast_window"),  # wrong type
        ({"long_only": 1}, "config.long_only"),  # wrong type
        ({"fast_window": 10.5}, "config.fast_window"),  # not whole
    ],
)
def test_a_bad_config_is_refused_under_its_key_and_nothing_is_saved(account, btc, config, field):
    assert field in refused(account, config=config)


def test_every_bad_key_is_named_at_once(account, btc):
    errors = refused(account, config={"fast_window": -1, "slow_window": 0, "nope": 1})
    assert set(errors) == {"config.nope"}  # unknown keys first: nothing else is checked
    errors = refused(account, config={"fast_window": -1, "slow_window": 0})
    assert set(errors) == {"config.fast_window", "config.slow_window"}


def test_a_combination_out_of_range_is_refused_under_the_key_it_names(account, btc):
    errors = refused(account, config={"fast_window": 30, "slow_window": 20})
    assert "config.fast_window" in errors


def test_unknown_kind_account_instrument_interval_and_settings_are_refused(account, btc):
    intruder_account = make_account(make_user("other"), name="Theirs")
    errors = refused(
        account, kind="nope", account_id=intruder_account.pk, symbols=["XYZ"], interval="2x",
        settings={"max_signals_per_minute": 0, "confidence_threshold": D("1.5")},
        preset="reckless",
    )  # fmt: skip
    assert {"kind", "account", "instruments", "interval", "preset"} <= set(errors)
    assert {"max_signals_per_minute", "confidence_threshold"} <= set(errors)


def test_a_model_kind_without_a_model_version_is_refused(account, btc):
    assert kinds.KINDS["xgboost"].needs_model  # the library's XGBoost strategy
    assert "model_version" in refused(account, kind="xgboost", config={})
    assert "model_version" in refused(account, kind="xgboost", model_version_id=999)


def test_a_kind_without_a_model_takes_no_model_version(account, btc):
    assert "model_version" in refused(account, model_version_id=999)


def test_the_same_name_twice_for_one_owner_is_refused(account, btc):
    make_strategy(account)
    with pytest.raises(InvalidStrategyConfig) as caught:
        make_strategy(account)
    assert "name" in caught.value.errors
    other = make_account(make_user("other"), name="Theirs")
    make_strategy(other)  # another owner may use the name
    assert Strategy.objects.count() == 2


def test_presets_set_the_settings_and_explicit_values_win(account, btc):
    conservative = make_strategy(account, name="c", preset="conservative")
    assert (conservative.confidence_threshold, conservative.max_position_size) == (
        D("0.8"), D("0.05"),
    )  # fmt: skip
    assert (conservative.stop_loss_base, conservative.take_profit_base) == (D("0.015"), D("0.03"))
    aggressive = make_strategy(
        account, name="a", preset="aggressive", settings={"max_position_size": D("0.2")}
    )
    assert aggressive.max_position_size == D("0.2")
    assert aggressive.min_liquidity_score == D("0.4")
    fast = make_strategy(account, name="h", preset="high_frequency")
    assert (fast.confidence_threshold, fast.max_position_size) == (D("0.7"), D("0.08"))
    assert fast.stop_loss_base == D("0.02")  # the default
    assert fast.max_signals_per_minute == 10 and fast.signal_decay_seconds == 300


def test_clone_with_a_preset_copies_everything_else(account, btc):
    original = make_strategy(account, settings={"signal_decay_seconds": 60})
    strategy_resume(strategy_id=original.pk)
    clone = strategy_clone(strategy_id=original.pk, preset="aggressive")
    assert clone.name == "sma (aggressive)" and clone.status == "paused"
    assert clone.config == original.config and clone.signal_decay_seconds == 60
    assert clone.max_position_size == D("0.15") and clone.preset == "aggressive"
    again = strategy_clone(strategy_id=original.pk, preset="aggressive")
    assert again.name == "sma (aggressive) 2"


def test_pause_resume_and_stop_keep_their_times(account, btc):
    strategy = make_strategy(account)
    active = strategy_resume(strategy_id=strategy.pk, owner_id=account.owner_id)
    assert active.status == "active" and active.activated_at is not None
    paused = strategy_pause(strategy_id=strategy.pk)
    assert paused.status == "paused" and paused.paused_at >= active.activated_at
    assert strategy_pause(strategy_id=strategy.pk).status == "paused"  # twice: no change
    stopped = strategy_stop(strategy_id=strategy.pk)
    assert stopped.status == "stopped" and stopped.stopped_at is not None
    with pytest.raises(StrategyStateError):
        strategy_resume(strategy_id=strategy.pk)
    assert Strategy.objects.get().status == "stopped"


def test_another_owner_cannot_change_the_status(account, btc):
    strategy = make_strategy(account)
    other = make_user("other")
    with pytest.raises(Strategy.DoesNotExist):
        strategy_resume(strategy_id=strategy.pk, owner_id=other.pk)
    assert Strategy.objects.get().status == "paused"


def test_update_validates_like_create_and_changes_nothing_when_refused(account, btc):
    strategy = make_strategy(account)
    with pytest.raises(InvalidStrategyConfig) as caught:
        strategy_update(
            strategy_id=strategy.pk, owner_id=account.owner_id,
            changes={"config": {"slow_window": 0}, "name": "renamed"},
        )  # fmt: skip
    assert "config.slow_window" in caught.value.errors
    assert Strategy.objects.get().name == "sma"
    updated = strategy_update(
        strategy_id=strategy.pk, owner_id=account.owner_id,
        changes={"config": {"fast_window": 3}, "preset": "conservative"},
    )  # fmt: skip
    assert updated.config["fast_window"] == 3 and updated.config["slow_window"] == 20
    assert updated.confidence_threshold == D("0.8")
