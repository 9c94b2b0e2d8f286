"""The L2 book and trade-flow simulator: valid books, a mid that follows the candles, bar
volumes traded exactly, trades at or through the touch, clustered order flow, bad input
refused by name. Real data: the EURUSD hourly candles the backtesting package ships."""

import csv
import importlib.util
import itertools
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.domain import marketsim
from execution.domain.errors import DomainError
from execution.domain.marketsim import (
    BookSnapshot,
    Candle,
    InvalidCandle,
    MarketSimConfig,
    Trade,
    simulate_bar_flow,
    simulate_events,
)
from execution.domain.urgency import InvalidConfig, book_features
from execution.domain.values import Side

EURUSD_TICK, EURUSD_LOT = D("0.00001"), D(1)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def eurusd_candles(count):
    # find_spec locates the package without importing it (its import loads bokeh: seconds).
    spec = importlib.util.find_spec("backtesting")
    assert spec is not None and spec.origin, "install the dev extras: backtesting holds EURUSD"
    path = Path(spec.origin).parent / "test" / "EURUSD.csv"
    with path.open(newline="") as file:
        rows = list(itertools.islice(csv.DictReader(file), count))
    return [
        Candle(
            at=datetime.fromisoformat(row[""]).replace(tzinfo=UTC),
            open=D(row["Open"]),
            high=D(row["High"]),
            low=D(row["Low"]),
            close=D(row["Close"]),
            volume=D(row["Volume"]),
        )
        for row in rows
    ]


def hourly(*bars, start=T0):
    """Candles from (open, high, low, close, volume) strings, one an hour."""
    return [
        Candle(start + timedelta(hours=i), *(D(value) for value in bar))
        for i, bar in enumerate(bars)
    ]


THREE_BARS = hourly(
    ("100.00", "100.80", "99.70", "100.50", "1200"),
    ("100.40", "100.60", "99.90", "100.00", "800"),
    ("100.10", "101.20", "100.00", "101.00", "3000"),
)


def split_by_bar(events, candles):
    """Each bar's snapshots and trades, by the bar their time falls in."""
    opens = [candle.at for candle in candles]
    bars = [([], []) for _ in candles]
    for event in events:
        snapshots, trades = bars[bisect_right(opens, event.at) - 1]
        (snapshots if isinstance(event, BookSnapshot) else trades).append(event)
    return bars


def assert_valid_book(snapshot, tick, lot, levels):
    assert len(snapshot.bids) == len(snapshot.asks) == levels
    for price, size in (*snapshot.bids, *snapshot.asks):
        assert isinstance(price, D) and isinstance(size, D)
        assert price > 0 and price % tick == 0
        assert size > 0 and size % lot == 0
    bid_prices = [price for price, _ in snapshot.bids]
    ask_prices = [price for price, _ in snapshot.asks]
    assert bid_prices == sorted(bid_prices, reverse=True) and len(set(bid_prices)) == levels
    assert ask_prices == sorted(ask_prices) and len(set(ask_prices)) == levels
    assert bid_prices[0] < ask_prices[0]


def assert_mid_follows(snapshots, candle, tick, substeps):
    """Within half a tick: the open first, the close last, the high and low reached, never
    outside them."""
    half = tick / 2
    mids = [snapshot.mid for snapshot in snapshots]
    assert len(mids) == substeps and snapshots[0].at == candle.at
    assert abs(mids[0] - candle.open) <= half
    assert abs(mids[-1] - candle.close) <= half
    assert candle.low - half <= min(mids) <= candle.low + half
    assert candle.high - half <= max(mids) <= candle.high + half


def assert_trades_against_touch(events, tick, lot, levels):
    """Each trade is after its snapshot and before the next, at or through the touch on its
    aggressor's side, no deeper than the book the simulator tracks."""
    depth = (2 * levels + 10) * tick
    book, last_time = None, None
    for event in events:
        if isinstance(event, BookSnapshot):
            assert last_time is None or event.at > last_time
            book, last_time = event, event.at
            continue
        assert event.at > book.at and event.at >= last_time
        last_time = event.at
        assert event.price % tick == 0 and event.size > 0 and event.size % lot == 0
        if event.aggressor is Side.BUY:
            assert book.asks[0][0] <= event.price <= book.asks[0][0] + depth
        else:
            assert book.bids[0][0] - depth <= event.price <= book.bids[0][0]


def nanoseconds(at):
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def traded(trades, side=None):
    return sum((t.size for t in trades if side is None or t.aggressor is side), D(0))


# -- EURUSD: real candles ----------------------------------------------------------------

EURUSD_BARS = 120  # five trading days
EURUSD_CONFIG = MarketSimConfig()


