"""The event-driven backtester on L2 book data (see ``runner`` for every assumption)."""

from strategies.backtest.l2.runner import (
    BookStrategy,
    InvalidL2Config,
    L2BacktestConfig,
    L2BacktestResult,
    L2Fill,
    L2Trade,
    ParentReport,
    RiskRefusal,
    SkippedSignal,
    TouchImbalance,
    bars_from_stream,
    run_l2_backtest,
)
from strategies.backtest.l2.stream import L2Stream

__all__ = [
    "BookStrategy",
    "InvalidL2Config",
    "L2BacktestConfig",
    "L2BacktestResult",
    "L2Fill",
    "L2Stream",
    "L2Trade",
    "ParentReport",
    "RiskRefusal",
    "SkippedSignal",
    "TouchImbalance",
    "bars_from_stream",
    "run_l2_backtest",
]
