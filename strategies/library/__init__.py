"""The strategy library: each kind of strategy with its validated config.

``STRATEGY_KINDS`` maps a kind's name to ``(strategy class, config class)``; the Django side
validates stored configs through it. ``parse_config`` and ``config_schema`` do so for any kind
(unknown keys and bad values are refused naming the field). ``PRESETS`` are named values of the
preset-able parameters (``SmartMoneyConfig``'s), to merge under explicit ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strategies.library.buy_and_hold import BuyAndHold, BuyAndHoldConfig
from strategies.library.mean_reversion import MeanReversion, MeanReversionConfig
from strategies.library.settings import settings_from_dict, settings_schema
from strategies.library.simple_ml import SimpleMl, SimpleMlConfig
from strategies.library.sma_crossover import SmaCrossover, SmaCrossoverConfig
from strategies.library.smart_money import PRESETS as SMART_MONEY_PRESETS
from strategies.library.smart_money import SmartMoneyConfig, SmartMoneyKind
from strategies.library.xgboost_model import XgboostModel, XgboostModelConfig

STRATEGY_KINDS: dict[str, tuple[type, type]] = {
    "buy_and_hold": (BuyAndHold, BuyAndHoldConfig),
    "mean_reversion": (MeanReversion, MeanReversionConfig),
    "simple_ml": (SimpleMl, SimpleMlConfig),
    "sma_crossover": (SmaCrossover, SmaCrossoverConfig),
    "smart_money": (SmartMoneyKind, SmartMoneyConfig),
    "xgboost": (XgboostModel, XgboostModelConfig),
}


def parse_config(kind: str, data: Mapping[str, object]) -> Any:
    """The validated config of ``kind`` from plain values; missing keys take their defaults."""
    return settings_from_dict(STRATEGY_KINDS[kind][1], data)


def config_schema(kind: str) -> dict[str, Any]:
    """The JSON schema of ``kind``'s config."""
    return settings_schema(STRATEGY_KINDS[kind][1])


PRESETS: dict[str, dict[str, float]] = SMART_MONEY_PRESETS