@pytest.fixture(scope="module")
def eurusd():
    candles = eurusd_candles(EURUSD_BARS)
    events = list(
        simulate_events(
            candles, tick_size=EURUSD_TICK, lot_size=EURUSD_LOT, seed=11, config=EURUSD_CONFIG
        )
    )
    return candles, events


def test_eurusd_books_are_valid_and_readable_by_the_book_features(eurusd):
    _, events = eurusd
    snapshots = [event for event in events if isinstance(event, BookSnapshot)]
    assert len(snapshots) == EURUSD_BARS * EURUSD_CONFIG.substeps
    for snapshot in snapshots:
        assert_valid_book(snapshot, EURUSD_TICK, EURUSD_LOT, EURUSD_CONFIG.levels)
    # paper_book_update hands the same bids/asks/at to book_features, which parses them.
    features = book_features(bids=snapshots[-1].bids, asks=snapshots[-1].asks, now=snapshots[-1].at)
    assert 0 <= features.book_resilience <= 1


def test_eurusd_mid_passes_open_extremes_and_close_of_every_bar(eurusd):
    candles, events = eurusd
    for candle, (snapshots, _) in zip(candles, split_by_bar(events, candles), strict=True):
        assert_mid_follows(snapshots, candle, EURUSD_TICK, EURUSD_CONFIG.substeps)


def test_eurusd_bars_trade_exactly_their_volume(eurusd):
    candles, events = eurusd
    for candle, (_, trades) in zip(candles, split_by_bar(events, candles), strict=True):
        assert traded(trades) == candle.volume  # whole lots: no rounding
        assert all(candle.at < trade.at < candle.at + timedelta(hours=1) for trade in trades)


def test_eurusd_trades_are_at_or_through_the_touch_mostly_at(eurusd):
    _, events = eurusd
    assert_trades_against_touch(events, EURUSD_TICK, EURUSD_LOT, EURUSD_CONFIG.levels)
    book, at_touch, trades = None, [], []
    for event in events:
        if isinstance(event, BookSnapshot):
            book = event
        else:
            trades.append(event)
            at_touch.append(event.price in (book.bids[0][0], book.asks[0][0]))
    assert {trade.aggressor for trade in trades} == {Side.BUY, Side.SELL}
    assert 0.5 < np.mean(at_touch) < 1  # most prints at the touch, some walk the book


def test_bar_flow_is_the_same_market_as_the_stream(eurusd):
    candles, events = eurusd
    flow = simulate_bar_flow(
        candles, tick_size=EURUSD_TICK, lot_size=EURUSD_LOT, seed=11, config=EURUSD_CONFIG
    )
    levels = EURUSD_CONFIG.levels
    assert flow.open_time_ns.dtype == flow.close_time_ns.dtype == np.int64
    assert flow.buy_volume.dtype == flow.bid_price.dtype == np.float64
    assert flow.bid_price.shape == flow.ask_size.shape == (EURUSD_BARS, levels)
    for bar, (candle, (snapshots, trades)) in enumerate(
        zip(candles, split_by_bar(events, candles), strict=True)
    ):
        assert flow.buy_volume[bar] == float(traded(trades, Side.BUY))
        assert flow.sell_volume[bar] == float(traded(trades, Side.SELL))
        assert flow.trade_count[bar] == len(trades)
        assert flow.large_buy_volume[bar] <= flow.buy_volume[bar]
        assert flow.buy_orders[bar] + flow.sell_orders[bar] <= len(trades)
        close = snapshots[-1]
        assert flow.close_time_ns[bar] == nanoseconds(close.at)
        assert flow.open_time_ns[bar] == nanoseconds(candle.at)
        assert flow.bid_price[bar].tolist() == [float(price) for price, _ in close.bids]
        assert flow.ask_size[bar].tolist() == [float(size) for _, size in close.asks]
    assert flow.large_order_min_size == pytest.approx(5 * flow.mean_order_size, abs=1)
    assert 0 < flow.large_buy_volume.sum() < flow.buy_volume.sum()


def test_chunks_of_bars_join_up(monkeypatch):
    # A chunk is normally 2**16 snapshots; four bars a chunk puts ten boundaries in 40 bars,
    # where Hawkes clusters carry over and a new random stream starts.
    monkeypatch.setattr(marketsim, "_CHUNK_SNAPSHOTS", 4 * EURUSD_CONFIG.substeps)
    candles = eurusd_candles(40)
    events = list(simulate_events(candles, tick_size=EURUSD_TICK, lot_size=EURUSD_LOT, seed=5))
    assert events == list(
        simulate_events(candles, tick_size=EURUSD_TICK, lot_size=EURUSD_LOT, seed=5)
    )
    assert_trades_against_touch(events, EURUSD_TICK, EURUSD_LOT, EURUSD_CONFIG.levels)
    for candle, (snapshots, trades) in zip(candles, split_by_bar(events, candles), strict=True):
        assert_mid_follows(snapshots, candle, EURUSD_TICK, EURUSD_CONFIG.substeps)
        for snapshot in snapshots:
            assert_valid_book(snapshot, EURUSD_TICK, EURUSD_LOT, EURUSD_CONFIG.levels)
        assert traded(trades) == candle.volume


