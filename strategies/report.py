"""Backtest reports: Plotly figures and the metrics tables beside them.

One backtest: three panels on one time axis (price with every trade's entry and exit; equity
against buy and hold of the same capital on the same bars; drawdown) and a table of every
metric, the costs paid (fees and slippage apart), the cost assumptions and the data window. A
comparison: the same panels with one curve per strategy and a table with one column each.

Buy and hold is computed here rather than taken from any run, so that every report has its
benchmark: the whole initial cash (less the entry fee) buys at the first open a decision at the
first close can fill at, under the backtest's latency, with its slippage (rounded onto the tick
grid against us, as the fill model does) and its fee; it is then marked at every close and never
sold, so it pays one fee, not two.

Everything but ``run_from_backtest`` and ``market_for`` (which read the database) is pure: the
figures are built from plain data, so tests can check them by hand.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import plotly
import plotly.graph_objects as go
from django.http import FileResponse, HttpRequest
from django.template.loader import render_to_string
from plotly.subplots import make_subplots

from execution.domain.values import InstrumentSpec, quantize
from execution.models import Instrument
from execution.selectors import candle_window
from strategies.backtest.l2.runner import bars_from_stream
from strategies.costs import BacktestCosts
from strategies.domain.base import Bars, FloatArray
from strategies.kinds import MODEL_KINDS
from strategies.l2_history import l2_stream
from strategies.models import Backtest
from strategies.services import interval_seconds

PRICE_BARS = 2000  # at most this many candles drawn: longer runs merge bars into coarser ones
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
_BPS = Decimal(10_000)
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_LONG, _SHORT, _EXIT, _BENCHMARK = "#2ca02c", "#d62728", "#444444", "#7f7f7f"
_WALK_FORWARD = "model at t trained only on data before t"


# --- the data a report is built from ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """One backtest's saved result, as the report reads it."""

    label: str
    kind: str
    symbol: str
    interval: str
    costs: BacktestCosts
    metrics: Mapping[str, Any]
    equity_curve: Sequence[Sequence[Any]]  # [ISO time, equity], thinned
    trades: Sequence[Mapping[str, Any]]  # closed trades, then the open one if any
    data: str = "candles"  # what it ran on: stored candles, or L2 books ("l2")

    @property
    def first_bar(self) -> datetime:
        return datetime.fromisoformat(str(self.metrics["first_bar"]))

    @property
    def last_bar(self) -> datetime:
        return datetime.fromisoformat(str(self.metrics["last_bar"]))


@dataclass(frozen=True, slots=True)
class Market:
    """The bars a run went over and the instrument's grid."""

    bars: Bars
    spec: InstrumentSpec


def run_from_backtest(backtest: Backtest, label: str | None = None) -> Run:
    """A succeeded backtest as a ``Run``; the open trade (if any) follows the closed ones."""
    if not backtest.metrics or "first_bar" not in backtest.metrics:
        raise ValueError(f"backtest {backtest.pk} has no result yet ({backtest.status})")
    open_trade = backtest.metrics.get("open_trade")
    trades = [*backtest.trades, *([{**open_trade, "open": True}] if open_trade else [])]
    return Run(
        label=label or backtest.kind,
        kind=backtest.kind,
        symbol=backtest.symbol,
        interval=backtest.interval,
        costs=BacktestCosts.from_dict(backtest.costs),
        metrics=backtest.metrics,
        equity_curve=backtest.equity_curve,
        trades=trades,
        data=backtest.data,
    )


def market_for(run: Run) -> Market:
    """The stored candles the run went over (its first to its last bar) and the grid; for an
    L2 run, the bars of the stored books' mids it decided on."""
    spec = Instrument.objects.get(symbol=run.symbol).spec()
    if run.data == "l2":
        interval = timedelta(seconds=interval_seconds(run.interval) or 60)
        stream = l2_stream(symbol=run.symbol, start=run.first_bar, end=run.last_bar + interval)
        return Market(bars=bars_from_stream(stream, interval)[0], spec=spec)
    window = candle_window(
        symbol=run.symbol,
        interval=run.interval,
        start=run.first_bar,
        end=run.last_bar + timedelta(microseconds=1),
    )
    bars = Bars(
        starts=window.open_time.astype("datetime64[us]"),
        open=window.open,
        high=window.high,
        low=window.low,
        close=window.close,
        volume=window.volume,
    )
    return Market(bars=bars, spec=spec)


