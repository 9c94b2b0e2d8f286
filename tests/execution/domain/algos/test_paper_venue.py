"""End to end on the real paper venue: each algorithm's steps are carried out on a
``PaperVenue`` with a simulated clock and book snapshots, its reports fed back, and the parent
ends as configured with the average price of the venue's own fills."""

from datetime import timedelta
from decimal import Decimal as D

from execution.domain.algos import (
    Iceberg,
    LimitWithTimeout,
    Market,
    ParentStatus,
    Pov,
    Twap,
    Vwap,
)
from execution.domain.orders import OrderType
from execution.domain.values import Side
from tests.execution.domain.algos.helpers import PaperRun, at, ladder

BIDS = ladder("100.0", "2", "-0.1")
ASKS = ladder("100.2", "2", "0.1")


def assert_filled_at_the_venues_average(run: PaperRun, quantity: str) -> None:
    parent = run.state
    assert parent.status is ParentStatus.FILLED
    assert parent.filled_quantity == run.venue_filled() == D(quantity)
    assert parent.average_price == run.venue_average()
    assert [f.status for f in run.finished] == [ParentStatus.FILLED]
    assert run.venue.positions()["BTCUSDT"].quantity == D(quantity) * parent.side.sign


def test_market_walks_the_book():
    run = PaperRun()
    run.book(at(), BIDS, ladder("100.2", "0.4", "0.1"))
    run.start(Market(), "1")
    assert_filled_at_the_venues_average(run, "1")
    assert run.state.average_price == D("100.28")  # 0.4 @ 100.2, 0.4 @ 100.3, 0.2 @ 100.4


def test_limit_partly_filled_then_the_market_fallback_at_the_timeout():
    run = PaperRun()
    run.book(at(), BIDS, ASKS)
    run.start(LimitWithTimeout(timeout=timedelta(minutes=1), fallback_to_market=True), "1")
    # The market comes down to our bid: 0.4 offered at 100.0 crosses it.
    run.book(at(seconds=20), ladder("99.8", "2", "-0.1"), ladder("100.0", "0.4", "0.1"))
    run.tick()
    assert (
        run.state.filled_quantity == D("0.4") and run.state.status is ParentStatus.PARTIALLY_FILLED
    )
    run.book(at(minutes=1), BIDS, ASKS)
    run.tick()
    assert [p.request.order_type for p in run.sent] == [OrderType.LIMIT, OrderType.MARKET]
    assert_filled_at_the_venues_average(run, "1")
    assert run.state.average_price == D("100.12")  # 0.4 @ 100.0, 0.6 @ 100.2


def test_limit_without_fallback_expires_with_what_filled():
    run = PaperRun()
    run.book(at(), BIDS, ASKS)
    run.start(LimitWithTimeout(timeout=timedelta(minutes=1)), "1", side=Side.SELL)
    run.book(at(seconds=20), ladder("100.2", "0.3", "-0.1"), ladder("100.4", "2", "0.1"))
    run.book(at(minutes=1), BIDS, ASKS)
    run.tick()
    parent = run.state
    assert parent.status is ParentStatus.EXPIRED and parent.filled_quantity == D("0.3")
    assert parent.average_price == run.venue_average() == D("100.2")
    assert run.venue.open_orders() == []