def test_eurusd_net_trade_flow_leans_with_the_bar():
    candles = eurusd_candles(600)
    flow = simulate_bar_flow(
        candles,
        tick_size=EURUSD_TICK,
        lot_size=EURUSD_LOT,
        seed=3,
        config=MarketSimConfig(flow_tilt=1.0),
    )
    move = np.array([float(candle.close - candle.open) for candle in candles])
    assert np.corrcoef(flow.buy_volume - flow.sell_volume, move)[0, 1] > 0.1


# -- determinism and stylised facts ------------------------------------------------------


def test_same_seed_same_market_another_seed_another():
    def run(seed):
        return list(simulate_events(THREE_BARS, tick_size=D("0.01"), lot_size=D("0.1"), seed=seed))

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    flows = [
        simulate_bar_flow(THREE_BARS, tick_size=D("0.01"), lot_size=D("0.1"), seed=7)
        for _ in range(2)
    ]
    for name, column in vars(flows[0]).items():
        assert np.array_equal(column, getattr(flows[1], name)), name


def flat_day(volume="2000"):
    return hourly(*[("100.00", "100.50", "99.50", "100.00", volume)] * 24)


def market_orders(config, seed=2):
    """(time, side) of each market order: its trades share both."""
    events = simulate_events(
        flat_day(), tick_size=D("0.01"), lot_size=D(1), seed=seed, config=config
    )
    return sorted({(e.at, e.aggressor) for e in events if isinstance(e, Trade)})