# --- buy and hold, drawdown, merged bars (pure) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuyAndHold:
    """The benchmark: one buy, marked at every close. ``entry_bar`` is None when nothing
    could be bought (no bar to fill on, or the cash buys less than the minimum quantity)."""

    entry_bar: int | None
    quantity: Decimal
    price: Decimal | None
    fee: Decimal
    slippage_cost: Decimal
    equity: FloatArray


def entry_bar(starts: np.ndarray[Any, Any], *, latency: timedelta, latency_bars: int) -> int | None:
    """The bar whose open fills a decision taken at the first bar's close, by the engine's
    rule: the first bar starting at or after the order is active (the first bar's end plus
    ``latency``), and at least ``latency_bars`` bars after the next one. None past the data."""
    times = starts.astype("datetime64[us]")
    if len(times) < 2:
        return None
    active = times[1] + np.timedelta64(latency // timedelta(microseconds=1), "us")
    bar = max(int(np.searchsorted(times, active, side="left")), 1 + latency_bars)
    return bar if bar < len(times) else None


def buy_and_hold(bars: Bars, spec: InstrumentSpec, costs: BacktestCosts) -> BuyAndHold:
    """The whole initial cash in at the first tradable open, fee and slippage paid, held to the
    end (see the module docstring); equity as float64 at every close."""
    cash = costs.initial_cash
    flat = np.full(len(bars), float(cash))
    bar = entry_bar(
        bars.starts,
        latency=timedelta(seconds=float(costs.latency_seconds)),
        latency_bars=costs.latency_bars,
    )
    if bar is None:
        return BuyAndHold(None, Decimal(0), None, Decimal(0), Decimal(0), flat)
    open_price = Decimal(repr(float(bars.open[bar])))
    slipped = open_price * (1 + costs.slippage_bps / _BPS)
    price = (slipped / spec.tick_size).to_integral_value(ROUND_CEILING) * spec.tick_size
    # The most lots the cash pays for, fee included.
    lots = (cash / (price * (1 + costs.fee_rate)) / spec.lot_size).to_integral_value(ROUND_FLOOR)
    quantity = lots * spec.lot_size
    if quantity <= 0 or quantity < spec.min_quantity:
        return BuyAndHold(None, Decimal(0), None, Decimal(0), Decimal(0), flat)
    fee = quantize(quantity * price * costs.fee_rate)
    left = float(cash - quantity * price - fee)
    equity = flat.copy()
    equity[bar:] = left + float(quantity) * bars.close[bar:]
    return BuyAndHold(bar, quantity, price, fee, (price - open_price) * quantity, equity)


def drawdown(equity: Sequence[float] | FloatArray) -> FloatArray:
    """Equity over its running peak, minus one: 0 at a peak, negative below it, and -1 (all
    lost) at most: equity below zero (no margin call is modelled) loses no more than that."""
    values = np.asarray(equity, dtype=np.float64)
    if values.size == 0:
        return values
    result: FloatArray = np.maximum(values / np.maximum.accumulate(values) - 1.0, -1.0)
    return result


def merge_bars(bars: Bars, limit: int = PRICE_BARS) -> tuple[Bars, int]:
    """At most ``limit`` candles: every ``k`` consecutive bars merged into one (first open,
    highest high, lowest low, last close, total volume), with the smallest such ``k``."""
    n = len(bars)
    k = max(1, math.ceil(n / limit))
    if k == 1:
        return bars, 1
    heads = np.arange(0, n, k)
    tails = np.minimum(heads + k, n) - 1
    merged = Bars(
        starts=bars.starts[heads],
        open=bars.open[heads],
        high=np.maximum.reduceat(bars.high, heads),
        low=np.minimum.reduceat(bars.low, heads),
        close=bars.close[tails],
        volume=np.add.reduceat(bars.volume, heads),
    )
    return merged, k


# --- reports --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """A figure, its table (one value column per run) and notes a reader must see."""

    title: str
    figure: go.Figure
    columns: list[str]
    rows: list[tuple[str, list[str]]]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The figure as Plotly's JSON, with the table and notes beside it."""
        return {
            "title": self.title,
            "figure": json.loads(self.figure.to_json()),
            "table": {
                "columns": self.columns,
                "rows": [[label, *values] for label, values in self.rows],
            },
            "notes": self.notes,
        }

    def html(self, plotly_src: str) -> str:
        """A standalone page; ``plotly_src`` is where the browser finds plotly.min.js."""
        return render_to_string(
            "strategies/backtest_report.html",
            {
                "title": self.title,
                "figure": json.loads(self.figure.to_json()),
                "columns": self.columns,
                "rows": self.rows,
                "notes": self.notes,
                "plotly_src": plotly_src,
            },
        )


def backtest_report(run: Run, market: Market) -> Report:
    """Price with trades, equity against buy and hold, drawdown; every metric in the table."""
    bars = market.bars
    benchmark = buy_and_hold(bars, market.spec, run.costs)
    figure = _panels(run.symbol, run.interval, bars)
    for trace in _trade_markers(run.trades):
        figure.add_trace(trace, row=1, col=1)
    times, equity = _curve(run)
    picks = _bar_indices(bars, times)
    figure.add_trace(
        go.Scatter(x=times, y=equity, name=run.label, line={"color": _COLOURS[0]}), row=2, col=1
    )
    figure.add_trace(
        go.Scatter(
            x=times,
            y=benchmark.equity[picks],
            name="buy and hold",
            line={"color": _BENCHMARK, "dash": "dash"},
        ),
        row=2,
        col=1,
    )
    figure.add_trace(
        go.Scatter(
            x=times,
            y=drawdown(equity),
            name=f"{run.label} drawdown",
            fill="tozeroy",
            line={"color": _SHORT},
        ),
        row=3,
        col=1,
    )
    figure.add_trace(
        go.Scatter(
            x=times,
            y=drawdown(benchmark.equity)[picks],
            name="buy and hold drawdown",
            line={"color": _BENCHMARK, "dash": "dash"},
        ),
        row=3,
        col=1,
    )
    title = f"Backtest: {run.label} on {run.symbol} {run.interval}"
    rows = [(label, [value]) for label, value in _metric_rows(run)]
    rows += [(label, [value]) for label, value in _benchmark_rows(benchmark, bars, run.costs)]
    return Report(title, figure, ["", run.label], rows, _notes([run], bars, benchmark=True))


def comparison_report(runs: Sequence[Run], market: Market, title: str) -> Report:
    """One equity chart and one drawdown chart with every run, below the price; the table has
    one column per run. The runs must have gone over the same bars."""
    if not runs:
        raise ValueError("a comparison needs at least one run")
    bars = market.bars
    figure = _panels(runs[0].symbol, runs[0].interval, bars)
    for index, run in enumerate(runs):
        colour = _COLOURS[index % len(_COLOURS)]
        times, equity = _curve(run)
        figure.add_trace(
            go.Scatter(x=times, y=equity, name=run.label, line={"color": colour}),
            row=2,
            col=1,
        )
        figure.add_trace(
            go.Scatter(
                x=times,
                y=drawdown(equity),
                name=f"{run.label} drawdown",
                line={"color": colour},
                showlegend=False,
            ),
            row=3,
            col=1,
        )
    tables = [dict(_metric_rows(run)) for run in runs]
    rows = [(label, [table.get(label, "") for table in tables]) for label in tables[0]]
    columns = ["", *(run.label for run in runs)]
    return Report(title, figure, columns, rows, _notes(runs, bars, benchmark=False))


def plotly_js(request: HttpRequest) -> FileResponse:
    """plotly.min.js from the installed plotly package: the machines may have no internet."""
    response = FileResponse(PLOTLY_JS.open("rb"), content_type="text/javascript")
    response["Cache-Control"] = "public, max-age=86400"
    return response


# --- pieces -------------------------------------------------------------------------------------


def _panels(symbol: str, interval: str, bars: Bars) -> go.Figure:
    merged, k = merge_bars(bars)
    per_candle = f"{interval} bars" if k == 1 else f"each candle {k} {interval} bars"
    figure = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        row_heights=[0.5, 0.3, 0.2],
        subplot_titles=(
            f"{symbol} price ({per_candle}) and trades",
            "equity",
            "drawdown",
        ),
    )
    figure.add_trace(
        go.Candlestick(
            x=_times(merged.starts),
            open=merged.open,
            high=merged.high,
            low=merged.low,
            close=merged.close,
            name=symbol,
            showlegend=False,
        ),
        row=1,
        col=1,
    )
    figure.update_layout(
        height=900,
        hovermode="closest",
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.05},
    )
    figure.update_xaxes(rangeslider_visible=False)
    figure.update_yaxes(title_text="price", row=1, col=1)
    figure.update_yaxes(title_text="equity", row=2, col=1)
    figure.update_yaxes(title_text="drawdown", tickformat=".0%", row=3, col=1)
    return figure


