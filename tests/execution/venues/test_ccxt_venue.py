"""CcxtVenue against a real ``ccxt.okx`` whose HTTP session is a fake OKX (no network)."""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from execution.domain.orders import OrderRequest, OrderStatus
from execution.domain.positions import PositionState
from execution.domain.values import InstrumentSpec, Liquidity, Side
from execution.venues.base import Venue, VenueError, VenueTimeout
from execution.venues.ccxt_venue import CcxtVenue, ccxt_exchange
from tests.okx_fake import TS, FakeOkx, fill

API_KEY = "3f2c9a4e-key-0000-1111-d0c5e7a8b6f1"
SECRET = "9B1D7E0F3A5C2B8D6E4F1A0B9C8D7E6F"
PASSPHRASE = "Pass-phrase-42"
NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

BTC_USDT = InstrumentSpec(
    symbol="BTC-USDT",
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.00001"),
    min_quantity=Decimal("0.00001"),
)
BTC_USDT_SWAP = InstrumentSpec(
    symbol="BTC-USDT-SWAP",
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.01"),
    min_quantity=Decimal("0.01"),
)


@pytest.fixture
def okx() -> FakeOkx:
    return FakeOkx()


@pytest.fixture
def venue(okx: FakeOkx) -> CcxtVenue:
    # Built as the factory would, but with ccxt's rate limiter off to keep the tests fast.
    exchange = ccxt.okx(
        {"apiKey": API_KEY, "secret": SECRET, "password": PASSPHRASE, "enableRateLimit": False}
    )
    exchange.options["fetchMarkets"] = {"types": ["spot", "swap"]}
    exchange.session = okx
    return CcxtVenue(
        exchange=exchange,
        instruments=[BTC_USDT, BTC_USDT_SWAP],
        symbols={"BTC-USDT": "BTC/USDT", "BTC-USDT-SWAP": "BTC/USDT:USDT"},
        clock=lambda: NOW,
    )


def limit_buy(quantity: str = "0.01", price: str = "42000.1", **extra: Any) -> OrderRequest:
    return OrderRequest.build(
        BTC_USDT, side="buy", order_type="limit", quantity=quantity, price=price, **extra
    )


def test_is_a_venue(venue: CcxtVenue) -> None:
    assert isinstance(venue, CcxtVenue)
    _: Venue = venue


def test_submit_sends_okx_fields_and_maps_the_acknowledgement(
    venue: CcxtVenue, okx: FakeOkx
) -> None:
    report = venue.submit(limit_buy(), client_order_id="abc123")

    (sent,) = okx.posts("/api/v5/trade/batch-orders")  # ccxt's default for one order
    assert sent.body == [
        {
            "instId": "BTC-USDT",
            "clOrdId": "abc123",
            "side": "buy",
            "ordType": "limit",
            "sz": "0.01",
            "px": "42000.1",
            "tdMode": "cash",
            "tgtCcy": "base_ccy",
        }
    ]
    assert report.client_order_id == "abc123"
    assert report.venue_order_id == okx.orders["abc123"].ord_id
    assert report.symbol == "BTC-USDT"
    assert report.status is OrderStatus.SUBMITTED
    assert report.quantity == Decimal("0.01")
    assert report.filled_quantity == 0
    assert report.average_price is None
    assert report.fills == ()


@pytest.mark.parametrize(
    ("time_in_force", "ord_type"), [("post_only", "post_only"), ("ioc", "ioc"), ("fok", "fok")]
)
def test_time_in_force_maps_to_okx_order_types(
    venue: CcxtVenue, okx: FakeOkx, time_in_force: str, ord_type: str
) -> None:
    venue.submit(limit_buy(time_in_force=time_in_force), client_order_id="tif1")
    (sent,) = okx.posts("/api/v5/trade/batch-orders")
    assert sent.body[0]["ordType"] == ord_type


def test_market_order_sends_no_price(venue: CcxtVenue, okx: FakeOkx) -> None:
    request = OrderRequest.build(BTC_USDT, side="sell", order_type="market", quantity="0.5")
    venue.submit(request, client_order_id="mkt1")
    (sent,) = okx.posts("/api/v5/trade/batch-orders")
    assert sent.body[0]["ordType"] == "market"
    assert sent.body[0]["sz"] == "0.5"
    assert "px" not in sent.body[0]


