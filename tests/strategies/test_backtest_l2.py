"""The L2 backtester on a seeded simulated market (execution.domain.marketsim): each algorithm
works its parent through the paper venue's matching engine, risk refusals are recorded, and
the accounting is exact. No database: everything here is the pure domain."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache

import numpy as np
import pytest

from execution.domain.algos import ParentStatus
from execution.domain.errors import DomainError
from execution.domain.marketsim import Candle, MarketSimConfig, simulate_events
from execution.domain.orders import OrderStatus, OrderType
from execution.domain.quality import BookLevels
from execution.domain.risk import RiskLimits
from execution.domain.values import ZERO, InstrumentSpec, Liquidity, Side, exact
from strategies.backtest.l2 import (
    InvalidL2Config,
    L2BacktestConfig,
    L2BacktestResult,
    L2Stream,
    TouchImbalance,
    bars_from_stream,
    run_l2_backtest,
)
from strategies.backtest.l2.stream import FloatArray
from strategies.library.sma_crossover import SmaCrossover, SmaCrossoverConfig

SPEC = InstrumentSpec(
    symbol="BTC-USDT",
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.001"),
    min_quantity=Decimal("0.001"),
)
START = datetime(2024, 1, 1, tzinfo=UTC)
CASH = Decimal(1_000_000)


def _candles(bars: int, seed: int) -> list[Candle]:
    """A seeded random walk of one-minute mid candles around 30,000."""
    rng = np.random.default_rng(seed)
    price, candles = 30_000.0, []
    for index in range(bars):
        path = price + np.cumsum(rng.normal(0, 15, 4))
        close = round(float(path[-1]), 1)
        high = round(max(price, close, float(path.max())) + 1, 1)
        low = round(min(price, close, float(path.min())) - 1, 1)
        candles.append(
            Candle(
                at=START + timedelta(minutes=index),
                open=Decimal(repr(round(price, 1))),
                high=Decimal(repr(high)),
                low=Decimal(repr(low)),
                close=Decimal(repr(close)),
                volume=Decimal(5),
            )
        )
        price = close
    return candles


@cache
def _stream(bars: int = 10, substeps: int = 30) -> L2Stream:
    events = simulate_events(
        _candles(bars, seed=3),
        tick_size=SPEC.tick_size,
        lot_size=SPEC.lot_size,
        seed=11,
        config=MarketSimConfig(substeps=substeps),
    )
    return L2Stream.from_events(events, SPEC)


@dataclasses.dataclass(frozen=True)
class Scripted:
    """A book strategy that moves its target at given snapshots (rows of the stream)."""

    changes: tuple[tuple[int, float], ...]

    @property
    def name(self) -> str:
        return "scripted"

    def book_targets(self, stream: L2Stream) -> FloatArray:
        targets = np.zeros(len(stream.book_us))
        for row, target in self.changes:
            targets[row:] = target
        return targets


def _config(**changes: object) -> L2BacktestConfig:
    settings: dict[str, object] = {
        "order_size": Decimal(1),
        "initial_cash": CASH,
        "latency": timedelta(0),
    }
    return L2BacktestConfig(**(settings | changes))  # type: ignore[arg-type]


def _snapshot_book(stream: L2Stream, row: int) -> BookLevels:
    bids, asks = stream.levels(row)
    return BookLevels(
        bids=tuple((stream.price(p), p_lots(s)) for p, s in bids),
        asks=tuple((stream.price(p), p_lots(s)) for p, s in asks),
    )


def p_lots(lots: int) -> Decimal:
    with exact():
        return lots * SPEC.lot_size


def test_a_market_parent_walks_the_book_and_pays_the_spread() -> None:
    stream = _stream()
    row = 40
    result = run_l2_backtest(Scripted(((row, 1.0),)), stream, _config(algorithm="market"))

    (report,) = result.parents
    parent = report.parent
    assert parent.status is ParentStatus.FILLED
    (child,) = parent.children
    assert child.order_type is OrderType.MARKET and child.quantity == Decimal(1)
    # No latency: the child meets the snapshot the decision was taken on, and takes its asks
    # best first, one fill per level, as a market order walking that book would.
    book = _snapshot_book(stream, row)
    walked = book.walk(Side.BUY, Decimal(1))
    assert len(walked) > 1
    assert [(f.event.price, f.event.quantity) for f in result.fills] == list(walked)
    assert {f.event.liquidity for f in result.fills} == {Liquidity.TAKER}
    mid = book.mid
    assert mid is not None
    assert all(f.event.price > mid and f.cost_vs_mid > 0 for f in result.fills)
    for fill in result.fills:
        with exact():
            assert fill.event.fee == fill.event.quantity * fill.event.price * Decimal("0.0005")
    quality = report.quality
    assert quality is not None
    assert quality.arrival_mid == mid and quality.slippage_bps is not None
    assert quality.slippage_bps > 0
    assert quality.improvement_bps == 0  # it *is* the market-order baseline


def test_b_limit_with_timeout_rests_partly_fills_and_falls_back() -> None:
    stream = _stream()
    row, timeout = 7, 3
    config = _config(
        order_size=Decimal(2),
        latency=timedelta(milliseconds=20),
        algorithm="limit",
        algorithm_params={
            "timeout": timeout,
            "fallback_to_market": True,
            "max_child_slippage_bps": 1000,
        },
    )
    result = run_l2_backtest(Scripted(((row, -1.0),)), stream, config)

    parent = result.parents[0].parent
    assert parent.status is ParentStatus.FILLED and parent.side is Side.SELL
    limit, market = parent.children
    assert limit.order_type is OrderType.LIMIT
    assert limit.price == stream.price(int(stream.ask_ticks[row, 0]))  # joins its own touch
    assert limit.status is OrderStatus.CANCELLED
    assert 0 < limit.filled_quantity < limit.quantity
    assert market.order_type is OrderType.MARKET
    # The timer fires at the timeout; the cancel is confirmed at once, and the rest goes.
    assert market.sent_at == parent.started_at + timedelta(seconds=timeout)
    assert market.quantity == limit.quantity - limit.filled_quantity
    assert market.status is OrderStatus.FILLED
    by_child = {c: [f for f in result.fills if f.client_order_id == c] for c in ("bt1c1", "bt1c2")}
    assert {f.event.liquidity for f in by_child["bt1c1"]} == {Liquidity.MAKER}
    assert all(f.event.price == limit.price for f in by_child["bt1c1"])
    assert all(f.at < market.sent_at for f in by_child["bt1c1"])
    assert {f.event.liquidity for f in by_child["bt1c2"]} == {Liquidity.TAKER}
    assert result.position.quantity == Decimal(-2)


def test_c_twap_splits_into_the_expected_children() -> None:
    config = _config(
        order_size=Decimal("0.01"),
        algorithm="twap",
        algorithm_params={"duration": 60, "num_slices": 3},
    )
    result = run_l2_backtest(Scripted(((20, 1.0),)), _stream(), config)

    parent = result.parents[0].parent
    assert parent.status is ParentStatus.FILLED
    started = parent.started_at
    assert [(c.quantity, c.sent_at - started) for c in parent.children] == [
        (Decimal("0.003"), timedelta(0)),
        (Decimal("0.003"), timedelta(seconds=20)),
        (Decimal("0.004"), timedelta(seconds=40)),
    ]
    assert all(c.order_type is OrderType.MARKET for c in parent.children)
    assert result.position.quantity == Decimal("0.01")


def test_d_a_risk_refusal_is_recorded_and_stops_the_parent() -> None:
    limits = RiskLimits(max_order_quantity=Decimal("0.5"))
    result = run_l2_backtest(
        Scripted(((20, 1.0),)), _stream(), _config(algorithm="market", risk_limits=limits)
    )

    (refusal,) = result.refusals
    assert refusal.client_order_id == "bt1c1" and refusal.quantity == Decimal(1)
    assert [v.rule for v in refusal.violations] == ["max_order_size"]
    parent = result.parents[0].parent
    assert parent.status is ParentStatus.STOPPED
    assert parent.ending is not None and "rejected" in parent.ending.reason
    assert result.fills == () and result.final_equity == CASH


def test_e_final_equity_is_cash_plus_realised_plus_unrealised_exactly() -> None:
    stream = _stream()
    config = _config(
        algorithm="limit",
        algorithm_params={"timeout": 5, "fallback_to_market": True},
        latency=timedelta(milliseconds=30),
    )
    result = run_l2_backtest(TouchImbalance(0.7), stream, config)
    assert len(result.trades) >= 3

    # Independently: cash paid for every fill and its fee, plus the position at the last mid.
    last_row = len(stream.book_us) - 1
    final_mid = stream.mid(last_row)
    assert result.final_mid == final_mid
    with exact():
        cash = CASH - sum(
            (f.event.side.sign * f.event.quantity * f.event.price + f.event.fee)
            for f in result.fills
        )
        held = sum((f.event.side.sign * f.event.quantity for f in result.fills), ZERO)
        assert result.position.quantity == held
        assert result.final_equity == cash + held * final_mid
        state = result.position
        assert result.final_equity == (CASH + state.realized_pnl + state.unrealized_pnl(final_mid))
        assert result.equity_curve[-1][1] == result.final_equity
        closed = sum((t.net_pnl for t in result.trades if t.net_pnl is not None), ZERO)
        if result.open_trade is None:
            assert closed == state.realized_pnl
    summary = result.summary()
    assert summary.trade_count == len(result.trades)
    assert summary.total_return == result.final_equity / CASH - 1


def _comparable(result: L2BacktestResult) -> L2BacktestResult:
    return dataclasses.replace(result, engine_events=0)


def test_f_the_same_run_twice_is_identical_and_skipping_idle_events_changes_nothing() -> None:
    stream = _stream()
    strategy = SmaCrossover(SmaCrossoverConfig(fast_window=2, slow_window=3))
    for config in (
        _config(algorithm=None, latency=timedelta(milliseconds=15)),
        _config(
            algorithm="iceberg",
            algorithm_params={"visible_pct": "0.25", "max_refresh_time": 5},
            latency=timedelta(milliseconds=10),
            latency_jitter=timedelta(milliseconds=20),
            seed=5,
        ),
    ):
        first = run_l2_backtest(strategy, stream, config)
        second = run_l2_backtest(strategy, stream, config)
        assert first == second
        assert first.parents and first.fills
        eager = run_l2_backtest(strategy, stream, config, skip_idle=False)
        assert eager.engine_events == len(stream) > first.engine_events
        assert _comparable(eager) == _comparable(first)


def test_urgency_picks_the_algorithm_from_the_book() -> None:
    result = run_l2_backtest(
        SmaCrossover(SmaCrossoverConfig(fast_window=2, slow_window=3)),
        _stream(),
        _config(algorithm=None, signal_strength=0.6),
    )
    # A medium signal is balanced: a limit at the own touch for 30 s, then market.
    kinds = {report.parent.algorithm.kind for report in result.parents}
    assert kinds <= {"limit", "twap"} and result.parents


def test_bars_from_stream_are_the_mids_of_each_interval() -> None:
    stream = _stream()
    bars, ends = bars_from_stream(stream, timedelta(minutes=1))
    assert len(bars) == 10
    first_minute = stream.book_us < int(ends[0])
    mids = stream.mid_ticks[first_minute] * 0.1
    assert bars.open[0] == pytest.approx(mids[0]) and bars.close[0] == pytest.approx(mids[-1])
    assert bars.high[0] == pytest.approx(mids.max()) and bars.low[0] == pytest.approx(mids.min())
    lots = stream.trade_lots[stream.trade_us < int(ends[0])].sum()
    assert bars.volume[0] == pytest.approx(lots * 0.001)


def test_bad_settings_are_refused_by_name() -> None:
    for changes, field in (
        ({"order_size": Decimal(0)}, "order_size"),
        ({"initial_cash": 1.5}, "initial_cash"),
        ({"latency": timedelta(seconds=-1)}, "latency"),
        ({"signal_strength": 2.0}, "signal_strength"),
        ({"algorithm": "teleport"}, "algorithm"),
        ({"algorithm": "twap", "algorithm_params": {"duration": 0}}, "algorithm_params.duration"),
        ({"algorithm": "market", "algorithm_params": {"size": 1}}, "algorithm_params.size"),
    ):
        with pytest.raises(InvalidL2Config) as caught:
            _config(**changes)
        assert caught.value.field == field


def test_a_crossed_snapshot_is_refused_before_the_run() -> None:
    stream = _stream()
    asks = stream.ask_ticks.copy()
    asks[5] -= asks[5, 0] - stream.bid_ticks[5, 0]  # best ask down onto the best bid
    with pytest.raises(DomainError, match="snapshot 5 is crossed"):
        dataclasses.replace(stream, ask_ticks=asks)


def test_a_reversal_needs_balance_for_its_new_side_only() -> None:
    """Long the whole cash's worth, then short as much: the sell first closes the long, whose
    margin it frees, so it is accepted (as in the candle backtester)."""
    mid = float(_stream().price(_stream().levels(0)[1][0][0]))
    cash = Decimal(10_000)
    size = (cash / Decimal(repr(mid)) * Decimal("0.9")).quantize(SPEC.lot_size)
    limits = RiskLimits(max_position_value=Decimal(1))
    result = run_l2_backtest(
        Scripted(((20, 1.0), (60, -1.0))), _stream(),
        _config(algorithm="market", risk_limits=limits, order_size=size, initial_cash=cash),
    )  # fmt: skip
    assert result.refusals == ()
    assert result.position.quantity == -size