def _trade_markers(trades: Sequence[Mapping[str, Any]]) -> list[go.Scatter]:
    """Entry markers (triangles: up for a long, down for a short) and exit markers (x)."""
    traces = []
    for side, symbol, colour, name in (
        ("buy", "triangle-up", _LONG, "long entry"),
        ("sell", "triangle-down", _SHORT, "short entry"),
    ):
        chosen = [t for t in trades if t["side"] == side]
        traces.append(
            go.Scatter(
                x=[_short_time(t["entry_time"]) for t in chosen],
                y=[float(t["entry_price"]) for t in chosen],
                mode="markers",
                name=name,
                marker={"symbol": symbol, "color": colour, "size": 10},
                text=[_hover(t, "entry") for t in chosen],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    closed = [t for t in trades if t.get("exit_time")]
    traces.append(
        go.Scatter(
            x=[_short_time(t["exit_time"]) for t in closed],
            y=[float(t["exit_price"]) for t in closed],
            mode="markers",
            name="exit",
            marker={
                "symbol": "x",
                "size": 9,
                "color": [_LONG if t["side"] == "buy" else _SHORT for t in closed],
                "line": {"width": 1, "color": _EXIT},
            },
            text=[_hover(t, "exit") for t in closed],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    return traces


def _hover(trade: Mapping[str, Any], end: str) -> str:
    side = "long" if trade["side"] == "buy" else "short"
    pnl = trade.get("net_pnl")
    lines = [
        f"<b>{side} {end}</b>",
        f"qty {trade['quantity']}",
        f"entry {trade['entry_price']} at {_short_time(trade['entry_time'])}",
        f"exit {trade['exit_price']} at {_short_time(trade['exit_time'])}"
        if trade.get("exit_time")
        else "still open at the end (marked, not closed)",
        f"fees {_money(trade['fees'])}",
        f"slippage {_money(trade['slippage_cost'])}",
        f"net P&L {_money(pnl)}" if pnl is not None else "net P&L: open",
    ]
    return "<br>".join(lines)


def _curve(run: Run) -> tuple[list[str], FloatArray]:
    times = [_short_time(point[0]) for point in run.equity_curve]
    return times, np.array([float(point[1]) for point in run.equity_curve], dtype=np.float64)


def _bar_indices(bars: Bars, times: Sequence[str]) -> np.ndarray[Any, Any]:
    """The bar of each equity point (the curve is thinned; the benchmark is not)."""
    stamps = np.array([np.datetime64(t.replace(" ", "T"), "us") for t in times])
    starts = bars.starts.astype("datetime64[us]")
    return np.clip(np.searchsorted(starts, stamps, side="left"), 0, max(len(bars) - 1, 0))


def _metric_rows(run: Run) -> list[tuple[str, str]]:
    m = run.metrics
    costs = run.costs
    drawdown_ = m.get("max_drawdown") or {}
    trades = int(m.get("trade_count", 0))
    return [
        ("total return", _percent(m.get("total_return"))),
        ("CAGR", _percent(m.get("cagr"))),
        ("Sharpe", _ratio(m.get("sharpe_ratio"))),
        ("Sortino", _ratio(m.get("sortino_ratio"))),
        (
            "max drawdown",
            "-100.00% (ruined)"
            if m.get("ruined")
            else f"{_percent(-float(drawdown_.get('depth', 0.0)))} "
            f"({_money(drawdown_.get('peak_to_trough'))})",
        ),
        ("ruined", _ruined(m.get("ruined"))),
        ("win rate", _percent(m.get("win_rate")) if trades else "no trades"),
        ("profit factor", _profit_factor(m.get("profit_factor"), trades)),
        ("exposure", _percent(_number(run.metrics.get("exposure")))),
        ("trades (closed)", str(trades)),
        ("open at the end", "yes" if m.get("open_trade") else "no"),
        ("total costs", _money(m.get("total_costs"))),
        ("  fees", _money(m.get("total_fees"))),
        ("  slippage", _money(m.get("total_slippage_cost"))),
        ("initial cash", _money(m.get("initial_cash"))),
        ("final equity", _money(m.get("final_equity"))),
        ("fee rate (per fill)", f"{float(costs.fee_rate * _BPS):g} bps"),
        ("slippage (per fill)", f"{float(costs.slippage_bps):g} bps"),
        ("latency", f"{float(costs.latency_seconds):g} s + {costs.latency_bars} bars"),
        ("order size", str(m.get("order_size", ""))),
        ("first bar", _short_time(m.get("first_bar"))),
        ("last bar", _short_time(m.get("last_bar"))),
        ("bars", f"{m.get('bars')} x {run.interval}"),
        ("walk-forward", _walk_forward(run)),
    ]


def _benchmark_rows(
    benchmark: BuyAndHold, bars: Bars, costs: BacktestCosts
) -> list[tuple[str, str]]:
    if benchmark.entry_bar is None:
        return [("buy and hold", "no fill possible in this window")]
    equity = benchmark.equity
    total = equity[-1] / float(costs.initial_cash) - 1.0
    return [
        ("buy and hold: total return", _percent(total)),
        ("buy and hold: max drawdown", _percent(float(drawdown(equity).min()))),
        ("buy and hold: bought", f"{benchmark.quantity} at {benchmark.price}"),
        ("buy and hold: on", _times(bars.starts[[benchmark.entry_bar]])[0]),
        ("buy and hold: fee", _money(benchmark.fee)),
        ("buy and hold: slippage", _money(benchmark.slippage_cost)),
    ]


def _ruined(record: Any) -> str:
    if not isinstance(record, Mapping):
        return "no"
    return f"at {_short_time(record.get('at'))}, equity {_money(record.get('equity'))}"


def _walk_forward(run: Run) -> str:
    record = run.metrics.get("walk_forward")
    if isinstance(record, Mapping):
        folds = record.get("folds", record.get("refits"))
        count = len(folds) if isinstance(folds, list) else folds
        return f"yes, {count} fits" if count is not None else "yes"
    if run.kind in MODEL_KINDS or run.kind == "simple_ml":
        return "NO walk-forward record: do not trust these numbers"
    return "no model"


def _notes(runs: Sequence[Run], bars: Bars, *, benchmark: bool) -> list[str]:
    notes = [
        "Costs are in every number: each fill pays the fee rate on its value and fills at the "
        "bar's open moved against us by the slippage (on the tick grid).",
        "A decision at a bar's close fills at a later bar's open (latency as shown): no "
        "trade uses the bar that decided it.",
        "Equity and drawdown are drawn from the saved curve (at most 1,000 points); the table's "
        "max drawdown is exact, on every bar. Exposure includes a trade still open at the end; "
        "win rate and profit factor count closed trades only.",
    ]
    if benchmark:
        notes.append(
            "Buy and hold: the whole initial cash buys at the first open a decision at the "
            "first close could fill at, with the same fee and slippage, and is held; it pays "
            "one fee."
        )
    if len(bars) > PRICE_BARS:
        notes.append(f"{len(bars)} bars: the price panel merges them into at most {PRICE_BARS}.")
    for run in runs:
        ruined = run.metrics.get("ruined")
        if isinstance(ruined, Mapping):
            notes.append(f"{run.label}: {ruined.get('note')}; its ratios are those before it.")
        record = run.metrics.get("walk_forward")
        if isinstance(record, Mapping):
            notes.append(f"{run.label}: walk-forward, {_WALK_FORWARD}: {_plain(record)}")
    return notes


def _plain(record: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{key} {value}" for key, value in record.items() if not isinstance(value, list | dict)
    )


def _times(starts: np.ndarray[Any, Any]) -> list[str]:
    return [_short_time(str(t)) for t in starts.astype("datetime64[s]")]


def _short_time(value: Any) -> str:
    """ISO time as 'YYYY-MM-DD HH:MM' (UTC): short in the page, and read by Plotly as a date."""
    if value is None:
        return ""
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M")


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _percent(value: Any) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:.2%}"


def _ratio(value: Any) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:.2f}"


def _money(value: Any) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:,.2f}"


def _profit_factor(value: Any, trades: int) -> str:
    if not trades:
        return "no trades"
    number = _number(value)
    return "no losing trade" if number is None else f"{number:.2f}"