def test_reduce_only_goes_to_derivatives_and_is_refused_on_spot(
    venue: CcxtVenue, okx: FakeOkx
) -> None:
    swap = OrderRequest.build(
        BTC_USDT_SWAP,
        side="sell",
        order_type="limit",
        quantity="2",
        price="43000",
        reduce_only=True,
    )
    venue.submit(swap, client_order_id="ro1")
    (sent,) = okx.posts("/api/v5/trade/batch-orders")
    assert sent.body[0]["reduceOnly"] is True
    assert sent.body[0]["instId"] == "BTC-USDT-SWAP"

    with pytest.raises(VenueError, match="reduce-only applies to derivatives"):
        venue.submit(limit_buy(reduce_only=True), client_order_id="ro2")
    assert len(okx.posts("/api/v5/trade/batch-orders")) == 1


def test_off_grid_or_unsupported_requests_are_refused_before_sending(
    venue: CcxtVenue, okx: FakeOkx
) -> None:
    off_grid = OrderRequest(
        symbol="BTC-USDT",
        side=Side.BUY,
        order_type=limit_buy().order_type,
        quantity=Decimal("0.000015"),
        price=Decimal("42000.1"),
    )
    with pytest.raises(VenueError, match="lot size"):
        venue.submit(off_grid, client_order_id="grid1")
    stop = OrderRequest.build(
        BTC_USDT, side="sell", order_type="stop_market", quantity="0.01", stop_price="40000"
    )
    with pytest.raises(VenueError, match="market and limit orders only"):
        venue.submit(stop, client_order_id="stop1")
    with pytest.raises(VenueError, match="letters and digits"):
        venue.submit(limit_buy(), client_order_id="not-allowed")
    with pytest.raises(VenueError, match="unknown symbol 'ETH-USDT'"):
        venue.open_orders("ETH-USDT")
    assert okx.posts("/api/v5/trade/batch-orders") == []


def test_a_symbol_the_exchange_does_not_list_is_refused(okx: FakeOkx) -> None:
    exchange = ccxt.okx(
        {"apiKey": API_KEY, "secret": SECRET, "password": PASSPHRASE, "enableRateLimit": False}
    )
    exchange.session = okx
    venue = CcxtVenue(exchange=exchange, instruments=[BTC_USDT], symbols={"BTC-USDT": "BTC/EUR"})
    with pytest.raises(VenueError, match="okx does not list BTC/EUR"):
        venue.submit(limit_buy(), client_order_id="map1")
    with pytest.raises(VenueError, match="no ccxt symbol given for BTC-USDT"):
        CcxtVenue(exchange=exchange, instruments=[BTC_USDT], symbols={})


def test_lost_reply_raises_timeout_and_fetch_by_client_order_id_settles_it(
    venue: CcxtVenue, okx: FakeOkx
) -> None:
    okx.lose_next_reply = True
    with pytest.raises(VenueTimeout, match="may or may not have acted") as raised:
        venue.submit(limit_buy(), client_order_id="lost1")
    assert "fetch_order('lost1')" in str(raised.value)

    report = venue.fetch_order("lost1")

    assert len(okx.posts("/api/v5/trade/batch-orders")) == 1  # one create, never resent
    assert list(okx.orders) == ["lost1"]
    lookup = okx.requests[-1]
    assert (lookup.method, lookup.path) == ("GET", "/api/v5/trade/order")
    assert lookup.query == {"instId": "BTC-USDT", "clOrdId": "lost1"}
    assert report is not None
    assert report.status is OrderStatus.SUBMITTED
    assert report.venue_order_id == okx.orders["lost1"].ord_id
    assert report.quantity == Decimal("0.01")


def test_fetch_of_an_order_the_exchange_never_saw_is_none(venue: CcxtVenue) -> None:
    assert venue.fetch_order("never1") is None  # 51603 on each instrument asked


def test_insufficient_balance_is_a_venue_error_with_okxs_message(
    venue: CcxtVenue, okx: FakeOkx
) -> None:
    okx.refuse_next_order = ("51008", "Order failed. Insufficient USDT balance in account.")
    with pytest.raises(VenueError) as raised:
        venue.submit(limit_buy(), client_order_id="poor1")
    assert not isinstance(raised.value, VenueTimeout)
    assert str(raised.value) == (
        "okx refused submitting order poor1: Order failed. Insufficient USDT balance in "
        "account. (code 51008)"
    )


def test_rate_limit_and_authentication_errors_say_so(venue: CcxtVenue, okx: FakeOkx) -> None:
    okx.refuse_next_order = ("50011", "Too Many Requests")
    with pytest.raises(VenueError, match="rate limit exceeded") as raised:
        venue.submit(limit_buy(), client_order_id="busy1")
    assert not isinstance(raised.value, VenueTimeout)

    okx.refuse_next_order = ("50111", "Invalid OK-ACCESS-KEY")
    with pytest.raises(VenueError, match="refused the API key") as raised:
        venue.submit(limit_buy(), client_order_id="auth1")
    assert not isinstance(raised.value, VenueTimeout)


