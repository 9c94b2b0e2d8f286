"""Backtests on stored L2 data (``Backtest.data == "l2"``): the Django side of
``strategies.backtest.l2``. The strategy decides on bars of the backtest's interval built from
the books' mids; its orders are worked by an execution algorithm through the paper venue's
matching engine, so spread and slippage are what walking the stored book cost, not a rate.

What applies from ``BacktestCosts``: ``fee_rate`` (the taker fee), ``initial_cash``,
``order_size`` and the risk limits. ``slippage_bps`` and ``latency_seconds`` do not (the book
and ``L2Execution.latency_ms`` take their place); ``latency_bars``, stop losses and take
profits are refused, as the L2 backtester does not model them. The execution settings are
``L2Execution``, stored in ``Backtest.execution``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from execution.domain.metrics import closed_trades, periods_per_year_for
from execution.domain.risk import RiskLimits
from execution.domain.values import ZERO, InstrumentSpec, exact
from execution.models import Instrument
from strategies.backtest.l2 import (
    InvalidL2Config,
    L2BacktestConfig,
    L2BacktestResult,
    L2Trade,
    ParentReport,
    run_l2_backtest,
)
from strategies.backtest.performance import performance_metrics
from strategies.costs import BacktestCosts
from strategies.kinds import InvalidStrategyConfig, kind_get
from strategies.l2_history import l2_stream
from strategies.models import Backtest

Progress = Callable[[float, str], None]
EQUITY_POINTS = 1000  # as the candle path saves
FULL_SHARE = Decimal("0.95")  # of the cash, the default size: room for the fees and the spread


@dataclass(frozen=True, slots=True, kw_only=True)
class L2Execution:
    """How an L2 backtest's orders are worked. ``algorithm``: an execution algorithm of
    ``execution.domain.algos`` (market, limit, twap, iceberg, vwap, pov, ...) with its
    ``algorithm_params``, or "auto" for the one the urgency plan picks from the book."""

    algorithm: str = "market"
    algorithm_params: Mapping[str, Any] = field(default_factory=dict)
    maker_fee_rate: Decimal = Decimal("0.0002")
    latency_ms: Decimal = Decimal(20)
    latency_jitter_ms: Decimal = Decimal(0)
    seed: int = 0
    signal_strength: float = 1.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> L2Execution:
        """From plain values (missing keys take their defaults); refused values are named by
        field, as ``InvalidStrategyConfig``."""
        if not isinstance(data, Mapping):
            raise InvalidStrategyConfig({"non_field_errors": ["execution must be a JSON object"]})
        names = [f.name for f in dataclasses.fields(cls)]
        errors: dict[str, list[str]] = {}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                errors[str(key)] = [f"unknown setting; the settings are: {', '.join(names)}"]
            elif key == "algorithm":
                if not isinstance(value, str) or not value:
                    errors[key] = ["algorithm must be an algorithm's name, or auto"]
                else:
                    values[key] = value
            elif key == "algorithm_params":
                if not isinstance(value, Mapping):
                    errors[key] = ["algorithm_params must be a JSON object"]
                else:
                    values[key] = dict(value)
            elif key == "seed":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    errors[key] = [f"seed must be a whole number >= 0, got {value!r}"]
                else:
                    values[key] = value
            elif isinstance(value, bool) or not isinstance(value, int | float | str):
                errors[key] = [f"{key} must be a number, got {value!r}"]
            else:
                try:
                    number = Decimal(str(value))
                except ArithmeticError:
                    number = Decimal("NaN")
                if not number.is_finite():
                    errors[key] = [f"{key} must be a finite number, got {value!r}"]
                else:
                    values[key] = float(number) if key == "signal_strength" else number
        if errors:
            raise InvalidStrategyConfig(errors)
        settings = cls(**values)
        settings.config(order_size=Decimal(1), initial_cash=Decimal(1), fee_rate=Decimal("0.0005"))
        return settings

    def config(
        self,
        *,
        order_size: Decimal,
        initial_cash: Decimal,
        fee_rate: Decimal,
        interval: timedelta = timedelta(minutes=1),
        risk_limits: RiskLimits | None = None,
    ) -> L2BacktestConfig:
        """The run's config; a refused setting raises ``InvalidStrategyConfig`` by field."""
        if not 0 <= self.latency_ms <= 60_000:
            raise InvalidStrategyConfig({"latency_ms": ["latency_ms must be 0 to 60000"]})
        if not 0 <= self.latency_jitter_ms <= 60_000:
            raise InvalidStrategyConfig({"latency_jitter_ms": ["must be 0 to 60000"]})
        try:
            return L2BacktestConfig(
                order_size=order_size,
                initial_cash=initial_cash,
                maker_fee_rate=self.maker_fee_rate,
                taker_fee_rate=fee_rate,
                latency=timedelta(milliseconds=float(self.latency_ms)),
                latency_jitter=timedelta(milliseconds=float(self.latency_jitter_ms)),
                seed=self.seed,
                algorithm=None if self.algorithm == "auto" else self.algorithm,
                algorithm_params=dict(self.algorithm_params),
                signal_strength=self.signal_strength,
                # No limits set: nothing refused but orders the account cannot pay for.
                risk_limits=risk_limits
                or RiskLimits(max_position_value=Decimal(100), daily_loss_limit=Decimal(1)),
                bar_interval=interval,
                mark_interval=interval,
            )
        except InvalidL2Config as error:
            name = "fee_rate" if error.field == "taker_fee_rate" else error.field
            raise InvalidStrategyConfig({name: [str(error)]}) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "algorithm_params": dict(self.algorithm_params),
            "maker_fee_rate": str(self.maker_fee_rate),
            "latency_ms": str(self.latency_ms),
            "latency_jitter_ms": str(self.latency_jitter_ms),
            "seed": self.seed,
            "signal_strength": self.signal_strength,
        }


