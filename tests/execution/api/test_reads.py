"""Positions, reconciliation, trades, performance, statistics and accounts over the API."""

from datetime import timedelta
from decimal import Decimal as D

import pytest

from execution.domain.orders import OrderStatus
from execution.models import AccountDay, Order
from execution.selectors import utc_today
from execution.services.marketdata import paper_book_update
from execution.services.orders import order_place, order_status_set
from execution.services.positions import positions_mark
from execution.services.venues import venue_for_account
from tests.execution.api.conftest import BASE, amounts, place_filled
from tests.factories import make_account, make_instrument


@pytest.fixture
def round_trips(account, btc):
    """Two closed round trips in BTC-USDT: +98 net (fees 1 + 1), then -50 net (no fees)."""
    place_filled(account, side="buy", quantity="0.5", price="20000", fee="1", trade="t1")
    place_filled(account, side="sell", quantity="0.5", price="20200", fee="1", trade="t2")
    place_filled(account, side="buy", quantity="0.5", price="20000", trade="t3")
    place_filled(account, side="sell", quantity="0.5", price="19900", trade="t4")


def test_positions_list_and_filters(api, account, btc, user):
    eth = make_instrument("ETH-USDT", mark="1000", tick="0.01", lot="0.001")
    second = make_account(user, name="Second")
    place_filled(account, side="buy", quantity="0.5", price="20000", fee="2", trade="t1")
    order = order_place(
        account_id=second.pk, symbol="ETH-USDT", side="buy", order_type="market",
        quantity="1", submit=False,
    )  # fmt: skip
    from execution.services.fills import fill_record

    fill_record(order_id=order.pk, venue_trade_id="e1", quantity="1", price="1000")
    fill_record(
        order_id=order_place(
            account_id=second.pk, symbol="ETH-USDT", side="sell", order_type="market",
            quantity="1", submit=False,
        ).pk, venue_trade_id="e2", quantity="1", price="1010",
    )  # fmt: skip
    positions_mark(symbol="BTC-USDT", mark_price="20100")

    data = api.get(BASE + "positions/").data
    assert data["count"] == 2
    btc_row, eth_row = data["results"]
    assert (btc_row["symbol"], btc_row["side"], btc_row["account"]) == (
        "BTC-USDT",
        "long",
        account.pk,
    )
    assert amounts(
        btc_row, "quantity", "average_entry_price", "unrealized_pnl", "realized_pnl"
    ) == (
        D("0.5"),
        D(20000),
        D(50),
        D(-2),
    )
    assert (eth_row["symbol"], eth_row["side"], eth_row["realized_pnl"]) == (
        "ETH-USDT",
        "flat",
        "10",
    )

    def symbols(query):
        return [row["symbol"] for row in api.get(BASE + "positions/" + query).data["results"]]

    assert symbols("?open=true") == ["BTC-USDT"]
    assert symbols("?open=false") == ["ETH-USDT"]
    assert symbols(f"?account={second.pk}") == ["ETH-USDT"]
    assert symbols("?symbol=btc-usdt") == ["BTC-USDT"]
    assert eth.symbol == "ETH-USDT"


def test_position_by_symbol_is_a_list_per_account(api, account, btc, user):
    second = make_account(user, name="Second")
    place_filled(account, side="buy", quantity="0.5", price="20000", trade="t1")
    place_filled(second, side="sell", quantity="0.2", price="20000", trade="t2")
    make_instrument("ETH-USDT", mark="1000", tick="0.01", lot="0.001")

    both = api.get(BASE + "positions/BTC-USDT/")
    assert both.status_code == 200
    assert [(row["account"], row["quantity"], row["side"]) for row in both.data] == [
        (account.pk, "0.5", "long"),
        (second.pk, "-0.2", "short"),
    ]
    one = api.get(BASE + f"positions/btc-usdt/?account={second.pk}").data
    assert [row["account"] for row in one] == [second.pk]
    assert api.get(BASE + "positions/ETH-USDT/").data == []  # known, never traded
    unknown = api.get(BASE + "positions/DOGE-USDT/")
    assert (
        unknown.status_code == 404 and unknown.data["detail"] == "unknown instrument 'DOGE-USDT'."
    )