def test_fetch_order_returns_every_fill_with_fees_as_costs(venue: CcxtVenue, okx: FakeOkx) -> None:
    venue.submit(limit_buy("0.3", "42000"), client_order_id="fills1")
    order = okx.orders["fills1"]
    order.fills = [
        fill(
            order,
            trade_id="t1",
            bill_id="b1",
            size="0.1",
            price="42000",
            fee="-0.0001",
            fee_ccy="BTC",
        ),
        fill(
            order,
            trade_id="t2",
            bill_id="b2",
            size="0.2",
            price="41999.9",
            fee="0.05",
            fee_ccy="USDT",
        ),
    ]
    order.state = "filled"
    order.avg_px = "41999.93333333"

    report = venue.fetch_order("fills1")

    assert report is not None
    assert report.status is OrderStatus.FILLED
    assert report.filled_quantity == Decimal("0.3")
    assert report.average_price == Decimal("41999.93333333")  # OKX's avgPx as sent
    charged, rebated = report.fills
    assert charged.venue_trade_id == "t1"
    assert charged.client_order_id == "fills1"
    assert charged.symbol == "BTC-USDT"
    assert charged.side is Side.BUY
    assert (charged.quantity, charged.price) == (Decimal("0.1"), Decimal("42000"))
    assert (charged.fee, charged.fee_currency) == (Decimal("0.0001"), "BTC")  # OKX: -0.0001
    assert charged.liquidity is Liquidity.TAKER
    assert charged.timestamp == datetime.fromtimestamp(int(TS) // 1000, tz=UTC)
    assert (rebated.fee, rebated.fee_currency) == (Decimal("-0.05"), "USDT")  # a rebate
    assert all(type(value) is Decimal for f in report.fills for value in (f.quantity, f.fee))
    fills_request = okx.requests[-1]
    assert fills_request.path == "/api/v5/trade/fills-history"
    assert fills_request.query["ordId"] == order.ord_id


def test_partially_filled_order_status(venue: CcxtVenue, okx: FakeOkx) -> None:
    venue.submit(limit_buy("0.3", "42000"), client_order_id="part1")
    order = okx.orders["part1"]
    order.fills = [
        fill(
            order,
            trade_id="t9",
            bill_id="b9",
            size="0.1",
            price="42000",
            fee="-0.042",
            fee_ccy="USDT",
        )
    ]
    order.state = "partially_filled"
    report = venue.fetch_order("part1")
    assert report is not None
    assert report.status is OrderStatus.PARTIALLY_FILLED
    assert report.filled_quantity == Decimal("0.1")
    assert [f.fee for f in report.fills] == [Decimal("0.042")]


def test_cancel(venue: CcxtVenue, okx: FakeOkx) -> None:
    venue.submit(limit_buy(), client_order_id="cxl1")

    report = venue.cancel("cxl1")

    (sent,) = okx.posts("/api/v5/trade/cancel-order")
    assert sent.body == {"instId": "BTC-USDT", "clOrdId": "cxl1"}
    assert report.status is OrderStatus.CANCELLED
    assert report.client_order_id == "cxl1"
    with pytest.raises(VenueError, match=r"does not exist\. \(code 51400\)"):
        venue.cancel("cxl1")


def test_cancel_of_an_unknown_order_is_refused(venue: CcxtVenue, okx: FakeOkx) -> None:
    with pytest.raises(VenueError, match="unknown order ghost1"):
        venue.cancel("ghost1")
    assert okx.posts("/api/v5/trade/cancel-order") == []


def test_amend_by_client_order_id(venue: CcxtVenue, okx: FakeOkx) -> None:
    venue.submit(limit_buy("0.01", "42000"), client_order_id="amd1")

    report = venue.amend("amd1", quantity=Decimal("0.02"), price=Decimal("41950.5"))

    (sent,) = okx.posts("/api/v5/trade/amend-order")
    assert sent.body["clOrdId"] == "amd1"
    assert sent.body["instId"] == "BTC-USDT"
    assert (sent.body["newSz"], sent.body["newPx"]) == ("0.02", "41950.5")
    assert report.quantity == Decimal("0.02")
    assert report.status is OrderStatus.SUBMITTED
    with pytest.raises(VenueError, match="tick size"):
        venue.amend("amd1", price=Decimal("41950.55"))
    assert len(okx.posts("/api/v5/trade/amend-order")) == 1


def test_open_orders_leave_out_orders_placed_elsewhere(venue: CcxtVenue, okx: FakeOkx) -> None:
    venue.submit(limit_buy(), client_order_id="open1")
    venue.submit(limit_buy(), client_order_id="open2")
    venue.cancel("open2")
    okx.orders["manual"] = okx.orders["open1"].__class__(
        cl_ord_id="",
        ord_id="1",
        inst_id="BTC-USDT",
        side="sell",
        ord_type="limit",
        sz="1",
        px="50000",
    )

    reports = venue.open_orders()

    assert [r.client_order_id for r in reports] == ["open1"]
    assert reports[0].symbol == "BTC-USDT"


def test_balances_are_decimal_totals(venue: CcxtVenue, okx: FakeOkx) -> None:
    okx.balance_details = [
        {
            "ccy": "USDT",
            "eq": "1000.123456789",
            "cashBal": "1000.123456789",
            "availBal": "900.123456789",
            "frozenBal": "100",
            "uTime": TS,
        },
        {
            "ccy": "BTC",
            "eq": "0.5",
            "cashBal": "0.5",
            "availBal": "0.5",
            "frozenBal": "0",
            "uTime": TS,
        },
    ]
    balances = venue.balances()
    assert balances == {"USDT": Decimal("1000.123456789"), "BTC": Decimal("0.5")}
    assert all(type(amount) is Decimal for amount in balances.values())


def test_positions_for_derivatives_only(venue: CcxtVenue, okx: FakeOkx) -> None:
    okx.positions = [
        {
            "instId": "BTC-USDT-SWAP",
            "instType": "SWAP",
            "mgnMode": "cross",
            "posSide": "net",
            "pos": "-3",
            "avgPx": "42000.5",
            "upl": "1.5",
            "lever": "10",
            "markPx": "41990",
            "notionalUsd": "1259.7",
            "imr": "125.97",
            "mmr": "5",
            "cTime": TS,
            "uTime": TS,
            "posId": "1",
            "realizedPnl": "0",
        },
    ]
    positions = venue.positions()
    assert positions == {
        "BTC-USDT-SWAP": PositionState(quantity=Decimal("-3"), cost_basis=Decimal("-126001.5"))
    }
    (request,) = [r for r in okx.requests if r.path == "/api/v5/account/positions"]
    assert request.query == {"instId": "BTC-USDT-SWAP"}


def test_credentials_never_appear_in_errors_or_logs(
    venue: CcxtVenue, okx: FakeOkx, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    okx.refuse_next_order = ("50113", f"Invalid sign for key {API_KEY}")  # an echo, say
    okx.lose_next_reply = False
    for action in (
        lambda: venue.submit(limit_buy(), client_order_id="sec1"),
        lambda: venue.cancel("nothere1"),
    ):
        with pytest.raises(VenueError) as raised:
            action()
        errors.append(raised.value)
    okx.lose_next_reply = True
    with pytest.raises(VenueTimeout) as timed_out:
        venue.submit(limit_buy(), client_order_id="sec2")
    errors.append(timed_out.value)

    assert any("OK-ACCESS" in record.getMessage() for record in caplog.records)  # ccxt logged
    texts = ["".join(traceback.format_exception(e)) for e in errors]
    texts += [record.getMessage() for record in caplog.records]
    for secret in (API_KEY, SECRET, PASSPHRASE):
        assert not [text for text in texts if secret in text]


def test_factory_turns_on_ccxts_rate_limiter_and_sandbox() -> None:
    exchange = ccxt_exchange(
        "okx", api_key=API_KEY, secret=SECRET, password=PASSPHRASE, sandbox=True, timeout_ms=5000
    )
    assert isinstance(exchange, ccxt.okx)
    assert exchange.enableRateLimit is True
    assert exchange.timeout == 5000
    assert exchange.headers["x-simulated-trading"] == "1"
    assert exchange.options["fetchMarkets"] == {"types": ["spot", "swap"]}
    live = ccxt_exchange("okx", api_key=API_KEY, secret=SECRET, password=PASSPHRASE)
    assert "x-simulated-trading" not in (live.headers or {})


def test_factory_refuses_bad_configuration() -> None:
    with pytest.raises(VenueError, match="passphrase"):
        ccxt_exchange("okx", api_key=API_KEY, secret=SECRET)
    with pytest.raises(VenueError, match="no exchange called 'nosuchx'"):
        ccxt_exchange("nosuchx", api_key=API_KEY, secret=SECRET)