def test_twap_with_limit_slices_and_a_closing_market_order():
    run = PaperRun()
    run.book(at(), BIDS, ASKS)
    run.start(Twap(duration=timedelta(minutes=30), num_slices=3, use_limit_orders=True), "1")
    # Slice one (0.333 at 100.0, due at 0) is filled by a dip; slice two (due at 10 minutes)
    # is cancelled unfilled at 20 and carried into slice three, which a dip fills in part;
    # at 30 minutes the rest of it is cancelled and sent as a market order.
    run.book(at(minutes=5), ladder("99.8", "2", "-0.1"), ladder("100.0", "1", "0.1"))
    run.run([at(minutes=10)], BIDS, ASKS)
    run.run([at(minutes=20)], BIDS, ASKS)
    run.book(at(minutes=25), ladder("99.8", "2", "-0.1"), ladder("100.0", "0.5", "0.1"))
    run.run([at(minutes=30)], BIDS, ASKS)
    sent = [(p.request.order_type, p.request.quantity) for p in run.sent]
    assert sent == [
        (OrderType.LIMIT, D("0.333")),
        (OrderType.LIMIT, D("0.333")),
        (OrderType.LIMIT, D("0.667")),
        (OrderType.MARKET, D("0.167")),
    ]
    assert_filled_at_the_venues_average(run, "1")


def test_iceberg_clips_refill_on_fills_and_refresh_when_the_market_moves_away():
    run = PaperRun()
    run.book(at(), BIDS, ASKS)
    run.start(Iceberg(visible_pct=D("0.25"), max_refresh_time=timedelta(seconds=30)), "1")
    for second in (5, 10):  # sellers trade through our bid: each clip fills, the next joins
        run.trade(at(seconds=second), "99.9", "1", Side.SELL)
        run.tick()
    # The market runs up: the third clip waits at 100.0 until its refresh at 40 seconds,
    # then rejoins the touch at 100.5, where sellers fill it and the last clip.
    up_bids, up_asks = ladder("100.5", "2", "-0.1"), ladder("100.7", "2", "0.1")
    run.run([at(seconds=20), at(seconds=39)], up_bids, up_asks)
    assert len(run.sent) == 3
    run.run([at(seconds=40)], up_bids, up_asks)
    for second in (45, 50):
        run.trade(at(seconds=second), "100.4", "1", Side.SELL)
        run.tick()
    prices = [p.request.price for p in run.sent]
    assert prices == [D("100.0"), D("100.0"), D("100.0"), D("100.5"), D("100.5")]
    assert all(p.request.quantity == D("0.25") for p in run.sent)
    assert_filled_at_the_venues_average(run, "1")
    assert run.state.average_price == D("100.25")


def test_vwap_with_market_slices_follows_a_u_shaped_profile():
    run = PaperRun()
    run.book(at(), BIDS, ASKS)
    vwap = Vwap(duration=timedelta(hours=1), profile=("3", "1", "1", "3"))
    run.start(vwap, "2", side=Side.SELL)
    run.run([at(minutes=minute) for minute in range(5, 65, 5)], BIDS, ASKS)
    assert [p.request.quantity for p in run.sent] == [D("0.75"), D("0.25"), D("0.25"), D("0.75")]
    assert [c.sent_at for c in run.state.children] == [at(), at(15), at(30), at(45)]
    assert_filled_at_the_venues_average(run, "2")


def test_pov_follows_the_traded_volume():
    run = PaperRun()
    run.book(at(), BIDS, ASKS)
    run.start(Pov(participation_rate=D("0.2"), min_child_size=D("0.1")), "1")
    for second, volume in enumerate(["0.4", "1", "2", "0.3", "3"], start=1):
        run.book(at(seconds=second), BIDS, ASKS)
        run.tick(volume)
    assert [p.request.quantity for p in run.sent] == [D("0.28"), D("0.4"), D("0.32")]
    assert_filled_at_the_venues_average(run, "1")


def test_the_slippage_breaker_stops_a_child_that_walks_a_thin_book():
    run = PaperRun()
    run.book(at(), BIDS, [(D("100.2"), D("0.1")), (D("101.5"), D("5"))])
    run.start(Iceberg(visible_pct=D("0.5"), use_limit_orders=False), "1")
    parent = run.state
    assert parent.status is ParentStatus.STOPPED and parent.filled_quantity == D("0.5")
    assert "slippage breaker" in run.finished[0].reason
    assert len(run.sent) == 1 and parent.average_price == run.venue_average()