def l2_costs_errors(costs: BacktestCosts) -> dict[str, list[str]]:
    """The costs an L2 backtest cannot honour, by field."""
    errors: dict[str, list[str]] = {}
    if costs.latency_bars:
        errors["latency_bars"] = ["an L2 backtest has no bar latency: set execution.latency_ms"]
    for name in ("stop_loss", "take_profit"):
        if getattr(costs, name) is not None:
            errors[name] = [f"the L2 backtester does not model {name.replace('_', ' ')}s yet"]
    return errors


def _order_size(costs: BacktestCosts, mid: Decimal, spec: InstrumentSpec) -> Decimal:
    """The costs' size, or FULL_SHARE of the initial cash at the first mid, on the lot grid
    (the L2 risk check always checks cash; a reversal needs balance for its new side only)."""
    if costs.order_size is not None:
        return costs.order_size
    return (costs.initial_cash * FULL_SHARE / mid // spec.lot_size) * spec.lot_size


def l2_backtest_compute(
    backtest: Backtest, report: Progress, *, interval: timedelta
) -> dict[str, Any]:
    """Run ``backtest`` on its stored L2 window; the metrics, equity curve and trades to save,
    in the shape of the candle path's."""
    report(0.05, "loading L2 data")
    stream = l2_stream(symbol=backtest.symbol, start=backtest.start, end=backtest.end)
    spec = Instrument.objects.get(symbol=backtest.symbol).spec()
    costs = BacktestCosts.from_dict(backtest.costs)
    settings = L2Execution.from_dict(backtest.execution)
    kind = kind_get(backtest.kind)
    strategy = kind.build(kind.config_from_dict(backtest.config))
    order_size = _order_size(costs, stream.mid(0), spec)
    config = settings.config(
        order_size=order_size, initial_cash=costs.initial_cash, fee_rate=costs.fee_rate,
        interval=interval, risk_limits=costs.risk_limits(),
    )  # fmt: skip
    report(0.2, f"running {strategy.name} over {len(stream):,} L2 events")
    result = run_l2_backtest(strategy, stream, config)
    report(0.8, "computing metrics")
    open_since = None if result.open_trade is None else result.open_trade.opened_at
    first, last = result.equity_curve[0][0], result.equity_curve[-1][0]
    metrics: dict[str, Any] = {
        **performance_metrics(
            result.equity_curve,
            closed_trades((fill.at, fill.event) for fill in result.fills),
            periods_per_year_for(result.mark_interval),
            span=last - first,
            open_since=open_since,
        ),
        **_cost_metrics(result),
        "execution": _execution_quality(result.parents),
        "order_size": str(order_size),
        "data": "l2",
        "events": result.events,
        "engine_events": result.engine_events,
        "book_snapshots": len(stream.book_us),
        "market_trades": len(stream.trade_us),
        "first_event": first.isoformat(),
        "last_event": last.isoformat(),
        # The bars it decided on, as the candle path names them (reports read these).
        "first_bar": first.isoformat(),
        "last_bar": last.isoformat(),
        "open_trade": _trade(result.open_trade) if result.open_trade else None,
    }
    report(0.9, "saving")
    return {
        "metrics": metrics,
        "equity_curve": _equity_curve(result),
        "trades": [_trade(trade) for trade in result.trades],
    }


def _cost_metrics(result: L2BacktestResult) -> dict[str, Any]:
    fees, spread = result.total_fees, result.total_cost_vs_mid
    with exact():
        total = fees + spread
    return {
        "initial_cash": str(result.initial_cash),
        "final_equity": str(result.final_equity),
        "fills": len(result.fills),
        "total_fees": str(fees),
        # Spread and book walk against the mid (a maker fill earns the half spread).
        "total_slippage_cost": str(spread),
        "total_costs": str(total),
        "refusals": dict(
            Counter(v.rule for refusal in result.refusals for v in refusal.violations)
        ),
        "skipped_signals": dict(Counter(s.rule for s in result.skipped)),
        "protective_exits": {},
    }


def _execution_quality(parents: tuple[ParentReport, ...]) -> dict[str, Any]:
    """Per algorithm: its parents, how much they filled, and their mean costs against the
    arrival mid (``execution.domain.quality``), weighted by what each asked for."""
    groups: dict[str, list[ParentReport]] = defaultdict(list)
    for report in parents:
        groups[report.parent.algorithm.kind].append(report)
    summary: dict[str, Any] = {}
    for kind, reports in sorted(groups.items()):
        qualities = [r.quality for r in reports if r.quality is not None]
        with exact():
            asked = sum((r.parent.quantity for r in reports), ZERO)
            filled = sum((r.parent.filled_quantity for r in reports), ZERO)

        def weighted(name: str, qualities: list[Any] = qualities) -> float | None:
            pairs = [(getattr(q, name), q.arrival_notional) for q in qualities]
            pairs = [(value, weight) for value, weight in pairs if value is not None and weight]
            total = sum((weight for _, weight in pairs), ZERO)
            if not pairs or not total:
                return None
            return round(float(sum(value * weight for value, weight in pairs) / total), 3)

        delays = [
            q.signal_to_first_fill.total_seconds()
            for q in qualities
            if q.signal_to_first_fill is not None
        ]
        summary[kind] = {
            "parents": len(reports),
            "quantity": str(asked),
            "filled_quantity": str(filled),
            "fill_rate": round(float(filled / asked), 4) if asked else None,
            "slippage_bps": weighted("slippage_bps"),
            "shortfall_bps": weighted("shortfall_bps"),
            "fees_bps": weighted("fees_bps"),
            "median_seconds_to_first_fill": float(np.median(delays)) if delays else None,
        }
    return summary


def _equity_curve(result: L2BacktestResult) -> list[list[Any]]:
    """[time, equity] at each mark, evenly thinned to EQUITY_POINTS (last included)."""
    curve = result.equity_curve
    n = len(curve)
    picks = np.unique(np.linspace(0, n - 1, min(n, EQUITY_POINTS)).round().astype(np.int64))
    return [[curve[i][0].isoformat(), round(float(curve[i][1]), 2)] for i in picks.tolist()]


def _trade(trade: L2Trade) -> dict[str, Any]:
    return {
        "side": str(trade.side.value),
        "quantity": str(trade.quantity),
        "entry_time": trade.opened_at.isoformat(),
        "entry_price": str(trade.entry_price),
        "exit_time": None if trade.closed_at is None else trade.closed_at.isoformat(),
        "exit_price": None if trade.exit_price is None else str(trade.exit_price),
        "fees": str(trade.fees),
        "slippage_cost": str(trade.cost_vs_mid),
        "net_pnl": None if trade.net_pnl is None else str(trade.net_pnl),
    }
