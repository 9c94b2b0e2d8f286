"""The backtest report: buy and hold checked by hand on a tiny series, the panels and trade
markers of the figure, and the API's report (HTML, JSON, owner-only) on the real EURUSD
hourly candles."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal as D

import numpy as np
import pytest
from django.urls import reverse

from execution.domain.metrics import cagr
from execution.domain.values import InstrumentSpec
from strategies.costs import BacktestCosts
from strategies.domain.base import Bars
from strategies.report import (
    Market,
    Run,
    backtest_report,
    buy_and_hold,
    drawdown,
    entry_bar,
    merge_bars,
)
from strategies.services import backtest_run, backtest_start
from tests.execution.api.conftest import client_for
from tests.factories import make_user
from tests.strategies.api.conftest import BASE
from tests.strategies.services.conftest import eurusd  # noqa: F401 (a fixture)

SPEC = InstrumentSpec("ABC", "ABC", "USD", tick_size=D("0.01"), lot_size=D(1), min_quantity=D(1))


def tiny_bars() -> Bars:
    starts = np.array(
        ["2024-01-01T00", "2024-01-01T01", "2024-01-01T02", "2024-01-01T03"],
        dtype="datetime64[us]",
    )
    return Bars(
        starts=starts,
        open=np.array([100.0, 101.0, 103.0, 102.0]),
        high=np.array([101.0, 102.5, 104.5, 103.0]),
        low=np.array([99.5, 100.5, 102.0, 100.0]),
        close=np.array([100.5, 102.0, 104.0, 101.0]),
        volume=np.array([10.0, 11.0, 12.0, 13.0]),
    )


def costs(**overrides) -> BacktestCosts:
    values = {"fee_rate": D("0.001"), "slippage_bps": D(10), "initial_cash": D(1000)}
    return BacktestCosts(**{**values, **overrides})


def test_buy_and_hold_by_hand():
    result = buy_and_hold(tiny_bars(), SPEC, costs())
    # Decided at bar 0's close, filled at bar 1's open 101, 10 bps worse: 101.101, rounded up
    # onto the cent grid: 101.11. 1000 / (101.11 x 1.001) = 9.88 -> 9 units.
    assert result.entry_bar == 1
    assert (result.price, result.quantity) == (D("101.11"), D(9))
    assert result.fee == D("0.90999")  # 9 x 101.11 x 0.001
    assert result.slippage_cost == D("0.99")  # (101.11 - 101) x 9
    cash = 1000 - 909.99 - 0.90999
    assert result.equity.tolist() == pytest.approx(
        [1000.0, cash + 9 * 102, cash + 9 * 104, cash + 9 * 101], abs=1e-9
    )


def test_buy_and_hold_waits_for_latency_and_never_fills_past_the_data():
    assert buy_and_hold(tiny_bars(), SPEC, costs(latency_bars=1)).entry_bar == 2
    # 90 minutes after the first bar's end: the first bar starting after that is bar 3.
    assert buy_and_hold(tiny_bars(), SPEC, costs(latency_seconds=D(5400))).entry_bar == 3
    never = buy_and_hold(tiny_bars(), SPEC, costs(latency_bars=3))
    assert never.entry_bar is None and never.equity.tolist() == [1000.0] * 4
    broke = buy_and_hold(tiny_bars(), SPEC, costs(initial_cash=D(50)))  # less than one unit
    assert broke.entry_bar is None
    assert entry_bar(tiny_bars().starts[:1], latency=timedelta(0), latency_bars=0) is None


def test_drawdown_merge_and_cagr_by_hand():
    assert drawdown([100.0, 120.0, 90.0, 130.0]).tolist() == pytest.approx([0, 0, -0.25, 0])
    merged, k = merge_bars(tiny_bars(), limit=2)
    assert k == 2 and len(merged) == 2
    assert merged.open.tolist() == [100.0, 103.0] and merged.close.tolist() == [102.0, 101.0]
    assert merged.high.tolist() == [102.5, 104.5] and merged.low.tolist() == [99.5, 100.0]
    assert merge_bars(tiny_bars(), limit=4)[1] == 1
    assert cagr(D("0.21"), timedelta(days=2 * 365.25)) == pytest.approx(0.1)
    assert cagr(D(-1), timedelta(days=1)) == -1.0
    assert cagr(D(1000), timedelta(hours=1)) is None  # not a finite rate


def tiny_run() -> Run:
    trades: list[dict[str, object]] = [
        {
            "side": "buy", "quantity": "9", "entry_time": "2024-01-01T01:00:00+00:00",
            "entry_price": "101.11", "exit_time": "2024-01-01T02:00:00+00:00",
            "exit_price": "102.89", "fees": "1.84", "slippage_cost": "1.98", "net_pnl": "14.18",
        },
        {
            "side": "sell", "quantity": "9", "entry_time": "2024-01-01T03:00:00+00:00",
            "entry_price": "101.89", "exit_time": None, "exit_price": None, "fees": "0.92",
            "slippage_cost": "0.99", "net_pnl": None, "open": True,
        },
    ]  # fmt: skip
    equity = [
        ["2024-01-01T00:00:00+00:00", 1000.0],
        ["2024-01-01T01:00:00+00:00", 1006.0],
        ["2024-01-01T02:00:00+00:00", 1014.2],
        ["2024-01-01T03:00:00+00:00", 1012.3],
    ]
    metrics = {
        "total_return": "0.0123", "cagr": 12.5, "sharpe_ratio": 1.5, "sortino_ratio": 2.0,
        "max_drawdown": {"depth": 0.0019, "peak_to_trough": "1.9"}, "win_rate": 1.0,
        "profit_factor": None, "exposure": 1 / 3, "trade_count": 1, "total_fees": "2.76",
        "total_slippage_cost": "2.97", "total_costs": "5.73", "initial_cash": "1000",
        "final_equity": "1012.3", "order_size": "9", "bars": 4,
        "first_bar": "2024-01-01T00:00:00+00:00", "last_bar": "2024-01-01T03:00:00+00:00",
        "open_trade": trades[1],
    }  # fmt: skip
    return Run("mine", "sma_crossover", "ABC", "1h", costs(), metrics, equity, trades)


def test_the_figure_has_three_linked_panels_and_a_marker_per_trade():
    report = backtest_report(tiny_run(), Market(tiny_bars(), SPEC))
    layout = report.figure.layout
    assert [a.title.text for a in (layout.yaxis, layout.yaxis2, layout.yaxis3)] == [
        "price", "equity", "drawdown",
    ]  # fmt: skip
    assert layout.xaxis.matches == layout.xaxis2.matches == "x3"  # one time axis for all
    traces = {trace.name: trace for trace in report.figure.data}
    assert set(traces) >= {"long entry", "short entry", "exit", "mine", "buy and hold"}
    entries = list(traces["long entry"].x) + list(traces["short entry"].x)
    assert entries == ["2024-01-01 01:00", "2024-01-01 03:00"]  # both trades, the open one too
    assert list(traces["short entry"].y) == [101.89]
    assert list(traces["exit"].x) == ["2024-01-01 02:00"] and list(traces["exit"].y) == [102.89]
    hover = traces["long entry"].text[0]
    for part in ("long entry", "qty 9", "fees 1.84", "slippage 1.98", "net P&L 14.18"):
        assert part in hover
    assert "still open" in traces["short entry"].text[0]
    # Buy and hold on the figure is the hand-checked one, at the curve's points.
    hand = buy_and_hold(tiny_bars(), SPEC, costs()).equity
    assert list(traces["buy and hold"].y) == pytest.approx(hand.tolist())
    table = dict((label, values[0]) for label, values in report.rows)
    assert table["total costs"] == "5.73" and table["  fees"] == "2.76"
    assert table["  slippage"] == "2.97" and table["fee rate (per fill)"] == "10 bps"
    assert table["profit factor"] == "no losing trade" and table["CAGR"] == "1250.00%"
    assert table["exposure"] == "33.33%"  # the open trade entered on the last bar
    assert table["buy and hold: bought"] == "9 at 101.11"
    for row in ("Sharpe", "Sortino", "max drawdown", "win rate", "trades (closed)", "bars"):
        assert table[row]
    assert report.to_json()["figure"]["data"]


def test_a_long_run_merges_its_candles_so_the_page_stays_small():
    n = 100_000
    rng = np.random.default_rng(7)
    close = np.round(100 + np.cumsum(rng.normal(0, 0.1, n)), 2)
    starts = np.datetime64("2020-01-01T00", "us") + np.arange(n) * np.timedelta64(1, "h")
    bars = Bars(starts, close, close + 0.05, close - 0.05, close, np.ones(n))
    run = tiny_run()
    curve = [[str(starts[i]) + "+00:00", 1000.0 + i % 7] for i in range(0, n, 100)]
    long_run = Run(
        "long", "sma_crossover", "ABC", "1h", costs(),
        {**run.metrics, "bars": n, "last_bar": str(starts[-1]) + "+00:00"}, curve, run.trades,
    )  # fmt: skip
    html = backtest_report(long_run, Market(bars, SPEC)).html("/vendor/plotly.min.js")
    assert len(html.encode()) < 3_000_000
    assert "merges them into at most 2000" in html


@pytest.fixture
def finished(user, eurusd):  # noqa: F811
    backtest = backtest_start(
        owner_id=user.pk, kind="mean_reversion", symbol="EURUSD", interval="1h",
        costs={"fee_rate": D("0.0001"), "slippage_bps": D("0.5")},
    )  # fmt: skip
    return backtest_run(backtest_id=backtest.pk)


def test_the_api_serves_the_report_as_html_and_json_to_its_owner_only(user, finished):
    url = f"{BASE}backtests/{finished.pk}/report/"
    page = client_for(user).get(url)
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    # Everything from this site (no CDN), the drawing script a file (no inline script for the CSP)
    assert re.findall(r'src="([^"]*)"', html) == [
        "/vendor/plotly.min.js",
        "/static/js/backtest_report.js",
    ]
    assert "<script>" not in html and "<style>" not in html
    assert "total costs" in html and "buy and hold" in html
    data = client_for(user).get(url, {"format": "json"}).json()
    assert len(data["figure"]["data"]) >= 7
    labels = [row[0] for row in data["table"]["rows"]]
    for label in ("total return", "CAGR", "Sharpe", "Sortino", "max drawdown", "win rate"):
        assert label in labels
    for label in ("profit factor", "exposure", "trades (closed)", "total costs"):
        assert label in labels
    intruder = client_for(make_user("intruder"))
    assert intruder.get(url).status_code == 404
    assert intruder.get(url, {"format": "json"}).status_code == 404


def test_the_plotly_library_is_served_by_the_site(client):
    response = client.get("/vendor/plotly.min.js")
    assert response.status_code == 200
    assert b"plotly" in b"".join(response.streaming_content)[:2000].lower()


def test_a_backtest_without_a_result_has_no_report_yet(user, eurusd):  # noqa: F811
    queued = backtest_start(owner_id=user.pk, kind="buy_and_hold", symbol="EURUSD", interval="1h")
    response = client_for(user).get(f"{BASE}backtests/{queued.pk}/report/", {"format": "json"})
    assert response.status_code == 409


def test_the_admin_links_each_finished_backtest_to_its_report(client, finished):
    client.force_login(make_user("boss", staff=True))
    listing = client.get(reverse("admin:strategies_backtest_changelist"))
    url = reverse("admin:strategies_backtest_report", args=[finished.pk])
    assert url in listing.content.decode()
    page = client.get(url)
    assert page.status_code == 200 and b"total costs" in page.content


def test_a_ruined_run_loses_everything_and_no_more():
    assert drawdown([100.0, 50.0, -20.0]).tolist() == pytest.approx([0, -0.5, -1.0])
    run = tiny_run()
    ruined = {"at": "2024-01-01T02:00:00+00:00", "equity": "-5", "note": "ruined here"}
    metrics = {**run.metrics, "total_return": "-1", "ruined": ruined}
    report = backtest_report(
        Run("mine", "sma_crossover", "ABC", "1h", costs(), metrics, run.equity_curve, run.trades),
        Market(tiny_bars(), SPEC),
    )
    table = {label: values[0] for label, values in report.rows}
    assert table["max drawdown"] == "-100.00% (ruined)" and table["total return"] == "-100.00%"
    assert table["ruined"] == "at 2024-01-01 02:00, equity -5.00"
    assert any("ruined here" in note for note in report.notes)
