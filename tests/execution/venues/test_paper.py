"""The paper venue: Decimal edges, fees, margin accounting, idempotent submits, validation,
latency through an injected clock, candles, determinism, and a property over random books."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.domain.matching import CandleRules
from execution.domain.orders import OrderRequest, OrderStatus
from execution.domain.values import InstrumentSpec, Liquidity, Side, quantize
from execution.venues.base import Venue, VenueError, VenueFill
from execution.venues.paper import PaperVenue

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOL = "BTCUSDT"
SPEC = InstrumentSpec(
    symbol=SYMBOL,
    base="BTC",
    quote="USDT",
    tick_size=D("0.1"),
    lot_size=D("0.001"),
    min_quantity=D("0.001"),
)
CANDLES = InstrumentSpec(
    symbol="ETHUSDT",
    base="ETH",
    quote="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.01"),
    min_quantity=D("0.01"),
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, ms: int) -> datetime:
        self.now += timedelta(milliseconds=ms)
        return self.now


def make_venue(clock=None, **kwargs) -> PaperVenue:
    options: dict[str, Any] = {
        "maker_fee_rate": D("0.0002"),
        "taker_fee_rate": D("0.0005"),
        "balances": {"USDT": D(10_000)},
    }
    options.update(kwargs)
    return PaperVenue(instruments=[SPEC, CANDLES], clock=clock or Clock(), **options)


def request(
    side,
    quantity,
    order_type="market",
    price=None,
    stop_price=None,
    tif="gtc",
    spec=SPEC,
    reduce_only=False,
):
    return OrderRequest.build(
        spec,
        side=side,
        order_type=order_type,
        quantity=D(quantity),
        price=price,
        stop_price=stop_price,
        time_in_force=tif,
        reduce_only=reduce_only,
    )


BIDS = [(D("99.9"), D(1)), (D("99.8"), D(2)), (D("99.7"), D(3))]
ASKS = [(D("100.0"), D(1)), (D("100.1"), D(2)), (D("100.2"), D(3))]


def venue_with_book(**kwargs) -> PaperVenue:
    venue = make_venue(**kwargs)
    venue.update_book(SYMBOL, BIDS, ASKS, T0)
    return venue


def test_paper_venue_implements_the_protocol():
    venue: Venue = make_venue()
    assert venue.balances() == {"USDT": D(10_000)}


def test_market_order_walks_the_book_with_average_price_and_taker_fees():
    venue = venue_with_book()
    report = venue.submit(request("buy", "2.5"), client_order_id="c1")
    assert report.status is OrderStatus.FILLED
    assert report.filled_quantity == report.quantity == D("2.5")
    assert report.average_price == D("100.06")  # (1 x 100.0 + 1.5 x 100.1) / 2.5
    assert [(f.quantity, f.price, f.liquidity) for f in report.fills] == [
        (D(1), D("100.0"), Liquidity.TAKER),
        (D("1.5"), D("100.1"), Liquidity.TAKER),
    ]
    assert [f.fee for f in report.fills] == [D("0.05"), D("0.075075")]
    assert all(f.fee_currency == "USDT" and f.client_order_id == "c1" for f in report.fills)
    position = venue.positions()[SYMBOL]
    assert position.quantity == D("2.5") and position.fees_paid == D("0.125075")
    assert venue.balances()["USDT"] == D(10_000) - D("0.125075")


def test_market_order_partial_fill_when_depth_runs_out():
    venue = venue_with_book()
    report = venue.submit(request("sell", "7"), client_order_id="c1")
    assert report.status is OrderStatus.EXPIRED
    assert report.filled_quantity == D(6) and len(report.fills) == 3
    assert report.reason is not None and "depth ran out" in report.reason
    assert venue.open_orders() == []


def test_maker_fill_earns_the_rebate_and_realized_pnl_moves_cash():
    venue = venue_with_book(maker_fee_rate=D("-0.0001"))
    venue.submit(request("buy", "1"), client_order_id="open")  # 100.0, fee 0.05
    resting = venue.submit(request("sell", "1", "limit", price="101.0"), client_order_id="tp")
    assert resting.status is OrderStatus.SUBMITTED and resting.fills == ()
    fills = venue.on_trade(SYMBOL, D("101.1"), D("0.5"), Side.BUY, T0 + timedelta(seconds=1))
    assert [(f.quantity, f.price, f.liquidity, f.fee) for f in fills] == [
        (D(1), D("101.0"), Liquidity.MAKER, D("-0.0101"))
    ]
    # Margin style: cash moves by realized P&L net of fees: +1.0 - 0.05 + 0.0101.
    assert venue.balances()["USDT"] == D(10_000) + D("0.9601")
    assert venue.positions()[SYMBOL].quantity == 0
    assert venue.fetch_order("tp").status is OrderStatus.FILLED


def test_limit_rests_and_queue_is_consumed_by_trades():
    venue = venue_with_book()
    venue.submit(request("buy", "1", "limit", price="99.8"), client_order_id="bid")
    later = T0 + timedelta(seconds=1)
    assert venue.on_trade(SYMBOL, D("99.8"), D("1.5"), Side.SELL, later) == []
    fills = venue.on_trade(SYMBOL, D("99.8"), D(1), Side.SELL, later)
    assert [(f.quantity, f.liquidity) for f in fills] == [(D("0.5"), Liquidity.MAKER)]
    report = venue.fetch_order("bid")
    assert report.status is OrderStatus.PARTIALLY_FILLED
    assert report.fills == tuple(fills)  # a query returns every fill so far
    assert [r.client_order_id for r in venue.open_orders(SYMBOL)] == ["bid"]


def test_post_only_ioc_and_fok_through_the_venue():
    venue = venue_with_book()
    post = venue.submit(
        request("buy", "1", "limit", price="100.0", tif="post_only"), client_order_id="post"
    )
    assert post.status is OrderStatus.REJECTED
    assert post.reason == "post-only order would take liquidity"
    ioc = venue.submit(
        request("buy", "5", "limit", price="100.1", tif="ioc"), client_order_id="ioc"
    )
    assert ioc.status is OrderStatus.EXPIRED and ioc.filled_quantity == D(3)
    fok = venue.submit(
        request("sell", "7", "limit", price="99.7", tif="fok"), client_order_id="fok"
    )
    assert fok.status is OrderStatus.EXPIRED and fok.fills == () and fok.filled_quantity == 0
    assert venue.positions()[SYMBOL].quantity == D(3)


def test_stop_order_triggers_through_the_venue():
    venue = venue_with_book()
    report = venue.submit(
        request("sell", "2", "stop_market", stop_price="99.8"), client_order_id="stop"
    )
    assert report.status is OrderStatus.SUBMITTED
    assert venue.on_mark(SYMBOL, D("99.9"), T0) == []
    fills = venue.on_trade(SYMBOL, D("99.8"), D(1), Side.SELL, T0)
    # The print took the 99.9 level and one of the two lots at 99.8.
    assert [(f.quantity, f.price) for f in fills] == [(D(1), D("99.8")), (D(1), D("99.7"))]


def test_duplicate_client_order_id_returns_the_existing_order():
    venue = venue_with_book()
    first = venue.submit(request("buy", "1"), client_order_id="c1")
    again = venue.submit(request("buy", "1"), client_order_id="c1")
    assert again.fills == () and again.status is first.status
    assert again.venue_order_id == first.venue_order_id
    assert venue.positions()[SYMBOL].quantity == D(1)
    with pytest.raises(VenueError, match="different order"):
        venue.submit(request("buy", "2"), client_order_id="c1")


@pytest.mark.parametrize(
    ("bids", "asks", "message"),
    [
        ([(D("99.9"), D(1))], [(D("99.9"), D(1))], "crossed book"),
        ([(D("99.8"), D(1)), (D("99.9"), D(1))], ASKS, "sorted best first"),
        ([(D("99.9"), D(0))], ASKS, "bid size 0"),
        ([(D("99.95"), D(1))], ASKS, "tick size 0.1"),
        ([(D("99.9"), D("-1"))], ASKS, "positive multiple"),
    ],
)
def test_bad_snapshots_are_refused_and_change_nothing(bids, asks, message):
    venue = venue_with_book()
    with pytest.raises(VenueError, match=message):
        venue.update_book(SYMBOL, bids, asks, T0 + timedelta(seconds=1))
    report = venue.submit(request("buy", "1"), client_order_id="c1")
    assert report.fills[0].price == D("100.0")  # the previous book is still in force


def test_inputs_are_validated_with_clear_errors():
    venue = venue_with_book()
    with pytest.raises(VenueError, match="unknown symbol 'XRPUSDT'"):
        venue.update_book("XRPUSDT", BIDS, ASKS, T0)
    other = InstrumentSpec(
        symbol="XRPUSDT",
        base="XRP",
        quote="USDT",
        tick_size=D("0.0001"),
        lot_size=D(1),
        min_quantity=D(1),
    )
    with pytest.raises(VenueError, match="unknown symbol"):
        venue.submit(request("buy", "1", spec=other), client_order_id="x")
    with pytest.raises(VenueError, match="not a positive multiple"):
        venue.on_trade(SYMBOL, D("100.05"), D(1), Side.BUY, T0)
    with pytest.raises(VenueError, match="older"):
        venue.on_trade(SYMBOL, D("100.0"), D(1), Side.BUY, T0 - timedelta(seconds=1))
    with pytest.raises(VenueError, match="client order id"):
        venue.submit(request("buy", "1"), client_order_id="")
    assert venue.fetch_order("x") is None


def test_cancel_and_amend_refusals():
    venue = venue_with_book()
    venue.submit(request("buy", "1"), client_order_id="filled")
    with pytest.raises(VenueError, match="is filled; only an open order can be cancelled"):
        venue.cancel("filled")
    with pytest.raises(VenueError, match="never submitted"):
        venue.cancel("nobody")
    venue.submit(request("sell", "3", "limit", price="100.1"), client_order_id="ask")
    venue.on_trade(SYMBOL, D("100.1"), D(3), Side.BUY, T0)  # 2 displayed ahead, 1 for us
    with pytest.raises(VenueError, match="new quantity 1 must be above the filled quantity"):
        venue.amend("ask", quantity=D(1))
    with pytest.raises(VenueError, match="lot size"):
        venue.amend("ask", quantity=D("1.0005"))
    cancelled = venue.cancel("ask")
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.filled_quantity == D(1)
    with pytest.raises(VenueError, match="is cancelled; only an open order can be amended"):
        venue.amend("ask", price=D(101))


def test_amend_through_the_venue():
    venue = venue_with_book()
    venue.submit(request("buy", "2", "limit", price="99.5"), client_order_id="bid")
    smaller = venue.amend("bid", quantity=D(1))
    assert smaller.quantity == D(1) and smaller.status is OrderStatus.SUBMITTED
    taken = venue.amend("bid", price=D("100.0"))
    assert taken.status is OrderStatus.FILLED
    assert [(f.price, f.liquidity) for f in taken.fills] == [(D("100.0"), Liquidity.TAKER)]


def test_latency_uses_the_injected_clock():
    clock = Clock()
    venue = make_venue(clock, latency=timedelta(milliseconds=50))
    venue.update_book(SYMBOL, BIDS, ASKS, clock.now)
    report = venue.submit(request("buy", "1"), client_order_id="c1")
    assert report.status is OrderStatus.SUBMITTED and report.timestamp == T0
    assert venue.update_book(SYMBOL, BIDS, ASKS, clock.advance(49)) == []
    fills = venue.update_book(SYMBOL, BIDS, [(D("100.5"), D(1))], clock.advance(1))
    assert [(f.price, f.timestamp) for f in fills] == [(D("100.5"), clock.now)]
    assert clock.now == T0 + timedelta(milliseconds=50)
    assert venue.fetch_order("c1").status is OrderStatus.FILLED


def test_reduce_only_is_refused_when_it_would_not_reduce():
    venue = venue_with_book()
    refused = venue.submit(request("sell", "1", reduce_only=True), client_order_id="r1")
    assert refused.status is OrderStatus.REJECTED and "would not reduce" in (refused.reason or "")
    venue.submit(request("buy", "1"), client_order_id="open")
    too_big = venue.submit(request("sell", "2", reduce_only=True), client_order_id="r2")
    assert too_big.status is OrderStatus.REJECTED and "exceeds the position" in (
        too_big.reason or ""
    )
    closing = venue.submit(request("sell", "1", reduce_only=True), client_order_id="r3")
    assert closing.status is OrderStatus.FILLED
    assert venue.positions()[SYMBOL].quantity == 0


def test_candles_fill_an_instrument_without_a_book():
    venue = make_venue(candle_rules=CandleRules(slippage_bps=D(5)))
    minute = timedelta(minutes=1)
    market = venue.submit(request("buy", "2", spec=CANDLES), client_order_id="m")
    limit = venue.submit(
        request("sell", "1", "limit", price="2010.00", spec=CANDLES), client_order_id="l"
    )
    assert market.fills == () and limit.fills == ()
    fills = venue.on_candle(
        "ETHUSDT",
        D("2000.00"),
        D("2010.00"),
        D("1990.00"),
        D("2005.00"),
        D("150.5"),
        T0,
        T0 + minute,
    )
    # 5 bps over 2000.00 is 1.00; the limit was only touched, so it waits.
    assert [(f.client_order_id, f.price, f.liquidity) for f in fills] == [
        ("m", D("2001.00"), Liquidity.TAKER)
    ]
    fills = venue.on_candle(
        "ETHUSDT",
        D("2005.00"),
        D("2020.00"),
        D("2000.00"),
        D("2015.00"),
        D(90),
        T0 + minute,
        T0 + 2 * minute,
    )
    assert [(f.client_order_id, f.price, f.liquidity) for f in fills] == [
        ("l", D("2010.00"), Liquidity.MAKER)
    ]
    assert venue.positions()["ETHUSDT"].quantity == D(1)
    venue.update_book(SYMBOL, BIDS, ASKS, T0)
    with pytest.raises(VenueError, match="fills from its order book"):
        venue.on_candle(SYMBOL, D(1), D(1), D(1), D(1), D(1), T0, T0 + minute)
    with pytest.raises(VenueError, match="inconsistent"):
        venue.on_candle("ETHUSDT", D(10), D(9), D(8), D(9), D(1), T0 + 2 * minute, T0 + 3 * minute)


def scripted_session(seed: int) -> list[VenueFill]:
    clock = Clock()
    venue = make_venue(
        clock,
        latency=timedelta(milliseconds=2),
        latency_jitter=timedelta(milliseconds=3),
        seed=seed,
    )
    fills: list[VenueFill] = []
    for n in range(40):
        fills += venue.update_book(SYMBOL, BIDS, ASKS, clock.advance(1))
        side = "buy" if n % 2 else "sell"
        if n % 3:
            price = (
                D("99.9") + D("0.1") * (n % 3) if side == "buy" else D("100.0") - D("0.1") * (n % 3)
            )
            fills += venue.submit(
                request(side, "0.5", "limit", price=price), client_order_id=f"o{n}"
            ).fills
        else:
            fills += venue.submit(request(side, "1.5"), client_order_id=f"o{n}").fills
        fills += venue.on_trade(
            SYMBOL,
            D("99.9") if n % 2 else D("100.0"),
            D("0.7"),
            Side.SELL if n % 2 else Side.BUY,
            clock.advance(1),
        )
    return fills


def test_same_seed_and_inputs_give_identical_fills():
    first = scripted_session(3)
    assert len(first) > 20
    assert first == scripted_session(3)


# -- property: random books and order flow ----------------------------------------------------

TICK = D("0.1")
LOT = D("0.001")


@st.composite
def books(draw):
    mid = draw(st.integers(9_000, 11_000))  # ticks
    spread = draw(st.integers(1, 5))
    bid_gaps = draw(st.lists(st.integers(1, 3), min_size=1, max_size=8))
    ask_gaps = draw(st.lists(st.integers(1, 3), min_size=1, max_size=8))
    bids, asks, price = [], [], mid
    for gap in bid_gaps:
        price -= gap
        bids.append((TICK * price, LOT * draw(st.integers(1, 3_000))))
    price = mid + spread - 1
    for gap in ask_gaps:
        price += gap
        asks.append((TICK * price, LOT * draw(st.integers(1, 3_000))))
    return mid, bids, asks


sides = st.sampled_from(["buy", "sell"])
actions = st.one_of(
    st.tuples(
        st.just("market"),
        sides,
        st.integers(1, 5_000),
        st.just(0),
        st.sampled_from(["gtc", "ioc", "fok"]),
    ),
    st.tuples(
        st.just("limit"),
        sides,
        st.integers(1, 5_000),
        st.integers(-20, 20),
        st.sampled_from(["gtc", "post_only", "gtc", "ioc", "fok"]),
    ),
    st.tuples(
        st.just("stop_market"), sides, st.integers(1, 5_000), st.integers(-10, 10), st.just("gtc")
    ),
    st.tuples(st.just("cancel"), st.just(""), st.integers(0, 50), st.just(0), st.just("")),
    st.tuples(st.just("amend"), st.just(""), st.integers(0, 50), st.integers(-20, 20), st.just("")),
)
prints = st.tuples(sides, st.integers(1, 8_000), st.integers(-25, 25))


@settings(max_examples=200, deadline=None)
@given(
    books(),
    st.lists(st.tuples(actions, prints), min_size=3, max_size=25),
    st.lists(books(), max_size=3),
)
def test_fills_respect_quantity_and_limit_and_match_the_ledger(first_book, flow, refreshes):
    """Every step is an order action followed by a public trade print."""
    clock = Clock()
    venue = make_venue(clock)
    mid, bids, asks = first_book
    venue.update_book(SYMBOL, bids, asks, clock.now)
    fills: list[VenueFill] = []
    placed: list[str] = []
    limits: dict[str, D] = {}

    def checked(new_fills: Iterable[VenueFill]) -> list[VenueFill]:
        """Each fill at or better than the limit in force when it happened (an amendment
        changes the limit for later fills only)."""
        new_fills = list(new_fills)
        for fill in new_fills:
            limit = limits.get(fill.client_order_id)
            if limit is not None:
                assert fill.price <= limit if fill.side is Side.BUY else fill.price >= limit
        return new_fills

    for step, ((kind, side, size, offset, tif), trade) in enumerate(flow):
        if refreshes and step % 8 == 7:
            mid, bids, asks = refreshes[(step // 8) % len(refreshes)]
            fills += checked(venue.update_book(SYMBOL, bids, asks, clock.advance(1)))
        if kind in ("market", "limit", "stop_market"):
            client_order_id = f"o{step}"
            price = TICK * (mid + offset) if kind == "limit" else None
            stop = TICK * (mid + offset) if kind == "stop_market" else None
            if price is not None:
                limits[client_order_id] = price
            report = venue.submit(
                request(side, LOT * size, kind, price=price, stop_price=stop, tif=tif),
                client_order_id=client_order_id,
            )
            fills += checked(report.fills)
            placed.append(client_order_id)
        elif placed:
            target = venue.fetch_order(placed[size % len(placed)])
            assert target is not None
            if not target.status.is_open:
                pass
            elif kind == "cancel":
                venue.cancel(target.client_order_id)
            elif target.client_order_id in limits:
                price = TICK * (mid + offset)
                previous = limits[target.client_order_id]
                limits[target.client_order_id] = price
                try:
                    fills += checked(venue.amend(target.client_order_id, price=price).fills)
                except VenueError as error:
                    assert "post-only" in str(error)
                    limits[target.client_order_id] = previous
        trade_side, trade_size, trade_offset = trade
        fills += checked(
            venue.on_trade(
                SYMBOL,
                TICK * (mid + trade_offset),
                LOT * trade_size,
                Side(trade_side),
                clock.advance(1),
            )
        )

    by_order: dict[str, D] = {}
    for fill in fills:
        by_order[fill.client_order_id] = by_order.get(fill.client_order_id, D(0)) + fill.quantity
        assert fill.quantity > 0
    for client_order_id in placed:
        report = venue.fetch_order(client_order_id)
        assert report is not None
        assert report.filled_quantity <= report.quantity
        assert report.filled_quantity == by_order.get(client_order_id, D(0))
    assert len({f.venue_trade_id for f in fills}) == len(fills)
    signed = sum((f.quantity * f.side.sign for f in fills), D(0))
    position = venue.positions().get(SYMBOL)
    assert (position.quantity if position else D(0)) == signed
    fees = sum((f.fee for f in fills), D(0))
    assert (position.fees_paid if position else D(0)) == fees
    assert venue.balances()["USDT"] == D(10_000) + (position.realized_pnl if position else 0)
    for fill in fills:
        rate = D("0.0002") if fill.liquidity is Liquidity.MAKER else D("0.0005")
        assert fill.fee == quantize(fill.quantity * fill.price * rate)


def test_restore_reloads_positions_cash_and_open_orders():
    first = venue_with_book()
    first.submit(request("buy", "2"), client_order_id="open")
    first.submit(request("sell", "1", "limit", price="101.0"), client_order_id="tp")

    restarted = venue_with_book()
    restarted.restore(
        orders=[("tp", request("sell", "1", "limit", price="101.0"), D(0), D(0))],
        positions=first.positions(),
        cash=first.balances(),
    )
    assert restarted.positions() == first.positions()
    assert restarted.balances() == first.balances()
    assert [r.client_order_id for r in restarted.open_orders()] == ["tp"]
    exit_fills = restarted.submit(request("sell", "1", reduce_only=True), client_order_id="x")
    assert exit_fills.status is OrderStatus.FILLED  # the restored position allows reduce-only


def test_an_amended_price_applies_to_later_fills_only():
    """Found by the property above: a sell limit partly filled at 99.9 and then amended up
    keeps its earlier fill; the rest fills only at or above the new price."""
    venue = venue_with_book()
    report = venue.submit(request("sell", "3", "limit", price="99.9"), client_order_id="s")
    assert [(f.quantity, f.price) for f in report.fills] == [(D(1), D("99.9"))]  # the bid
    venue.amend("s", price=D("100.4"))
    later = T0 + timedelta(seconds=1)
    assert venue.on_trade(SYMBOL, D("100.3"), D(5), Side.BUY, later) == []
    fills = venue.on_trade(SYMBOL, D("100.5"), D(5), Side.BUY, later)
    assert [(f.quantity, f.price) for f in fills] == [(D(2), D("100.4"))]