def test_sync_reconciles_sent_orders_with_the_venue(
    api, account, btc, django_capture_on_commit_callbacks
):
    venue_for_account(account)
    paper_book_update(
        symbol="BTC-USDT", bids=[(D("19999.9"), D("1"))], asks=[(D("20000.1"), D("1"))]
    )
    with django_capture_on_commit_callbacks(execute=True):
        resting = order_place(
            account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
            quantity="0.2", price="19990", submit=True,
        )  # fmt: skip
        market = order_place(
            account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="market",
            quantity="0.1", submit=True,
        )  # fmt: skip
    # A timeout left the resting order unknown: only the venue can say what became of it.
    order_status_set(order_id=resting.pk, status=OrderStatus.UNKNOWN, reason="timeout")

    response = api.post(BASE + "positions/sync/", {}, format="json")

    assert response.status_code == 200, response.data
    data = response.data
    assert data["checked"] == 1  # the market order filled: nothing to ask about it
    assert [row["id"] for row in data["changed"]] == [str(resting.pk)]
    assert data["changed"][0]["status"] == "submitted"
    assert data["unsettled"] == []
    assert [(p["symbol"], p["quantity"]) for p in data["positions"]] == [("BTC-USDT", "0.1")]
    assert Order.objects.get(pk=market.pk).status == "filled"

    again = api.post(BASE + "positions/sync/", {"account": account.pk}, format="json").data
    assert (again["checked"], again["changed"]) == (1, [])


def test_trades_list_and_filters(api, account, btc, round_trips):
    data = api.get(BASE + "trades/").data
    assert data["count"] == 4
    newest = data["results"][0]
    assert (newest["side"], newest["symbol"], newest["account"], newest["venue_trade_id"]) == (
        "sell",
        "BTC-USDT",
        account.pk,
        "t4",
    )
    assert amounts(newest, "quantity", "price", "notional", "fee") == (
        D("0.5"),
        D(19900),
        D(9950),
        D(0),
    )
    assert newest["liquidity"] == "taker" and newest["fee_currency"] == "USDT"

    def trade_ids(query):
        response = api.get(BASE + "trades/" + query)
        assert response.status_code == 200, response.data
        return [row["venue_trade_id"] for row in response.data["results"]]

    assert trade_ids("?side=buy") == ["t3", "t1"]
    first_order = Order.objects.get(fills__venue_trade_id="t1")
    assert trade_ids(f"?order={first_order.pk}") == ["t1"]
    assert trade_ids("?symbol=ETH-USDT") == []
    assert trade_ids(f"?account={account.pk}&liquidity=taker&page_size=1") == ["t4"]
    today = utc_today()
    assert len(trade_ids(f"?filled_after={today}&filled_before={today}")) == 4
    assert trade_ids(f"?filled_before={today - timedelta(days=1)}") == []
    assert api.get(BASE + "trades/?order=not-a-uuid").status_code == 400


