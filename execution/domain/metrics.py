"""Performance metrics for an equity curve and the trades closed along it.

Pure domain code: the backtester, the paper exchange and live reports all call these functions,
so the same history gives the same numbers everywhere. Return-based statistics are ratios, so
they are vectorised over float64; money (drawdown amounts, average trade, fees) stays Decimal.

Deposits and withdrawals change equity without being gains or losses. ``time_weighted_curve``
takes them out: between two equity points E0 (at t0) and E1 (at t1) with cash flows C_k at
times t_k in (t0, t1] (deposits positive), the period's return is the Modified Dietz return

    r = (E1 - E0 - sum C_k) / (E0 + sum w_k C_k),   w_k = (t1 - t_k) / (t1 - t0)

(a flow earns for the part of the period it was in the account), and the periods chain into a
time-weighted index that starts at E0. With daily points and flows inside a day, this is the
usual daily-linked approximation of the true time-weighted return, which would need the equity
at the moment of each flow.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from execution.domain.orders import FillEvent
from execution.domain.positions import PositionState, apply_fill
from execution.domain.values import exact, quantize

EquityPoint: TypeAlias = tuple[datetime, Decimal]
EquityCurve: TypeAlias = Sequence[EquityPoint]
CashFlow: TypeAlias = tuple[datetime, Decimal]  # a deposit (positive) or withdrawal (negative)
JsonValue: TypeAlias = "str | int | float | bool | dict[str, JsonValue] | list[JsonValue] | None"

_FloatArray: TypeAlias = npt.NDArray[np.float64]
_SECONDS_PER_DAY = 86_400.0


class UnmeasurableReturn(ValueError):
    """A period's return has no meaning: withdrawals took out the capital it would be measured
    on, or it lost more than that capital."""


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """A round trip that has been closed; `net_pnl` is already net of `fees`."""

    opened_at: datetime
    closed_at: datetime
    net_pnl: Decimal
    fees: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.closed_at < self.opened_at:
            raise ValueError(
                f"trade closed at {self.closed_at.isoformat()} before it opened at "
                f"{self.opened_at.isoformat()}"
            )
        if not self.net_pnl.is_finite():
            raise ValueError(f"trade net_pnl must be finite, got {self.net_pnl}")
        # Fees may be negative: maker rebates are real on crypto venues.
        if not self.fees.is_finite():
            raise ValueError(f"trade fees must be finite, got {self.fees}")


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The deepest fall from a peak; with no fall at all, every time is the curve's first point."""

    depth: float  # positive fraction of the peak, 0.0 when the curve never falls
    peak_to_trough: Decimal  # money lost from the peak to the trough
    peak_at: datetime  # last point at the peak before the fall
    trough_at: datetime
    recovered_at: datetime | None  # first point back at or above the peak; None if never
    duration: timedelta  # peak to recovery, or to the curve's last point if never recovered

    def as_dict(self) -> dict[str, JsonValue]:
        """JSON-friendly values: Decimal as str, datetime as ISO 8601, timedelta as seconds."""
        return {
            "depth": self.depth,
            "peak_to_trough": str(self.peak_to_trough),
            "peak_at": self.peak_at.isoformat(),
            "trough_at": self.trough_at.isoformat(),
            "recovered_at": None if self.recovered_at is None else self.recovered_at.isoformat(),
            "duration": self.duration.total_seconds(),
        }


@dataclass(frozen=True, slots=True)
class PerformanceSummary:
    """Every metric of one run, as stored with a backtest or shown on the dashboard."""

    total_return: Decimal
    max_drawdown: Drawdown
    max_drawdown_duration: timedelta
    sharpe_ratio: float
    sortino_ratio: float
    periods_per_year: float
    risk_free_rate: float
    win_rate: float
    profit_factor: float | None
    average_trade: Decimal
    exposure: float
    trade_count: int
    total_fees: Decimal

    def as_dict(self) -> dict[str, JsonValue]:
        """JSON-friendly values: Decimal as str, datetime as ISO 8601, timedelta as seconds."""
        return {
            "total_return": str(self.total_return),
            "max_drawdown": self.max_drawdown.as_dict(),
            "max_drawdown_duration": self.max_drawdown_duration.total_seconds(),
            "sharpe_ratio": self.sharpe_ratio,
            "sortino_ratio": self.sortino_ratio,
            "periods_per_year": self.periods_per_year,
            "risk_free_rate": self.risk_free_rate,
            "win_rate": self.win_rate,
            "profit_factor": self.profit_factor,
            "average_trade": str(self.average_trade),
            "exposure": self.exposure,
            "trade_count": self.trade_count,
            "total_fees": str(self.total_fees),
        }


