"""SmartMoneyFollower's formulas, table-driven: every score, multiplier and bound against
values computed by hand (in the comments)."""

from __future__ import annotations

import pytest

from execution.domain.errors import DomainError
from execution.domain.values import Side
from strategies.library.smart_money import (
    PRESETS,
    SmartMoneyConfig,
    SmartMoneyDecision,
    performance_summary,
    smart_money_decision,
)

DEFAULT = SmartMoneyConfig()  # threshold 0.7, max size 0.1, min liquidity 0.5, 0.02 / 0.04
LOW_LIQUIDITY = SmartMoneyConfig(min_liquidity_score=0.1)

# (config, regime, probability, imbalance, stress, confidence) ->
#     (side, market score, confidence after the cut, size, stop loss, take profit)
CASES = [
    pytest.param(
        # 0.4*0.81 + 0.3*0.6 + 0.3*0.8 = 0.744; 0.1*0.85*1.2*0.8*0.744; tightened x0.8 / x0.9
        (DEFAULT, "accumulation", 0.9, 0.3, 0.2, 0.85),
        (Side.BUY, 0.744, 0.85, 0.0607104, 0.016, 0.036),
        id="accumulation-tightens-and-sizes-up",
    ),
    pytest.param(
        # p = 0.8 is not above 0.8: confidence 0.9 x 0.8 = 0.72; 0.4*0.64 + 0.3*1 + 0.3*0.9
        (DEFAULT, "trending", 0.8, -0.6, 0.1, 0.9),
        (Side.SELL, 0.826, 0.72, 0.1 * 0.72 * 1.0 * 0.9 * 0.826, 0.02, 0.04),
        id="unsure-regime-cuts-confidence-imbalance-score-capped",
    ),
    pytest.param(
        # 0.4*0.285 + 0.3*0.4 + 0.3*0.6 = 0.414; factor 0.6; widened x1.3 / x1.2
        (DEFAULT, "volatile", 0.95, 0.2, 0.4, 0.8),
        (Side.BUY, 0.414, 0.8, 0.1 * 0.8 * 0.6 * 0.6 * 0.414, 0.026, 0.048),
        id="volatile-widens-and-sizes-down",
    ),
    pytest.param(
        # stress 0.75 > 0.7: x1.5 / x1.3, then distribution x0.8 / x0.9; max(0.5, 0.25) = 0.5
        (LOW_LIQUIDITY, "distribution", 0.9, -0.5, 0.75, 0.9),
        (Side.SELL, 0.627, 0.9, 0.1 * 0.9 * 0.8 * 0.5 * 0.627, 0.024, 0.0468),
        id="stressed-distribution-multiplies-both",
    ),
    pytest.param(
        # 0.4*0.27 + 0.3*1 + 0.3*0.2 = 0.468; stop 0.02*1.5*1.3, take profit 0.04*1.3*1.2
        (LOW_LIQUIDITY, "volatile", 0.9, 0.5, 0.8, 0.9),
        (Side.BUY, 0.468, 0.9, 0.1 * 0.9 * 0.6 * 0.5 * 0.468, 0.039, 0.0624),
        id="stressed-volatile-widens-twice",
    ),
    pytest.param(
        # confidence 0.7 meets the threshold, then x0.8 = 0.56; 0.1*0.56*1*0.5*0.256 < 0.01
        (DEFAULT, "neutral", 0.5, 0.01, 0.5, 0.7),
        (Side.BUY, 0.256, 0.56, 0.01, 0.02, 0.04),
        id="size-bounded-below-at-0.01",
    ),
    pytest.param(
        # 0.4*0.9 + 0.3 + 0.3 = 0.96; 0.1*1*1.2*1*0.96 = 0.1152 > max size
        (DEFAULT, "accumulation", 1.0, 1.0, 0.0, 1.0),
        (Side.BUY, 0.96, 1.0, 0.1, 0.016, 0.036),
        id="size-bounded-above-at-max",
    ),
]


@pytest.mark.parametrize(("given", "expected"), CASES)
def test_decisions_follow_the_formulas(given, expected):
    config, regime, probability, imbalance, stress, confidence = given
    side, market_score, adjusted, size, stop_loss, take_profit = expected
    decision = smart_money_decision(
        config,
        regime=regime,
        regime_probability=probability,
        weighted_imbalance=imbalance,
        liquidity_stress=stress,
        confidence=confidence,
    )
    assert decision.skip_reason is None
    assert decision.side is side
    assert decision.market_score == pytest.approx(market_score, rel=1e-12)
    assert decision.confidence == pytest.approx(adjusted, rel=1e-12)
    assert decision.size == pytest.approx(size, rel=1e-12)
    assert decision.stop_loss == pytest.approx(stop_loss, rel=1e-12)
    assert decision.take_profit == pytest.approx(take_profit, rel=1e-12)