def test_performance_from_round_trips_and_daily_equity(api, account, btc, round_trips):
    today = utc_today()
    # Earlier days as the midnight task would have opened them; today's row opened with the
    # first order, at 100,000.
    AccountDay.objects.create(account=account, day=today - timedelta(days=2), start_equity=100_000)
    AccountDay.objects.create(account=account, day=today - timedelta(days=1), start_equity=101_000)

    response = api.get(BASE + "performance/")

    assert response.status_code == 200, response.data
    data = response.data
    assert (data["account"], data["currency"], data["instrument"]) == (account.pk, "USDT", None)
    assert data["trade_count"] == 2 and data["win_rate"] == 0.5
    assert data["profit_factor"] == pytest.approx(98 / 50)
    assert amounts(data, "average_trade", "net_pnl", "fees") == (D(24), D(48), D(2))
    assert [point["equity"] for point in data["equity_curve"]] == [
        "100000",
        "101000",
        "100000",
        "100048",  # now: deposits plus realized P&L, flat
    ]
    curve = data["curve"]
    assert D(curve["total_return"]) == D("0.00048")
    assert D(curve["max_drawdown"]["peak_to_trough"]) == D(1000)
    assert curve["max_drawdown"]["depth"] == pytest.approx(1000 / 101_000)
    assert curve["periods_per_year"] == 365
    assert isinstance(curve["sharpe_ratio"], float) and isinstance(curve["sortino_ratio"], float)

    # Up to yesterday: no round trip closed yet, and the curve stops at yesterday's open.
    until_yesterday = api.get(BASE + f"performance/?end_date={today - timedelta(days=1)}").data
    assert until_yesterday["trade_count"] == 0 and until_yesterday["profit_factor"] is None
    assert D(until_yesterday["curve"]["total_return"]) == D("0.01")
    # From today: both round trips, a curve of today's open and now.
    from_today = api.get(BASE + f"performance/?start_date={today}&instrument=btc-usdt").data
    assert (from_today["trade_count"], from_today["instrument"]) == (2, "BTC-USDT")
    assert len(from_today["equity_curve"]) == 2
    # Only one point (yesterday's open): no curve statistics.
    yesterday = today - timedelta(days=1)
    single = api.get(BASE + f"performance/?start_date={yesterday}&end_date={yesterday}").data
    assert len(single["equity_curve"]) == 1 and single["curve"] is None


def test_performance_query_errors(api, account, btc, user):
    for query, field in [
        ("?start_date=2024-02-01&end_date=2024-01-01", "end_date"),
        ("?start_date=someday", "start_date"),
        ("?instrument=DOGE-USDT", "instrument"),
        ("?account=abc", "account"),
    ]:
        response = api.get(BASE + "performance/" + query)
        assert response.status_code == 400, query
        assert field in response.data["errors"], response.data
    make_account(user, name="Second")
    several = api.get(BASE + "performance/")
    assert several.status_code == 400
    assert several.data["errors"] == {"account": ["You have several accounts: say which one."]}
    assert api.get(BASE + f"performance/?account={account.pk}").status_code == 200


def test_statistics(api, account, btc, round_trips):
    order_place(
        account_id=account.pk, symbol="BTC-USDT", side="buy", order_type="limit",
        quantity="0.1", price="19990", submit=False,
    )  # fmt: skip
    positions_mark(symbol="BTC-USDT", mark_price="20000")

    response = api.get(BASE + "statistics/")

    assert response.status_code == 200
    data = response.data
    assert data["order_count"] == 5 and data["fill_count"] == 4
    assert data["orders_by_status"]["filled"] == 4 and data["orders_by_status"]["new"] == 1
    assert set(data["orders_by_status"]) == {s.value for s in OrderStatus}
    [btc_row] = data["instruments"]
    assert btc_row["symbol"] == "BTC-USDT" and btc_row["fill_count"] == 4
    # 0.5 x (20000 + 20200 + 20000 + 19900)
    assert amounts(btc_row, "volume", "notional", "fees", "realized_pnl", "unrealized_pnl") == (
        D(2),
        D(40050),
        D(2),
        D(48),
        D(0),
    )
    [usdt] = data["totals"]
    assert usdt["currency"] == "USDT" and D(usdt["realized_pnl"]) == D(48)


def test_statistics_of_one_account(api, account, btc, round_trips, user):
    second = make_account(user, name="Second")
    data = api.get(BASE + f"statistics/?account={second.pk}").data
    assert (data["order_count"], data["fill_count"], data["instruments"]) == (0, 0, [])


def test_accounts_with_their_valuation(api, account, btc, round_trips, user):
    make_account(user, name="Second", deposit=D(500))

    response = api.get(BASE + "accounts/")

    assert response.status_code == 200
    main, second = response.data
    assert (main["id"], main["name"], main["mode"], main["base_currency"]) == (
        account.pk,
        "Main",
        "paper",
        "USDT",
    )
    valuation = main["valuation"]
    assert amounts(valuation, "deposited", "realized_pnl", "cash", "equity", "available") == (
        D(100_000),
        D(48),
        D(100_048),
        D(100_048),
        D(100_048),
    )
    assert main["max_position_value"] == "0.5"
    assert second["valuation"]["equity"] == "500"