@dataclass(frozen=True, slots=True)
class _Curve:
    times: tuple[datetime, ...]
    equity: tuple[Decimal, ...]
    values: _FloatArray  # equity as float64, only to locate drawdowns


def closed_trades(fills: Iterable[tuple[datetime, FillEvent]]) -> list[ClosedTrade]:
    """Round trips of one instrument from its fills in time order, by the same accounting as
    positions: a trade opens when the position leaves flat and closes when it is flat again; a
    fill through zero closes one trade and opens the next, its fee split by quantity."""
    trades: list[ClosedTrade] = []
    state = PositionState()
    opened_at: datetime | None = None
    pnl = fees = Decimal(0)
    for at, fill in fills:
        effect = apply_fill(state, fill)
        if state.quantity == 0:
            opened_at, pnl, fees = at, Decimal(0), Decimal(0)
        flipped = effect.opened and state.quantity != 0
        with exact():
            # The share of this fill's fee that belongs to the trade it closes.
            closing_fee = (
                quantize(fill.fee * effect.closed_quantity / fill.quantity) if flipped else fill.fee
            )
            pnl += effect.realized_pnl + (fill.fee - closing_fee)
            fees += closing_fee
        if effect.after.quantity == 0 or flipped:
            assert opened_at is not None
            trades.append(ClosedTrade(opened_at=opened_at, closed_at=at, net_pnl=pnl, fees=fees))
            opened_at = at
            with exact():
                pnl, fees = closing_fee - fill.fee, fill.fee - closing_fee
        state = effect.after
    return trades


def periods_per_year_for(interval: timedelta, trading_days: int = 365) -> float:
    """Bars per year for bars of `interval`, on a market open around the clock `trading_days`."""
    # Crypto trades 24/7, hence 365. Pass 252 for daily equity bars; intraday bars of a market
    # with sessions need periods_per_year computed from the session length instead.
    if interval <= timedelta(0):
        raise ValueError(f"bar interval must be positive, got {interval}")
    if trading_days <= 0:
        raise ValueError(f"trading_days must be positive, got {trading_days}")
    return trading_days * _SECONDS_PER_DAY / interval.total_seconds()


def total_return(curve: EquityCurve) -> Decimal:
    """Last equity over first equity, minus one, in Decimal."""
    prepared = _prepare(curve, min_points=2)
    return prepared.equity[-1] / prepared.equity[0] - 1


def max_drawdown(curve: EquityCurve) -> Drawdown:
    """The deepest peak-to-trough fall of the curve (the first one if several tie)."""
    return _drawdowns(_prepare(curve, min_points=1))[0]


def max_drawdown_duration(curve: EquityCurve) -> timedelta:
    """The longest time spent below a previous peak, whichever drawdown episode that was."""
    return _drawdowns(_prepare(curve, min_points=1))[1]


def sharpe_ratio(curve: EquityCurve, periods_per_year: float, risk_free_rate: float = 0.0) -> float:
    """Annualised mean excess per-bar return over its sample std; 0.0 when that is undefined."""
    _check_annualisation(periods_per_year, risk_free_rate)
    returns = _simple_returns(_prepare(curve, min_points=2).equity)
    return _sharpe(returns, periods_per_year, risk_free_rate)


