"""A backtest's performance metrics from its exact equity curve, candle or L2 alike.

An account whose equity reaches zero or below is ruined there: returns cannot be measured
through it, so the statistics are those of the curve before it, and the run's total return,
CAGR and drawdown say everything was lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from execution.domain.metrics import ClosedTrade, EquityPoint, cagr, summarize

RUIN_NOTE = (
    "equity reached zero or below: the account was ruined here (no margin call is modelled; "
    "set max_position_value to check cash and margin before orders)"
)


def performance_metrics(
    curve: Sequence[EquityPoint],
    trades: Sequence[ClosedTrade],
    periods_per_year: float,
    *,
    span: timedelta,
    open_since: datetime | None = None,
) -> dict[str, Any]:
    """Every metric of ``summarize`` (JSON values), ``cagr`` over ``span``, and ``ruined``
    (None, or where and at what equity the account was ruined). ``open_since``: a position
    still open at the end, held since then, counts in the exposure."""
    ruin = next((i for i, (_, equity) in enumerate(curve) if equity <= 0), None)
    if ruin is None:
        summary = summarize(curve, trades, periods_per_year, open_since=open_since)
        return {**summary.as_dict(), "cagr": cagr(summary.total_return, span), "ruined": None}
    at, equity = curve[ruin]
    before = list(curve[:ruin])
    metrics: dict[str, Any] = {}
    if len(before) >= 2:
        closed = [trade for trade in trades if trade.closed_at < at]
        metrics = dict(summarize(before, closed, periods_per_year).as_dict())
    depth = {"depth": -1.0, "peak_to_trough": None, "trough_at": at.isoformat()}
    return {
        **metrics,
        "total_return": "-1",
        "cagr": -1.0,
        "max_drawdown": {**dict(metrics.get("max_drawdown") or {}), **depth},
        "ruined": {"at": at.isoformat(), "equity": str(equity), "note": RUIN_NOTE},
    }