@pytest.mark.parametrize(
    ("stress", "confidence", "imbalance", "reason"),
    [
        (0.2, 0.69, 0.3, "confidence 0.690 is below 0.7"),
        (0.51, 0.9, 0.3, "liquidity score 0.490 is below 0.5"),
        (0.2, 0.9, 0.0, "leans to neither side"),
        (0.9, 0.5, 0.3, "confidence"),  # both fail: the reason names the first rule
    ],
)
def test_skips_say_why(stress, confidence, imbalance, reason):
    decision = smart_money_decision(
        DEFAULT,
        regime="trending",
        regime_probability=0.9,
        weighted_imbalance=imbalance,
        liquidity_stress=stress,
        confidence=confidence,
    )
    assert decision.side is None and decision.size == 0.0
    assert reason in (decision.skip_reason or "")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"regime": "bull"}, "regime"),
        ({"regime_probability": 1.1}, "regime_probability"),
        ({"weighted_imbalance": -1.5}, "weighted_imbalance"),
        ({"liquidity_stress": -0.1}, "liquidity_stress"),
        ({"confidence": 2.0}, "confidence"),
    ],
)
def test_inputs_out_of_range_are_refused_by_name(kwargs, name):
    values = {
        "regime": "neutral",
        "regime_probability": 0.9,
        "weighted_imbalance": 0.2,
        "liquidity_stress": 0.2,
        "confidence": 0.9,
    } | kwargs
    with pytest.raises(DomainError, match=name):
        smart_money_decision(DEFAULT, **values)


def test_presets_are_the_issues_values_with_defaults_for_the_rest():
    conservative = SmartMoneyConfig.from_dict(PRESETS["conservative"])
    aggressive = SmartMoneyConfig.from_dict(PRESETS["aggressive"])
    fast = SmartMoneyConfig.from_dict(PRESETS["high_frequency"])
    assert conservative.to_dict() == {
        "confidence_threshold": 0.8,
        "max_position_size": 0.05,
        "min_liquidity_score": 0.7,
        "stop_loss_base": 0.015,
        "take_profit_base": 0.03,
        "regime_fit_bars": 500,
        "book_inputs": False,
    }
    assert (aggressive.confidence_threshold, aggressive.max_position_size) == (0.6, 0.15)
    assert (aggressive.min_liquidity_score, aggressive.stop_loss_base) == (0.4, 0.025)
    assert aggressive.take_profit_base == 0.05
    assert fast.to_dict() == {
        "confidence_threshold": 0.7,
        "max_position_size": 0.08,
        "min_liquidity_score": 0.6,
        "stop_loss_base": 0.02,
        "take_profit_base": 0.04,
        "regime_fit_bars": 500,
        "book_inputs": False,
    }


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"confidence_threshold": 1.2}, "confidence_threshold"),
        ({"max_position_size": 0.005}, "max_position_size"),
        ({"min_liquidity_score": "high"}, "min_liquidity_score"),
        ({"stop_loss_base": 0}, "stop_loss_base"),
        ({"take_profit_base": float("inf")}, "take_profit_base"),
    ],
)
def test_bad_config_is_refused_naming_the_field(kwargs, name):
    with pytest.raises(DomainError, match=name):
        SmartMoneyConfig(**kwargs)


def test_performance_summary_counts_signals_trades_and_regimes():
    def taken(regime: str, confidence: float) -> SmartMoneyDecision:
        return SmartMoneyDecision(regime, confidence, 0.5, side=Side.BUY, size=0.05)

    decisions = [
        taken("accumulation", 0.9),
        taken("accumulation", 0.7),
        taken("trending", 0.8),
        SmartMoneyDecision("volatile", 0.5, 0.3, skip_reason="confidence"),
    ]
    summary = performance_summary(decisions, [0.01, -0.02])
    assert summary.to_dict() == {
        "signals_generated": 3,
        "signals_executed": 2,
        "win_rate": 0.5,
        "average_confidence": pytest.approx(0.8),
        "regime_distribution": {"accumulation": 2, "trending": 1, "volatile": 1},
    }
    empty = performance_summary([], [])
    assert (empty.win_rate, empty.average_confidence, empty.signals_generated) == (None, None, 0)
    with pytest.raises(DomainError, match="trade_returns"):
        performance_summary(decisions[3:], [0.01])