def sortino_ratio(
    curve: EquityCurve, periods_per_year: float, risk_free_rate: float = 0.0
) -> float:
    """Annualised mean excess per-bar return over downside deviation; 0.0 when undefined."""
    _check_annualisation(periods_per_year, risk_free_rate)
    returns = _simple_returns(_prepare(curve, min_points=2).equity)
    return _sortino(returns, periods_per_year, risk_free_rate)


def cagr(total_return: Decimal, span: timedelta) -> float | None:
    """Compound annual growth rate of a run that returned ``total_return`` over ``span``
    (calendar years of 365.25 days): (1 + total return) ** (1 / years) - 1. None when the
    span is too short for the rate to be a finite number; -1.0 when everything was lost."""
    if span <= timedelta(0):
        raise ValueError(f"span must be positive, got {span}")
    growth = float(1 + total_return)
    if growth <= 0:
        return -1.0
    years = span.total_seconds() / (365.25 * _SECONDS_PER_DAY)
    # In logs: a high return over a few hours overflows a float power long before it is +inf.
    exponent = math.log(growth) / years
    return math.expm1(exponent) if exponent < 700 else None


def win_rate(trades: Sequence[ClosedTrade]) -> float:
    """Fraction of trades with positive net P&L (break-even is not a win); 0.0 with no trades."""
    if not trades:
        return 0.0
    return sum(1 for trade in trades if trade.net_pnl > 0) / len(trades)


def profit_factor(trades: Sequence[ClosedTrade]) -> float | None:
    """Gross profit over gross loss; None when no trade lost, as the ratio is then undefined."""
    gross_profit = sum((trade.net_pnl for trade in trades if trade.net_pnl > 0), Decimal(0))
    gross_loss = -sum((trade.net_pnl for trade in trades if trade.net_pnl < 0), Decimal(0))
    if gross_loss == 0:
        return None
    return float(gross_profit / gross_loss)


def average_trade(trades: Sequence[ClosedTrade]) -> Decimal:
    """Mean net P&L per trade, in Decimal; Decimal(0) with no trades."""
    if not trades:
        return Decimal(0)
    return sum((trade.net_pnl for trade in trades), Decimal(0)) / len(trades)


def exposure(curve: EquityCurve, trades: Sequence[ClosedTrade]) -> float:
    """Fraction of the curve's time span during which at least one trade was open."""
    prepared = _prepare(curve, min_points=2)
    return _exposure(prepared.times[0], prepared.times[-1], trades)


def time_weighted_curve(curve: EquityCurve, cash_flows: Iterable[CashFlow]) -> list[EquityPoint]:
    """The curve with the cash flows taken out (see the module's docstring): an index that
    starts at the first equity and moves only by the returns earned. Flows at or before the
    first point are in its equity already and flows after the last are outside the curve: both
    are ignored. The curve itself comes back unchanged when no flow falls inside it.

    Raises UnmeasurableReturn when a period's capital (E0 + sum w_k C_k) is not positive or a
    period loses all of it."""
    weighted = _time_weighted(_prepare(curve, min_points=1), cash_flows)
    return list(zip(weighted.times, weighted.equity, strict=True))


def _time_weighted(curve: _Curve, cash_flows: Iterable[CashFlow]) -> _Curve:
    times, equity = curve.times, curve.equity
    flows = sorted(
        (at, amount) for at, amount in cash_flows if times[0] < at <= times[-1] and amount
    )
    if not flows:
        return curve
    index = [equity[0]]
    position = 0
    with exact():
        for i in range(1, len(times)):
            start, end = times[i - 1], times[i]
            net = weighted = Decimal(0)
            while position < len(flows) and flows[position][0] <= end:
                at, amount = flows[position]
                net += amount
                # In whole microseconds, so the weight is an exact fraction.
                weighted += amount * _micros(end - at) / _micros(end - start)
                position += 1
            capital = equity[i - 1] + weighted
            growth = 1 + (equity[i] - equity[i - 1] - net) / capital if capital > 0 else None
            if growth is None or growth <= 0:
                raise UnmeasurableReturn(
                    f"the return from {start.isoformat()} to {end.isoformat()} cannot be "
                    f"measured: equity went from {equity[i - 1]} to {equity[i]} with "
                    f"{net} of deposits less withdrawals"
                )
            index.append(index[-1] * growth)
    return _curve(times, index)


