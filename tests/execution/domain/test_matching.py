"""The matching core in ticks and lots: book, queue model, time in force, latency, stops,
amends and the OHLC fill model."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from execution.domain.errors import DomainError
from execution.domain.matching import (
    Candle,
    CandleRules,
    EngineOrder,
    FeeSchedule,
    Grid,
    MatchingEngine,
    OrderBook,
)
from execution.domain.orders import OrderStatus, OrderType, TimeInForce
from execution.domain.values import InstrumentSpec, Liquidity, Side, quantize

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOL = "BTCUSDT"
BUY, SELL = Side.BUY, Side.SELL
MAKER, TAKER = Liquidity.MAKER, Liquidity.TAKER
GTC, IOC, FOK, POST_ONLY = (
    TimeInForce.GTC,
    TimeInForce.IOC,
    TimeInForce.FOK,
    TimeInForce.POST_ONLY,
)


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def book(bids, asks, ms=0):
    return OrderBook(bids, asks, at(ms))


def standard_book(ms=0):
    """Bids 99, 98, 97 and asks 101, 102, 103 (ticks), 10 lots a level."""
    return book([(99, 10), (98, 10), (97, 10)], [(101, 10), (102, 10), (103, 10)], ms)


def order(order_id, side, lots, order_type=OrderType.LIMIT, tif=GTC, limit=None, stop=None):
    return EngineOrder(
        order_id=order_id,
        symbol=SYMBOL,
        side=side,
        order_type=order_type,
        lots=lots,
        time_in_force=tif,
        limit_ticks=limit,
        stop_ticks=stop,
    )


def market(order_id, side, lots, tif=GTC):
    return order(order_id, side, lots, OrderType.MARKET, tif)


def engine_with_book(snapshot=None, **kwargs):
    engine = MatchingEngine(**kwargs)
    engine.on_book(SYMBOL, snapshot or standard_book())
    return engine


def fills_of(executions):
    return [(e.order_id, e.lots, e.ticks, e.liquidity) for e in executions]


# -- the book --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bids", "asks", "message"),
    [
        ([(99, 1), (100, 1)], [(101, 1)], "sorted best first"),
        ([(99, 1)], [(102, 1), (101, 1)], "sorted best first"),
        ([(99, 1), (99, 2)], [(101, 1)], "one level per price"),
        ([(99, 0)], [(101, 1)], "positive price and size"),
        ([(99, 1)], [(-101, 1)], "positive price and size"),
        ([(101, 1)], [(101, 1)], "crossed book"),
    ],
)
def test_bad_snapshots_are_refused(bids, asks, message):
    with pytest.raises(DomainError, match=message):
        OrderBook(bids, asks, T0)


def test_book_reports_sizes_and_levels_best_first():
    snapshot = standard_book()
    assert (snapshot.best_bid, snapshot.best_ask) == (99, 101)
    assert snapshot.levels(BUY) == [(99, 10), (98, 10), (97, 10)]
    assert snapshot.size_at(SELL, 102) == 10 and snapshot.size_at(SELL, 104) == 0
    assert snapshot.size_at(BUY, 98) == 10 and snapshot.size_at(BUY, 100) == 0


# -- market orders ---------------------------------------------------------------------------


def test_market_order_walks_the_book_and_consumes_it():
    engine = engine_with_book()
    buy = market("m1", BUY, 25)
    executions = engine.submit(buy, at(0))
    assert fills_of(executions) == [
        ("m1", 10, 101, TAKER),
        ("m1", 10, 102, TAKER),
        ("m1", 5, 103, TAKER),
    ]
    assert buy.status is OrderStatus.FILLED
    assert buy.filled_notional == 10 * 101 + 10 * 102 + 5 * 103  # an average of 101.8
    # The engine's copy keeps what is left until the next snapshot replaces it.
    assert engine.book(SYMBOL) is not None
    assert engine.book(SYMBOL).levels(SELL) == [(103, 5)]
    engine.on_book(SYMBOL, standard_book(1))
    assert engine.book(SYMBOL).levels(SELL)[0] == (101, 10)


def test_market_order_partially_fills_when_depth_runs_out():
    engine = engine_with_book()
    sell = market("m1", SELL, 40)
    executions = engine.submit(sell, at(0))
    assert sum(e.lots for e in executions) == 30
    assert sell.status is OrderStatus.EXPIRED and sell.filled_lots == 30
    assert "depth ran out" in (sell.reason or "")
    assert engine.open_orders() == []


def test_fill_ids_are_a_deterministic_sequence():
    engine = engine_with_book(venue="sim")
    ids = [e.fill_id for e in engine.submit(market("a", BUY, 15), at(0))]
    ids += [e.fill_id for e in engine.submit(market("b", SELL, 5), at(0))]
    assert ids == ["sim-1", "sim-2", "sim-3"]


# -- limit orders, time in force -------------------------------------------------------------


def test_marketable_limit_takes_then_rests_as_maker():
    engine = engine_with_book()
    buy = order("l1", BUY, 25, limit=102)
    executions = engine.submit(buy, at(0))
    assert fills_of(executions) == [("l1", 10, 101, TAKER), ("l1", 10, 102, TAKER)]
    assert buy.status is OrderStatus.PARTIALLY_FILLED
    assert buy.queue_ahead == 0  # it made a new best bid
    assert engine.open_orders(SYMBOL) == [buy]
    fills = engine.on_trade(SYMBOL, 102, 3, SELL, at(1))
    assert fills_of(fills) == [("l1", 3, 102, MAKER)]


def test_post_only_is_rejected_if_it_would_take():
    engine = engine_with_book()
    crossing = order("p1", BUY, 5, tif=POST_ONLY, limit=101)
    assert engine.submit(crossing, at(0)) == []
    assert crossing.status is OrderStatus.REJECTED
    assert crossing.reason == "post-only order would take liquidity"
    passive = order("p2", BUY, 5, tif=POST_ONLY, limit=100)
    assert engine.submit(passive, at(0)) == []
    assert passive.status is OrderStatus.SUBMITTED and engine.open_orders() == [passive]


def test_ioc_takes_what_it_can_and_expires_the_rest():
    engine = engine_with_book()
    ioc = order("i1", BUY, 25, tif=IOC, limit=102)
    assert sum(e.lots for e in engine.submit(ioc, at(0))) == 20
    assert ioc.status is OrderStatus.EXPIRED and ioc.filled_lots == 20
    assert engine.open_orders() == []


def test_fok_fills_all_or_nothing():
    engine = engine_with_book()
    too_big = order("f1", BUY, 25, tif=FOK, limit=102)
    assert engine.submit(too_big, at(0)) == []
    assert too_big.status is OrderStatus.EXPIRED and too_big.filled_lots == 0
    assert "fill-or-kill" in (too_big.reason or "")
    assert engine.book(SYMBOL).levels(SELL)[0] == (101, 10)  # nothing was consumed
    fits = order("f2", BUY, 20, tif=FOK, limit=102)
    assert sum(e.lots for e in engine.submit(fits, at(0))) == 20
    assert fits.status is OrderStatus.FILLED
    fok_market = market("f3", SELL, 31, tif=FOK)
    assert engine.submit(fok_market, at(0)) == []
    assert fok_market.status is OrderStatus.EXPIRED


# -- queue position --------------------------------------------------------------------------


def test_trades_at_our_price_consume_the_queue_ahead_first():
    engine = engine_with_book()
    bid = order("q1", BUY, 5, limit=99)
    engine.submit(bid, at(0))
    assert bid.queue_ahead == 10
    assert engine.on_trade(SYMBOL, 99, 6, SELL, at(1)) == []
    assert bid.queue_ahead == 4
    # A buyer lifting an ask at our price does not reach a bid.
    assert engine.on_trade(SYMBOL, 99, 50, BUY, at(2)) == []
    fills = engine.on_trade(SYMBOL, 99, 7, SELL, at(3))
    assert fills_of(fills) == [("q1", 3, 99, MAKER)]
    assert bid.queue_ahead == 0 and bid.status is OrderStatus.PARTIALLY_FILLED
    assert fills_of(engine.on_trade(SYMBOL, 99, 9, SELL, at(4))) == [("q1", 2, 99, MAKER)]
    assert bid.status is OrderStatus.FILLED


def test_a_trade_through_our_price_fills_us_fully():
    engine = engine_with_book()
    ask = order("q1", SELL, 8, limit=102)
    engine.submit(ask, at(0))
    assert ask.queue_ahead == 10
    fills = engine.on_trade(SYMBOL, 103, 1, BUY, at(1))
    assert fills_of(fills) == [("q1", 8, 102, MAKER)]
    assert ask.status is OrderStatus.FILLED


def test_a_shrinking_level_lowers_the_queue_ahead():
    engine = engine_with_book()
    bid = order("q1", BUY, 5, limit=98)
    engine.submit(bid, at(0))
    engine.on_book(SYMBOL, book([(99, 10), (98, 4)], [(101, 10)], 1))
    assert bid.queue_ahead == 4
    engine.on_book(SYMBOL, book([(99, 10), (98, 30)], [(101, 10)], 2))
    assert bid.queue_ahead == 4  # depth that arrives later queues behind us


def test_a_snapshot_crossing_our_price_fills_us_as_maker():
    engine = engine_with_book()
    bid = order("q1", BUY, 15, limit=100)
    engine.submit(bid, at(0))
    fills = engine.on_book(SYMBOL, book([(98, 10)], [(99, 4), (100, 3), (101, 10)], 1))
    assert fills_of(fills) == [("q1", 7, 100, MAKER)]
    assert bid.status is OrderStatus.PARTIALLY_FILLED and bid.queue_ahead == 0
    assert engine.book(SYMBOL).levels(SELL) == [(101, 10)]  # the crossing depth was used


def test_our_own_earlier_order_at_a_price_is_ahead_of_the_next():
    engine = engine_with_book()
    first, second = order("a", BUY, 5, limit=99), order("b", BUY, 5, limit=99)
    engine.submit(first, at(0))
    engine.submit(second, at(0))
    assert (first.queue_ahead, second.queue_ahead) == (10, 15)
    engine.cancel("a")
    assert second.queue_ahead == 10
    assert first.status is OrderStatus.CANCELLED


# -- latency ---------------------------------------------------------------------------------


def test_an_order_is_not_matched_before_its_latency_has_passed():
    engine = engine_with_book(latency=timedelta(milliseconds=50))
    buy = market("m1", BUY, 5)
    assert engine.submit(buy, at(0)) == []
    assert buy.status is OrderStatus.SUBMITTED
    assert engine.on_book(SYMBOL, standard_book(49)) == []
    assert engine.on_trade(SYMBOL, 99, 1, SELL, at(49)) == []
    fills = engine.on_book(SYMBOL, book([(99, 10)], [(105, 10)], 50))
    # It meets the first book at or after its arrival.
    assert fills_of(fills) == [("m1", 5, 105, TAKER)]
    assert fills[0].timestamp == at(50)


def test_latency_jitter_is_seeded():
    def activation_times(seed):
        engine = MatchingEngine(
            latency=timedelta(milliseconds=10), latency_jitter=timedelta(milliseconds=5), seed=seed
        )
        orders = [market(str(n), BUY, 1) for n in range(20)]
        for o in orders:
            engine.submit(o, at(0))
        return [o.active_at for o in orders]

    first = activation_times(7)
    assert first == activation_times(7)
    assert all(at(10) <= t <= at(15) for t in first)
    assert first != activation_times(8)


def test_orders_wait_for_the_first_market_data():
    engine = MatchingEngine()
    buy = market("m1", BUY, 5)
    assert engine.submit(buy, at(0)) == []
    assert fills_of(engine.on_book(SYMBOL, standard_book(1))) == [("m1", 5, 101, TAKER)]


# -- stops -----------------------------------------------------------------------------------


def test_stop_market_triggers_on_a_trade_through_its_stop():
    engine = engine_with_book()
    stop = order("s1", BUY, 5, OrderType.STOP_MARKET, stop=102)
    assert engine.submit(stop, at(0)) == []
    assert engine.on_trade(SYMBOL, 101, 1, BUY, at(1)) == []
    fills = engine.on_trade(SYMBOL, 102, 1, BUY, at(2))
    # The print took the 101 level and one lot at 102; the stop buys what is left.
    assert fills_of(fills) == [("s1", 5, 102, TAKER)]
    assert stop.status is OrderStatus.FILLED


def test_stop_limit_triggers_on_a_mark_and_rests_as_a_limit():
    engine = engine_with_book()
    stop = order("s1", SELL, 15, OrderType.STOP_LIMIT, limit=99, stop=100)
    engine.submit(stop, at(0))
    assert engine.on_mark(SYMBOL, 101, at(1)) == []
    fills = engine.on_mark(SYMBOL, 100, at(2))
    assert fills_of(fills) == [("s1", 10, 99, TAKER)]
    assert stop.status is OrderStatus.PARTIALLY_FILLED
    assert engine.open_orders() == [stop] and stop.queue_ahead == 0


# -- amend and cancel ------------------------------------------------------------------------


def test_amend_price_loses_priority_and_decrease_keeps_it():
    engine = engine_with_book()
    bid = order("a1", BUY, 10, limit=98)
    engine.submit(bid, at(0))
    engine.on_trade(SYMBOL, 98, 4, SELL, at(1))
    assert bid.queue_ahead == 6
    engine.amend("a1", now=at(2), lots=8)
    assert (bid.lots, bid.queue_ahead) == (8, 6)  # a decrease keeps its place
    engine.amend("a1", now=at(3), lots=9)
    assert bid.queue_ahead == 6  # an increase goes to the back: the displayed 6 lots left
    engine.amend("a1", now=at(4), limit_ticks=97)
    assert (bid.limit_ticks, bid.queue_ahead) == (97, 10)


def test_amend_to_a_crossing_price_takes():
    engine = engine_with_book()
    engine.submit(order("a1", BUY, 5, limit=98), at(0))
    fills = engine.amend("a1", now=at(1), limit_ticks=101)
    assert fills_of(fills) == [("a1", 5, 101, TAKER)]


def test_amend_refusals_change_nothing():
    engine = engine_with_book()
    bid = order("a1", BUY, 20, limit=99)
    engine.submit(bid, at(0))
    engine.on_trade(SYMBOL, 98, 1, SELL, at(1))  # through our bid: filled
    assert bid.status is OrderStatus.FILLED
    with pytest.raises(DomainError, match="not open"):
        engine.amend("a1", now=at(2), lots=30)
    with pytest.raises(DomainError, match="not open"):
        engine.cancel("a1")
    partial = order("a2", SELL, 20, limit=102)
    engine.submit(partial, at(2))
    engine.on_trade(SYMBOL, 103, 1, BUY, at(3))  # fills it fully as well
    other = order("a3", SELL, 20, limit=103)
    engine.submit(other, at(3))
    assert other.queue_ahead == 9  # the print at 103 took one of its 10 lots
    engine.on_trade(SYMBOL, 103, 14, BUY, at(4))
    assert other.filled_lots == 5
    with pytest.raises(DomainError, match="above the filled quantity"):
        engine.amend("a3", now=at(5), lots=5)
    engine.submit(order("s", BUY, 1, OrderType.STOP_MARKET, stop=200), at(5))
    with pytest.raises(DomainError, match="no limit price"):
        engine.amend("s", now=at(5), limit_ticks=150)
    post = order("p", SELL, 5, tif=POST_ONLY, limit=110)
    engine.submit(post, at(5))
    with pytest.raises(DomainError, match="post-only"):
        engine.amend("p", now=at(6), limit_ticks=90)
    assert post.limit_ticks == 110 and engine.order("p") is post
    assert other.lots == 20


# -- candles ---------------------------------------------------------------------------------


def candle(o, h, low, c, volume=1_000, start_ms=0):
    return Candle(
        open=o,
        high=h,
        low=low,
        close=c,
        volume=volume,
        start=at(start_ms),
        end=at(start_ms + 60_000),
    )


def test_candle_market_order_fills_at_the_open_with_slippage():
    engine = MatchingEngine(candle_rules=CandleRules(slippage_bps=D(10)))
    engine.submit(market("m1", BUY, 5), at(0))
    engine.submit(market("m2", SELL, 5), at(0))
    fills = engine.on_candle(SYMBOL, candle(10_000, 10_100, 9_900, 10_050))
    # 10 bps of 10,000 ticks is 10 ticks, against us each way.
    assert fills_of(fills) == [("m1", 5, 10_010, TAKER), ("m2", 5, 9_990, TAKER)]
    assert fills[0].timestamp == at(0)


def test_candle_slippage_rounds_onto_the_grid_against_us():
    engine = MatchingEngine(candle_rules=CandleRules(slippage_bps=D(1)))
    engine.submit(market("m1", BUY, 1), at(0))
    engine.submit(market("m2", SELL, 1), at(0))
    fills = engine.on_candle(SYMBOL, candle(1_001, 1_001, 1_001, 1_001))
    assert [e.ticks for e in fills] == [1_002, 1_000]


def test_candle_limit_needs_a_trade_through_unless_touch_fills():
    strict = MatchingEngine()
    strict.submit(order("l1", BUY, 5, limit=9_900), at(0))
    assert strict.on_candle(SYMBOL, candle(10_000, 10_100, 9_900, 10_000)) == []
    fills = strict.on_candle(SYMBOL, candle(10_000, 10_100, 9_899, 10_000, start_ms=60_000))
    assert fills_of(fills) == [("l1", 5, 9_900, MAKER)]
    assert fills[0].timestamp == at(120_000)

    touching = MatchingEngine(candle_rules=CandleRules(touch_fills=True))
    touching.submit(order("l1", BUY, 5, limit=9_900), at(0))
    fills = touching.on_candle(SYMBOL, candle(10_000, 10_100, 9_900, 10_000))
    assert fills_of(fills) == [("l1", 5, 9_900, MAKER)]


def test_candle_gap_through_a_resting_limit_fills_at_the_open():
    engine = MatchingEngine()
    engine.submit(order("l1", SELL, 5, limit=10_200), at(0))
    assert engine.on_candle(SYMBOL, candle(10_000, 10_100, 9_900, 10_050)) == []
    fills = engine.on_candle(SYMBOL, candle(10_300, 10_400, 10_250, 10_300, start_ms=60_000))
    assert fills_of(fills) == [("l1", 5, 10_300, MAKER)]


def test_candle_limit_marketable_at_the_open_takes_and_post_only_is_rejected():
    engine = MatchingEngine()
    engine.submit(order("l1", BUY, 5, limit=10_100), at(0))
    post = order("p1", BUY, 5, tif=POST_ONLY, limit=10_100)
    engine.submit(post, at(0))
    fills = engine.on_candle(SYMBOL, candle(10_000, 10_100, 9_950, 10_050))
    assert fills_of(fills) == [("l1", 5, 10_000, TAKER)]
    assert post.status is OrderStatus.REJECTED


def test_candle_stops_fill_at_the_worse_of_stop_and_open():
    engine = MatchingEngine()
    engine.submit(order("s1", BUY, 5, OrderType.STOP_MARKET, stop=10_050), at(0))
    engine.submit(order("s2", SELL, 5, OrderType.STOP_MARKET, stop=9_000), at(0))
    engine.submit(order("s3", SELL, 5, OrderType.STOP_LIMIT, stop=9_960, limit=9_950), at(0))
    fills = engine.on_candle(SYMBOL, candle(10_000, 10_100, 9_900, 10_000))
    assert fills_of(fills) == [("s1", 5, 10_050, TAKER), ("s3", 5, 9_960, TAKER)]
    fills = engine.on_candle(SYMBOL, candle(8_800, 8_900, 8_700, 8_800, start_ms=60_000))
    assert fills_of(fills) == [("s2", 5, 8_800, TAKER)]  # gapped through: the open


def test_candle_stop_limit_gapped_past_its_limit_rests():
    engine = MatchingEngine()
    stop = order("s1", BUY, 5, OrderType.STOP_LIMIT, stop=10_050, limit=10_060)
    engine.submit(stop, at(0))
    assert engine.on_candle(SYMBOL, candle(10_100, 10_200, 10_080, 10_150)) == []
    assert engine.open_orders() == [stop]
    fills = engine.on_candle(SYMBOL, candle(10_100, 10_100, 10_000, 10_020, start_ms=60_000))
    assert fills_of(fills) == [("s1", 5, 10_060, MAKER)]


def test_candle_volume_cap_limits_fills_per_bar():
    engine = MatchingEngine(candle_rules=CandleRules(max_volume_fraction=D("0.1")))
    limit_buy = order("l1", BUY, 80, limit=9_950)
    engine.submit(limit_buy, at(0))
    fok = order("f1", BUY, 80, tif=FOK, limit=10_100)
    engine.submit(fok, at(0))
    fills = engine.on_candle(SYMBOL, candle(10_000, 10_100, 9_900, 10_000, volume=500))
    assert fills_of(fills) == [("l1", 50, 9_950, MAKER)]
    assert fok.status is OrderStatus.EXPIRED
    fills = engine.on_candle(SYMBOL, candle(10_000, 10_100, 9_900, 10_000, 500, 60_000))
    assert fills_of(fills) == [("l1", 30, 9_950, MAKER)]


def test_candle_orders_wait_for_a_bar_that_starts_after_they_arrive():
    engine = MatchingEngine(latency=timedelta(milliseconds=100))
    engine.submit(market("m1", BUY, 5), at(0))
    assert engine.on_candle(SYMBOL, candle(10_000, 10_100, 9_900, 10_000)) == []
    fills = engine.on_candle(SYMBOL, candle(10_010, 10_100, 9_900, 10_000, start_ms=60_000))
    assert fills_of(fills) == [("m1", 5, 10_010, TAKER)]


def test_the_fill_model_of_an_instrument_is_fixed_by_its_first_data():
    engine = engine_with_book()
    with pytest.raises(DomainError, match="order book"):
        engine.on_candle(SYMBOL, candle(10_000, 10_100, 9_900, 10_000))
    other = MatchingEngine()
    other.on_candle(SYMBOL, candle(10_000, 10_100, 9_900, 10_000))
    with pytest.raises(DomainError, match="candles"):
        other.on_book(SYMBOL, standard_book())


def test_market_data_out_of_time_order_is_refused():
    engine = engine_with_book(standard_book(10))
    with pytest.raises(DomainError, match="older"):
        engine.on_trade(SYMBOL, 99, 1, SELL, at(5))


@pytest.mark.parametrize(
    ("o", "h", "low", "c"), [(100, 99, 98, 99), (100, 101, 101, 100), (0, 1, 0, 1)]
)
def test_inconsistent_candles_are_refused(o, h, low, c):
    with pytest.raises(DomainError, match="inconsistent"):
        candle(o, h, low, c)


# -- determinism -----------------------------------------------------------------------------


def scripted_run(seed):
    engine = MatchingEngine(
        latency=timedelta(milliseconds=3), latency_jitter=timedelta(milliseconds=4), seed=seed
    )
    engine.on_book(SYMBOL, standard_book())
    executions = []
    for n in range(30):
        side = BUY if n % 2 else SELL
        kind = n % 3
        if kind == 0:
            executions += engine.submit(market(f"o{n}", side, 1 + n % 4), at(n))
        else:
            limit = 99 + (n % 5) if side is BUY else 101 - (n % 5)
            executions += engine.submit(order(f"o{n}", side, 1 + n % 7, limit=limit), at(n))
        executions += engine.on_trade(SYMBOL, 97 + n % 7, 1 + n % 5, side, at(n + 1))
        if n % 10 == 9:
            executions += engine.on_book(SYMBOL, standard_book(n + 2))
    return executions


def test_same_seed_and_inputs_give_identical_fills():
    first = scripted_run(11)
    assert first == scripted_run(11)
    assert len(first) > 10


# -- edges: grid and fees --------------------------------------------------------------------

SPEC = InstrumentSpec(
    symbol=SYMBOL,
    base="BTC",
    quote="USDT",
    tick_size=D("0.5"),
    lot_size=D("0.001"),
    min_quantity=D("0.001"),
)


def test_grid_converts_both_ways_and_refuses_off_grid_values():
    grid = Grid(SPEC)
    assert grid.ticks(D("100.5")) == 201 and grid.price(201) == D("100.5")
    assert grid.lots(D("1.5")) == 1_500 and grid.quantity(1_500) == D("1.5")
    assert grid.whole_lots(D("2.0005")) == 2_000
    assert grid.average_price(201 * 2 + 203, 3) == quantize(D("302.5") / 3)
    assert grid.average_price(0, 0) is None
    for bad in (D("100.25"), D(0), D(-1), D("NaN"), D("Infinity")):
        with pytest.raises(DomainError, match="tick size"):
            grid.ticks(bad)
    with pytest.raises(DomainError, match="binary floats"):
        grid.lots(0.1)


def test_fees_by_liquidity_with_a_maker_rebate():
    fees = FeeSchedule(maker_rate=D("-0.0001"), taker_rate=D("0.0005"))
    assert fees.fee(D("2"), D("100.5"), TAKER) == D("0.1005")
    assert fees.fee(D("2"), D("100.5"), MAKER) == D("-0.0201")
    with pytest.raises(DomainError, match="taker fee rate"):
        FeeSchedule(taker_rate=D("-0.1"))
