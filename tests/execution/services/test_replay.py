"""The market replay (execution.services.replay): package history played forward through the
L2 simulator to the paper exchange, paced by its speed, resuming after the last stored bar."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from execution.models import BookSnapshot, Candle, Instrument
from execution.services.replay import (
    BAR,
    SEGMENT_BARS,
    ReplayError,
    ReplaySource,
    market_replay_run,
    replay_candles,
    replay_cursor,
    replay_history_store,
    replay_speed_checked,
    series_length,
)
from execution.services.venues import paper_reset, paper_touch

pytestmark = pytest.mark.django_db(transaction=True)

EURUSD = ReplaySource("backtesting:EURUSD", volume_scale=100_000)
ANCHOR = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clean_market():
    paper_reset()
    yield
    paper_reset()


def store_history(source: ReplaySource, bars: int) -> None:
    replay_history_store(source, anchor=ANCHOR, bars=bars)


class FakeClock:
    """Time moves only when the replay sleeps."""

    def __init__(self) -> None:
        self.now, self.slept = datetime.now(UTC), 0.0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += timedelta(seconds=seconds)


def run(bars: int, speed: float = 1.0, clock: FakeClock | None = None) -> FakeClock:
    clock = clock or FakeClock()
    done = market_replay_run(
        stop=threading.Event(), speed=speed, clock=clock, sleep=clock.sleep, max_bars=bars
    )
    assert done.bars == bars and done.symbols == ("EURUSD",)
    return clock


def stored_books(symbol: str) -> list[tuple[datetime, object, object]]:
    return list(
        BookSnapshot.objects.filter(instrument__symbol=symbol)
        .order_by("taken_at")
        .values_list("taken_at", "bids", "asks")
    )


def test_the_replay_continues_the_history_with_the_same_market_and_resumes():
    """A resumed replay (mid-segment, after a stop) stores exactly the bars and books that a
    history of all of them has: the market does not depend on where a run started."""
    store_history(EURUSD, 30)
    clock = run(20)
    assert replay_cursor(EURUSD).next_bar == 50
    run(40, clock=clock)  # a second run, as after a restart (time goes on)
    cursor = replay_cursor(EURUSD)
    assert cursor is not None and (cursor.anchor, cursor.next_bar) == (ANCHOR, 90)
    replayed_candles = list(
        Candle.objects.filter(instrument__symbol="EURUSD")
        .order_by("open_time")
        .values_list("open_time", "open", "high", "low", "close", "volume")
    )
    replayed_books = stored_books("EURUSD")

    Candle.objects.all().delete()
    BookSnapshot.objects.all().delete()
    store_history(EURUSD, 90)

    assert replayed_candles == list(
        Candle.objects.filter(instrument__symbol="EURUSD")
        .order_by("open_time")
        .values_list("open_time", "open", "high", "low", "close", "volume")
    )
    assert [row[0] for row in replayed_candles] == [ANCHOR + BAR * n for n in range(90)]
    assert replayed_books == stored_books("EURUSD")
    # One book per bar, inside it, at its close: the mid within half a tick of the close.
    tick = float(EURUSD.spec.tick_size)
    for (start, *_, close, _), (taken_at, bids, asks) in zip(
        replayed_candles, replayed_books, strict=True
    ):
        assert start < taken_at < start + BAR
        assert abs((bids[0][0] + asks[0][0]) / 2 - close) <= tick / 2 + 1e-12


def test_the_paper_exchange_gets_the_books_and_the_prices_are_the_packages():
    store_history(EURUSD, 10)
    run(5)
    touch = paper_touch("EURUSD")
    assert touch is not None
    bid, ask, _ = touch
    last = Candle.objects.filter(instrument__symbol="EURUSD").latest("open_time")
    assert bid < ask and abs(float((bid + ask) / 2) - last.close) < 0.0001
    instrument = Instrument.objects.get(symbol="EURUSD")
    assert instrument.mark_price is not None and instrument.marked_at is not None
    # Bar 14 of the replay is row 14 of backtesting's EURUSD.csv.
    assert replay_candles(EURUSD, anchor=ANCHOR, first=14, count=1)[0].close == Decimal(
        repr(last.close)
    )


@pytest.mark.parametrize("speed", [0.5, 2.0, 10.0])
def test_speed_is_bars_a_second(speed):
    store_history(EURUSD, 10)
    clock = run(20, speed=speed)
    # The 20th bar closes 20 bars after the first book: 20 / speed seconds.
    assert clock.slept == pytest.approx(20 / speed, rel=0.02)


def test_faster_replays_send_fewer_books_a_bar_but_always_the_close():
    store_history(EURUSD, 10)
    slow = market_replay_run(stop=threading.Event(), speed=0.25, max_bars=3, sleep=lambda s: None)
    fast = market_replay_run(stop=threading.Event(), speed=50, max_bars=3, sleep=lambda s: None)
    assert slow.books == 3 * 12 and fast.books == 3  # every snapshot / the bar's last only


def test_a_stop_ends_the_replay_and_no_history_means_no_replay(caplog):
    stop = threading.Event()
    stop.set()
    assert market_replay_run(stop=stop).bars == 0
    assert "no instrument with stored history" in caplog.text
    store_history(EURUSD, 10)
    assert market_replay_run(stop=stop).bars == 0
    assert replay_cursor(EURUSD).next_bar == 10


def test_at_the_end_of_the_series_it_plays_again_from_the_last_close():
    length = series_length(EURUSD)
    # History whose last bar is the series' third to last: the cursor is from the stored bars.
    store_history(EURUSD, 1)
    tail = replay_candles(EURUSD, anchor=ANCHOR, first=length - 3, count=1)[0]
    Candle.objects.create(
        instrument=Instrument.objects.get(symbol="EURUSD"), interval="1m", open_time=tail.at,
        open=float(tail.open), high=float(tail.high), low=float(tail.low),
        close=float(tail.close), volume=float(tail.volume),
    )  # fmt: skip
    assert replay_cursor(EURUSD).next_bar == length - 2

    run(4)

    bars = list(
        Candle.objects.filter(instrument__symbol="EURUSD", open_time__gt=tail.at)
        .order_by("open_time")
        .values_list("open", "close")
    )
    assert len(bars) == 4
    # The second pass opens where the first closed, and moves as the series' first bars do.
    (_, end_close), (again_open, again_close) = bars[1], bars[2]
    assert again_open == end_close
    first = replay_candles(EURUSD, anchor=ANCHOR, first=0, count=1)[0]
    assert again_close / again_open == pytest.approx(float(first.close / first.open), abs=2e-5)
    assert replay_cursor(EURUSD).next_bar == length + 2
    assert length > SEGMENT_BARS


def test_a_speed_out_of_range_is_refused():
    for speed in (0, -1, float("nan"), 1000):
        with pytest.raises(ReplayError, match="speed"):
            replay_speed_checked(speed)
    with pytest.raises(CommandError, match="speed"):
        call_command("market_feed", "--source", "replay", "--speed", "0", stdout=StringIO())


def test_the_command_replays_a_number_of_bars():
    store_history(EURUSD, 10)
    out = StringIO()
    call_command("market_feed", "--source", "replay", "--speed", "100", "--bars", "3", stdout=out)
    assert "3 bars replayed (EURUSD)" in out.getvalue()
    assert replay_cursor(EURUSD).next_bar == 13