def _micros(duration: timedelta) -> Decimal:
    return Decimal(duration // timedelta(microseconds=1))


def summarize(
    curve: EquityCurve,
    trades: Sequence[ClosedTrade],
    periods_per_year: float,
    *,
    risk_free_rate: float = 0.0,
    cash_flows: Iterable[CashFlow] = (),
    open_since: datetime | None = None,
) -> PerformanceSummary:
    """All metrics of a curve and its trades, validating the curve once. With ``cash_flows``
    the return statistics (total return, Sharpe, Sortino, drawdowns) are those of the
    time-weighted curve: a deposit is not a gain, nor a withdrawal a loss; the drawdown's money
    is then in the index's terms (what the first point's equity would have lost).
    ``open_since``: a position still open at the end, held since then, counts in the exposure
    (not in the trade statistics, which are of closed trades)."""
    _check_annualisation(periods_per_year, risk_free_rate)
    prepared = _time_weighted(_prepare(curve, min_points=2), cash_flows)
    returns = _simple_returns(prepared.equity)
    drawdown, longest_underwater = _drawdowns(prepared)
    return PerformanceSummary(
        total_return=prepared.equity[-1] / prepared.equity[0] - 1,
        max_drawdown=drawdown,
        max_drawdown_duration=longest_underwater,
        sharpe_ratio=_sharpe(returns, periods_per_year, risk_free_rate),
        sortino_ratio=_sortino(returns, periods_per_year, risk_free_rate),
        periods_per_year=periods_per_year,
        risk_free_rate=risk_free_rate,
        win_rate=win_rate(trades),
        profit_factor=profit_factor(trades),
        average_trade=average_trade(trades),
        exposure=_exposure(prepared.times[0], prepared.times[-1], trades, open_since),
        trade_count=len(trades),
        total_fees=sum((trade.fees for trade in trades), Decimal(0)),
    )


def _prepare(curve: EquityCurve, *, min_points: int) -> _Curve:
    if len(curve) < min_points:
        raise ValueError(f"equity curve needs at least {min_points} points, got {len(curve)}")
    times: list[datetime] = []
    equity: list[Decimal] = []
    for index, (at, value) in enumerate(curve):
        if not isinstance(value, Decimal):
            raise TypeError(
                f"equity curve point {index}: equity must be a Decimal, got {type(value).__name__}"
            )
        if not value.is_finite() or value <= 0:
            raise ValueError(
                f"equity curve point {index}: equity must be finite and positive, got {value}"
            )
        if times and not at > times[-1]:
            raise ValueError(
                f"equity curve point {index}: timestamp {at.isoformat()} is not after the "
                f"previous point's {times[-1].isoformat()}"
            )
        times.append(at)
        equity.append(value)
    return _curve(times, equity)


def _curve(times: Sequence[datetime], equity: Sequence[Decimal]) -> _Curve:
    values = np.fromiter((float(value) for value in equity), dtype=np.float64, count=len(equity))
    return _Curve(times=tuple(times), equity=tuple(equity), values=values)


def _check_annualisation(periods_per_year: float, risk_free_rate: float) -> None:
    if not math.isfinite(periods_per_year) or periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be finite and positive, got {periods_per_year}")
    if not math.isfinite(risk_free_rate) or risk_free_rate <= -1:
        raise ValueError(f"risk_free_rate must be finite and above -1, got {risk_free_rate}")


def _simple_returns(equity: Sequence[Decimal]) -> _FloatArray:
    # Divide in Decimal before converting: equal ratios then give bit-identical floats, so scaling
    # a curve changes no statistic and a constant-growth curve has exactly zero dispersion.
    return np.fromiter(
        (float(after / before - 1) for before, after in itertools.pairwise(equity)),
        dtype=np.float64,
        count=len(equity) - 1,
    )


def _per_bar_rate(annual_rate: float, periods_per_year: float) -> float:
    # Compounded rather than divided, so that per-bar rates compound back to the annual rate.
    return float((1.0 + annual_rate) ** (1.0 / periods_per_year) - 1.0)


def _sharpe(returns: _FloatArray, periods_per_year: float, risk_free_rate: float) -> float:
    # Fewer than two returns have no sample std and identical returns have none either: the ratio
    # is undefined, and 0.0 keeps summaries finite and JSON-serialisable instead of NaN or inf.
    if returns.size < 2:
        return 0.0
    excess = returns - _per_bar_rate(risk_free_rate, periods_per_year)
    # Test equality directly: np.std of identical values can be a rounding-sized non-zero, which
    # would turn into an absurd ratio.
    if np.ptp(excess) == 0.0:
        return 0.0
    mean = float(np.mean(excess))
    std = float(np.std(excess, ddof=1))
    return mean / std * math.sqrt(periods_per_year)


def _sortino(returns: _FloatArray, periods_per_year: float, risk_free_rate: float) -> float:
    # Same 0.0 convention as the Sharpe ratio: too few returns, or no bar below the risk-free
    # rate (zero downside deviation), gives 0.0 rather than NaN or inf.
    if returns.size < 2:
        return 0.0
    excess = returns - _per_bar_rate(risk_free_rate, periods_per_year)
    shortfall = np.minimum(excess, 0.0)
    # Averaged over all bars, not only the losing ones: the standard Sortino definition.
    downside_deviation = math.sqrt(float(np.mean(shortfall * shortfall)))
    if downside_deviation == 0.0:
        return 0.0
    return float(np.mean(excess)) / downside_deviation * math.sqrt(periods_per_year)


def _drawdowns(curve: _Curve) -> tuple[Drawdown, timedelta]:
    values = curve.values
    times = curve.times
    running_peak = np.maximum.accumulate(values)
    underwater = values < running_peak
    if not underwater.any():
        start = times[0]
        return Drawdown(0.0, Decimal(0), start, start, start, timedelta(0)), timedelta(0)

    # Subtracting first keeps every underwater depth strictly positive (the difference is exact).
    depths = (running_peak - values) / running_peak
    trough = int(np.argmax(depths))
    at_peak_index = np.where(underwater, 0, np.arange(values.size))
    peak = int(np.maximum.accumulate(at_peak_index)[trough])
    back_at_peak = np.flatnonzero(~underwater[trough + 1 :])
    recovery = trough + 1 + int(back_at_peak[0]) if back_at_peak.size else None

    peak_equity = curve.equity[peak]
    trough_equity = curve.equity[trough]
    deepest = Drawdown(
        depth=float((peak_equity - trough_equity) / peak_equity),
        peak_to_trough=peak_equity - trough_equity,
        peak_at=times[peak],
        trough_at=times[trough],
        recovered_at=None if recovery is None else times[recovery],
        duration=times[len(times) - 1 if recovery is None else recovery] - times[peak],
    )

    # An episode runs from the point before it goes underwater (its peak) to the first point back
    # at the peak, or to the last point if it never gets back.
    starts = np.flatnonzero(underwater[1:] & ~underwater[:-1]) + 1
    ends = np.flatnonzero(underwater[:-1] & ~underwater[1:]) + 1
    if underwater[-1]:
        ends = np.append(ends, values.size - 1)
    longest = max(
        times[int(end)] - times[int(start) - 1] for start, end in zip(starts, ends, strict=True)
    )
    return deepest, longest


def _exposure(
    start: datetime,
    end: datetime,
    trades: Sequence[ClosedTrade],
    open_since: datetime | None = None,
) -> float:
    held = [(trade.opened_at, trade.closed_at) for trade in trades]
    if open_since is not None:
        held.append((open_since, end))
    intervals = sorted((max(opened, start), min(closed, end)) for opened, closed in held)
    covered = timedelta(0)
    # Sweep in order of opening: time up to `reached` is counted already, so overlapping trades
    # add only the part beyond it.
    reached = start
    for opened, closed in intervals:
        opened = max(opened, reached)
        if closed > opened:
            covered += closed - opened
            reached = closed
    return covered / (end - start)
