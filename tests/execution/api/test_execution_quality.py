"""GET execution-quality/: parents summarized per algorithm and per strategy, compared with
immediate market execution on the book each met; and the time-weighted performance curve."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from execution.models import ParentOrder
from execution.selectors import utc_today
from execution.services.accounts import account_days_open, funds_deposit
from execution.services.algos import parent_order_run
from execution.services.marketdata import paper_book_update
from tests.execution.api.conftest import BASE

QUALITY = BASE + "execution-quality/"
PARENTS = BASE + "parent-orders/"


def thin_book():
    """BTC-USDT quoted 19999.9 / 20000.1, 0.1 deep a level: a parent of 0.3 walks three."""
    paper_book_update(
        symbol="BTC-USDT",
        bids=[(D("19999.9") - D(n) / 10, D("0.1")) for n in range(10)],
        asks=[(D("20000.1") + D(n) / 10, D("0.1")) for n in range(10)],
    )


def place(api, account, algorithm, params=None, strategy_id=None, quantity="0.3"):
    body = {
        "account": account.pk,
        "symbol": "BTC-USDT",
        "side": "buy",
        "quantity": quantity,
        "algorithm": algorithm,
        "params": params or {},
        "strategy_id": strategy_id,
    }
    response = api.post(PARENTS, body, format="json")
    assert response.status_code == 201, response.data
    return ParentOrder.objects.get(pk=response.data["id"])


@pytest.fixture
def parents(api, account, btc):
    """A market parent and a TWAP of strategy 7, and a limit parent by hand stored without an
    arrival book (as before books were stored), its child resting."""
    thin_book()
    place(api, account, "market", strategy_id=7)
    thin_book()  # the market parent took three levels of this account's book: refill it
    twap = place(api, account, "twap", {"duration": 30, "num_slices": 3}, strategy_id=7)
    started = datetime.fromisoformat(twap.state["started_at"])
    for n in (1, 2):
        thin_book()
        parent_order_run(parent_id=twap.pk, now=started + timedelta(seconds=10 * n))
    limit = place(api, account, "limit", {"timeout": 600, "price": "19990"})
    ParentOrder.objects.filter(pk=limit.pk).update(arrival_book=None)
    return ParentOrder.objects.all()


@pytest.mark.django_db(transaction=True)
def test_each_algorithm_and_strategy_compared_with_immediate_market_execution(api, parents):
    response = api.get(QUALITY)

    assert response.status_code == 200, response.data
    report = response.data
    assert (report["parent_count"], report["measured_count"]) == (3, 3)
    by_algorithm = {row["algorithm"]: row for row in report["by_algorithm"]}
    assert list(by_algorithm) == ["limit", "market", "twap"]
    assert list(report["by_algorithm"][0])[:2] == ["algorithm", "currency"]

    market = by_algorithm["market"]
    # It walked the three levels its baseline walks: 0.06 above the mid on 6000, plus the fee.
    assert (market["count"], market["filled_count"], market["baseline_count"]) == (1, 1, 1)
    assert D(market["slippage_bps"]) == D(market["baseline_slippage_bps"]) == D("0.1")
    assert D(market["baseline_cost_bps"]) == D("5.1") and D(market["shortfall_bps"]) == D("5.1")
    assert D(market["improvement_bps"]) == 0 and D(market["improvement_pct"]) == 0

    twap = by_algorithm["twap"]
    # Three slices of 0.1 at the best ask of a refilled book: 5.0500 bps against 5.1000.
    assert (D(twap["arrival_notional"]), D(twap["fill_rate"])) == (D(6000), D(1))
    assert D(twap["slippage_bps"]) == D("0.05") and D(twap["shortfall_bps"]) == D("5.05")
    assert D(twap["fees"]) == D("3.000015") and D(twap["fees_bps"]) == D(5)
    assert D(twap["improvement_bps"]) == D("0.05")
    assert D(twap["improvement_pct"]) == D("0.9804")  # 0.05 of 5.1
    assert twap["signal_to_first_fill_median"] >= 0 and twap["signal_to_complete_mean"] >= 0

    limit = by_algorithm["limit"]
    # Nothing to compare without the book: the comparison is null, the rest is measured.
    assert (limit["count"], limit["filled_count"], limit["baseline_count"]) == (1, 0, 0)
    assert D(limit["fill_rate"]) == 0 and limit["signal_to_first_fill_median"] is None
    for name in ("baseline_cost_bps", "baseline_slippage_bps", "improvement_bps"):
        assert limit[name] is None, name
    assert limit["improvement_pct"] is None

    by_strategy = report["by_strategy"]
    assert [(row["strategy_id"], row["count"]) for row in by_strategy] == [(None, 1), (7, 2)]
    seven = by_strategy[1]
    assert D(seven["improvement_bps"]) == D("0.025")  # 0 and 0.05, equal sizes
    assert D(seven["improvement_pct"]) == D("0.4902")  # 0.05 of 10.2


@pytest.mark.django_db(transaction=True)
def test_filters_narrow_the_parents(api, account, parents):
    today, yesterday = utc_today(), utc_today() - timedelta(days=1)

    def counted(query):
        response = api.get(QUALITY + query)
        assert response.status_code == 200, (query, response.data)
        return response.data["parent_count"]

    assert counted("") == 3
    assert counted("?algorithm=twap") == 1
    assert counted("?strategy_id=7") == 2
    assert counted("?strategy_id=8") == 0
    assert counted("?instrument=btc-usdt") == 3
    assert counted(f"?account={account.pk}") == 3
    assert counted(f"?start_date={today}") == 3
    assert counted(f"?end_date={yesterday}") == 0
    assert counted(f"?start_date={yesterday}&end_date={today}&algorithm=market") == 1
    groups = api.get(QUALITY + "?algorithm=twap").data
    assert [row["algorithm"] for row in groups["by_algorithm"]] == ["twap"]
    assert [row["strategy_id"] for row in groups["by_strategy"]] == [7]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?start_date=2024-05-02&end_date=2024-05-01", "end_date", "before start_date"),
        ("?start_date=yesterday", "start_date", "Date has wrong format"),
        ("?instrument=DOGE-USDT", "instrument", "unknown instrument 'DOGE-USDT'"),
        ("?algorithm=sniper", "algorithm", '"sniper" is not a valid choice.'),
        ("?strategy_id=0", "strategy_id", "greater than or equal to 1"),
        ("?account=x", "account", "A valid integer is required."),
    ],
)
def test_bad_filters_answer_400_naming_the_field(api, account, btc, query, field, message):
    response = api.get(QUALITY + query)
    assert response.status_code == 400, response.data
    assert list(response.data["errors"]) == [field]
    assert message in response.data["errors"][field][0]


def test_nothing_placed_yet(api, account):
    response = api.get(QUALITY)
    assert response.status_code == 200
    assert response.data == {
        "parent_count": 0,
        "measured_count": 0,
        "by_algorithm": [],
        "by_strategy": [],
    }


def test_a_deposit_is_a_cash_flow_of_the_performance_curve_not_a_gain(api, account, monkeypatch):
    day_1 = datetime.combine(utc_today() - timedelta(days=3), datetime.min.time(), tzinfo=UTC)
    now = [day_1]
    monkeypatch.setattr(timezone, "now", lambda: now[0])
    account_days_open()
    now[0] = day_1 + timedelta(hours=12)
    funds_deposit(account_id=account.pk, amount="25000")
    now[0] = day_1 + timedelta(days=1)
    account_days_open()
    now[0] = day_1 + timedelta(days=1, hours=1)

    response = api.get(BASE + "performance/")

    assert response.status_code == 200, response.data
    data = response.data
    assert [D(point["equity"]) for point in data["equity_curve"]] == [100_000, 125_000, 125_000]
    assert data["cash_flows"] == [
        {"at": (day_1 + timedelta(hours=12)).isoformat().replace("+00:00", "Z"), "amount": "25000"}
    ]
    assert D(data["curve"]["total_return"]) == 0
