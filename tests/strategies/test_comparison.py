"""Comparison runs on the real EURUSD hourly candles: every kind over exactly the same bars
and costs, through the service, the API (owner-only) and the command; bad input refused by
field with nothing saved."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from strategies.comparison import comparison_report_for, comparison_run, comparison_start
from strategies.kinds import InvalidStrategyConfig
from tests.execution.api.conftest import client_for
from tests.factories import make_user
from tests.strategies.api.conftest import BASE, row_counts
from tests.strategies.services.conftest import eurusd  # noqa: F401 (a fixture)

START = datetime(2017, 6, 1, tzinfo=UTC)
END = datetime(2017, 10, 1, tzinfo=UTC)
COSTS = {"fee_rate": D("0.0001"), "slippage_bps": D("0.5"), "latency_bars": 1}


def test_every_kind_runs_on_the_same_bars_and_costs(user, eurusd):  # noqa: F811
    comparison = comparison_start(
        owner_id=user.pk, symbol="EURUSD", interval="1h", start=START, end=END, costs=COSTS,
        queue=False,
    )  # fmt: skip
    seen = []
    comparison_run(comparison_id=comparison.pk, progress=lambda f, m: seen.append(f))
    backtests = list(comparison.backtests.order_by("pk"))
    assert [b.kind for b in backtests] == ["simple_ml", "mean_reversion", "buy_and_hold"]
    assert all(b.status == "succeeded" for b in backtests), [b.error for b in backtests]
    windows = {tuple(b.metrics[k] for k in ("first_bar", "last_bar", "bars")) for b in backtests}
    assert windows == {("2017-06-01T00:00:00+00:00", "2017-09-29T20:00:00+00:00", 2085)}
    assert {tuple(sorted(b.costs.items())) for b in backtests} == {
        tuple(sorted(comparison.costs.items()))
    }
    assert comparison.costs["fee_rate"] == "0.0001" and comparison.costs["latency_bars"] == 1
    assert seen == sorted(seen) and seen[-1] > 0.9  # over all three, in order
    report = comparison_report_for(comparison)
    assert report.columns == ["", "simple_ml", "mean_reversion", "buy_and_hold"]
    table = dict(report.rows)
    for row in ("first bar", "last bar", "bars", "fee rate (per fill)", "slippage (per fill)"):
        assert len(set(table[row])) == 1, row  # the same in every column
    assert table["walk-forward"][0].startswith("yes") and table["walk-forward"][2] == "no model"
    names = {trace.name for trace in report.figure.data}
    assert {"simple_ml", "mean_reversion", "buy_and_hold"} <= names
    drawdowns = [t for t in report.figure.data if t.yaxis == "y3"]
    assert len(drawdowns) == 3  # one drawdown per strategy


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"runs": [{"kind": "mean_reversion"}, {"kind": "astrology"}]}, "runs.1.kind"),
        ({"runs": [{"kind": "mean_reversion", "config": {"window": 1}}]}, "runs.0.config.window"),
        ({"runs": [{"kind": "buy_and_hold", "size": 2}]}, "runs.0.size"),
        ({"runs": []}, "runs"),
        ({"costs": {"fee_rate": 0}}, "costs.fee_rate"),
        ({"costs": {"commission": 1}}, "costs.commission"),
        ({"start": datetime(2030, 1, 1, tzinfo=UTC)}, "start"),
        ({"start": END, "end": START}, "end"),
        ({"symbol": "NOPE"}, "symbol"),
        ({"interval": "1x"}, "interval"),
    ],
)
def test_bad_input_is_refused_by_field_and_nothing_is_saved(user, eurusd, arguments, field):  # noqa: F811
    before = row_counts()
    values = {"owner_id": user.pk, "symbol": "EURUSD", "interval": "1h", **arguments}
    with pytest.raises(InvalidStrategyConfig) as refused:
        comparison_start(**values)
    assert field in refused.value.errors, refused.value.errors
    assert row_counts() == before


def test_the_api_starts_follows_and_reports_a_comparison_for_its_owner_only(
    user,
    eurusd,  # noqa: F811 (the fixture imported above)
    django_capture_on_commit_callbacks,
):
    api = client_for(user)
    body = {
        "symbol": "EURUSD", "interval": "1h", "start": START.isoformat(), "end": END.isoformat(),
        "costs": {"fee_rate": 0.0001, "slippage_bps": 0.5},
        "runs": [{"kind": "mean_reversion", "config": {"window": 30}}, {"kind": "buy_and_hold"}],
    }  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):  # the eager tasks run the backtests
        created = api.post(BASE + "comparisons/", body, format="json")
    assert created.status_code == 201, created.json()
    url = f"{BASE}comparisons/{created.json()['id']}/"
    state = api.get(url).json()
    assert (state["status"], state["progress"]) == ("succeeded", 1.0)
    assert [b["kind"] for b in state["backtests"]] == ["mean_reversion", "buy_and_hold"]
    assert state["backtests"][0]["config"]["window"] == 30
    page = api.get(url + "report/")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    data = api.get(url + "report/", {"format": "json"}).json()
    assert data["table"]["columns"] == ["", "mean_reversion", "buy_and_hold"]
    assert api.get(BASE + "comparisons/").json()["count"] == 1
    intruder = client_for(make_user("intruder"))
    for path in ("", "report/"):
        assert intruder.get(url + path).status_code == 404
    assert intruder.get(BASE + "comparisons/").json()["count"] == 0
    backtest = state["backtests"][0]["id"]
    assert intruder.get(f"{BASE}backtests/{backtest}/report/").status_code == 404


def test_the_api_refuses_bad_input_by_field_with_nothing_saved(user, eurusd):  # noqa: F811
    api = client_for(user)
    before = row_counts()
    for body, field in (
        ({"symbol": "EURUSD", "interval": "1h", "runs": [{"kind": "astrology"}]}, "runs"),
        ({"symbol": "EURUSD", "interval": "1h", "costs": {"fee_rate": -1}}, "costs.fee_rate"),
        ({"symbol": "EURUSD", "interval": "1h", "start": "2031-01-01T00:00:00Z"}, "start"),
        (
            {"symbol": "EURUSD", "interval": "1h", "runs": [{"kind": "mean_reversion",
             "config": {"entry_z": -1}}]},
            "runs.0.config.entry_z",
        ),
    ):  # fmt: skip
        response = api.post(BASE + "comparisons/", body, format="json")
        assert response.status_code == 400
        errors = response.json()["errors"]
        assert any(key.startswith(field) for key in errors), errors
    assert row_counts() == before


def test_the_command_prints_the_table_and_writes_the_page(user, eurusd, tmp_path):  # noqa: F811
    out = StringIO()
    page = tmp_path / "compare.html"
    call_command(
        "backtest_compare", "--symbol", "EURUSD", "--interval", "1h", "--user", "trader",
        "--kinds", "mean_reversion", "buy_and_hold", "--start", "2017-06-01T00:00:00+00:00",
        "--end", "2017-08-01T00:00:00+00:00", "--costs", '{"fee_rate": 0.0001}',
        "--html", str(page), stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    assert "100%" in text or "97%" in text
    assert "total costs" in text and "mean_reversion" in text and "buy_and_hold" in text
    assert page.exists() and (tmp_path / "plotly.min.js").exists()
    assert 'src="plotly.min.js"' in page.read_text()
    with pytest.raises(CommandError, match="runs.0.kind"):
        call_command(
            "backtest_compare", "--symbol", "EURUSD", "--interval", "1h", "--user", "trader",
            "--kinds", "astrology", stdout=StringIO(),
        )  # fmt: skip