def dispersion_per_minute(orders):
    minutes = [int((at - T0).total_seconds() // 60) for at, _ in orders]
    counts = np.bincount(minutes, minlength=24 * 60)
    return counts.var() / counts.mean()


def test_hawkes_market_orders_cluster_and_poisson_ones_do_not():
    # Same volume every hour, so only self-excitation can make the counts overdispersed.
    clustered = dispersion_per_minute(market_orders(MarketSimConfig(hawkes_branching=0.8)))
    poisson = dispersion_per_minute(market_orders(MarketSimConfig(hawkes_branching=0.0)))
    assert clustered > 2.0
    assert 0.7 < poisson < 1.3


def test_triggered_orders_keep_their_side():
    def same_side_share(persistence):
        config = MarketSimConfig(hawkes_branching=0.7, side_persistence=persistence)
        sides = [side for _, side in market_orders(config)]
        return np.mean([a == b for a, b in itertools.pairwise(sides)])

    assert same_side_share(0.9) > same_side_share(0.0) + 0.1


def test_volume_off_the_lot_grid_rounds_to_the_nearest_lot():
    candles = hourly(("100.00", "100.30", "99.80", "100.10", "12.74"))
    events = list(
        simulate_events(
            candles,
            tick_size=D("0.01"),
            lot_size=D("0.5"),
            seed=1,
            bar_duration=timedelta(hours=1),
        )
    )
    total = traded(event for event in events if isinstance(event, Trade))
    assert total == D("12.5") and abs(total - candles[0].volume) <= D("0.25")


def test_a_bar_without_volume_has_books_and_no_trades():
    candles = hourly(
        ("100.00", "100.30", "99.80", "100.10", "0"),
        ("100.10", "100.20", "99.90", "100.00", "500"),
    )
    snapshots, trades = split_by_bar(
        list(simulate_events(candles, tick_size=D("0.01"), lot_size=D(1), seed=4)), candles
    )[0]
    assert trades == [] and len(snapshots) == MarketSimConfig().substeps
    assert_mid_follows(snapshots, candles[0], D("0.01"), MarketSimConfig().substeps)


# -- property: any sane candles give a valid, calibrated market ---------------------------


@st.composite
def markets(draw):
    tick = draw(st.sampled_from([D("0.01"), D("0.5"), D(1), D("0.0001")]))
    lot = draw(st.sampled_from([D(1), D("0.001"), D("0.1")]))
    price = draw(st.integers(1_000, 1_000_000))
    bars = []
    for _ in range(draw(st.integers(1, 3))):
        open_ = price + draw(st.integers(-20, 20))
        close = open_ + draw(st.integers(-200, 200))
        high = max(open_, close) + draw(st.integers(0, 100))
        low = min(open_, close) - draw(st.integers(0, 100))
        lots = draw(st.integers(0, 3_000))
        bars.append((*(str(ticks * tick) for ticks in (open_, high, low, close)), str(lots * lot)))
        price = close
    config = MarketSimConfig(
        levels=draw(st.integers(1, 5)),
        substeps=draw(st.integers(4, 30)),
        hawkes_branching=draw(st.sampled_from([0.0, 0.5, 0.9])),
        orders_per_bar=draw(st.sampled_from([1.0, 20.0, 300.0])),
        limit_order_size=draw(st.sampled_from([0.2, 1.0, 3.0])),
    )
    return hourly(*bars), tick, lot, config, draw(st.integers(0, 2**32))


@settings(max_examples=100, deadline=None)
@given(markets())
def test_property_books_valid_mid_calibrated_volume_traded(market):
    candles, tick, lot, config, seed = market
    events = list(
        simulate_events(
            candles,
            tick_size=tick,
            lot_size=lot,
            seed=seed,
            config=config,
            bar_duration=timedelta(hours=1),
        )
    )
    for event in events:
        if isinstance(event, BookSnapshot):
            assert_valid_book(event, tick, lot, config.levels)
    assert_trades_against_touch(events, tick, lot, config.levels)
    for candle, (snapshots, trades) in zip(candles, split_by_bar(events, candles), strict=True):
        assert_mid_follows(snapshots, candle, tick, config.substeps)
        assert traded(trades) == candle.volume


# -- bad input is refused by name --------------------------------------------------------


@pytest.mark.parametrize(
    ("settings_", "key"),
    [
        ({"levels": 0}, "levels"),
        ({"levels": 2.5}, "levels"),
        ({"substeps": 3}, "substeps"),
        ({"substeps": 100_001}, "substeps"),
        ({"hawkes_branching": 1.0}, "hawkes_branching"),
        ({"order_size_tail": 1.0}, "order_size_tail"),
        ({"cancel_rate": 0}, "cancel_rate"),
        ({"flow_tilt": "a lot"}, "flow_tilt"),
        ({"side_persistence": -0.1}, "side_persistence"),
        ({"warp_speed": 9}, "warp_speed"),
    ],
)
def test_bad_config_is_refused_naming_the_setting(settings_, key):
    with pytest.raises(InvalidConfig) as refused:
        MarketSimConfig.from_dict(settings_)
    assert refused.value.key == key and key in str(refused.value)


def test_config_schema_documents_every_setting():
    schema = MarketSimConfig.schema()
    assert schema["properties"]["hawkes_branching"]["maximum"] == 0.95
    assert all(entry["description"] for entry in schema["properties"].values())


def corrupt(row, **changes):
    candles = list(THREE_BARS)
    fields = {name: getattr(candles[row], name) for name in Candle.__slots__}
    candles[row] = Candle(**(fields | changes))
    return candles


@pytest.mark.parametrize(
    ("candles", "field", "words"),
    [
        (corrupt(1, high=D("100.30")), "high", "high 100.30 is below the open or close"),
        (corrupt(1, low=D("100.20")), "low", "low 100.20 is above the open or close"),
        (corrupt(1, open=100.4), "open", "not float"),
        (corrupt(1, close=D(0)), "close", "greater than zero"),
        (corrupt(1, volume=D(-1)), "volume", "volume -1 is negative"),
        (corrupt(1, at=datetime(2024, 1, 1, 1)), "at", "not a time-zone-aware time"),
        (corrupt(1, at=T0), "at", "is not after candles[0]"),
        (corrupt(1, low=D("0.05")), "low", "ticks of 0.01 above zero"),
        ([*THREE_BARS[:1], ("100", "101", "99", "100", "5")], "candle", "is a tuple"),
    ],
)
def test_bad_candles_are_refused_naming_the_row_and_field(candles, field, words):
    with pytest.raises(InvalidCandle) as refused:
        simulate_events(candles, tick_size=D("0.01"), lot_size=D(1), seed=1)  # not iterated
    assert refused.value.row == 1 and refused.value.field == field
    assert "candles[1]" in str(refused.value) and words in str(refused.value)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"candles": []}, "non-empty sequence"),
        ({"tick_size": D(0)}, "tick_size must be greater than zero"),
        ({"lot_size": "lots"}, "lot_size: 'lots' is not a number"),
        ({"seed": -1}, "seed must be a whole number >= 0"),
        ({"candles": THREE_BARS[:1]}, "bar_duration: one candle"),
        ({"bar_duration": timedelta(hours=2)}, "starts before candles[0]'s 2:00:00 bar ends"),
        ({"bar_duration": timedelta(milliseconds=50)}, "substeps 60 cut a 0:00:00.050000 bar"),
        ({"config": {"levels": 3}}, "config must be a MarketSimConfig"),
    ],
)
def test_bad_arguments_are_refused_by_name(arguments, words):
    call = {"candles": THREE_BARS, "tick_size": D("0.01"), "lot_size": D(1), "seed": 1}
    with pytest.raises(DomainError, match=None) as refused:
        simulate_bar_flow(**(call | arguments))
    assert words in str(refused.value)
