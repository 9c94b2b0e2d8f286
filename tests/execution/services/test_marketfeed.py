"""The simulated live market: real books for the paper exchange, paced by the clock."""

import itertools
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from execution.models import InstrumentBreaker, Order
from execution.services.marketfeed import market_feed_run, simulated_candles
from execution.services.orders import order_place
from execution.services.venues import paper_reset, paper_touch
from tests.factories import make_account, make_instrument, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_market():
    paper_reset()
    yield
    paper_reset()


class FakeClock:
    """Time moves only when the feed sleeps."""

    def __init__(self, start):
        self.now, self.slept = start, 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept += seconds
        self.now += timedelta(seconds=seconds)


def test_candles_are_seeded_on_the_grid_and_continuous():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    candles = simulated_candles(start_price=D("64250"), start=start, bars=30, seed=7,
                                tick_size=D("0.1"))  # fmt: skip
    again = simulated_candles(start_price=D("64250"), start=start, bars=30, seed=7,
                              tick_size=D("0.1"))  # fmt: skip
    assert candles == again and candles[0].open == D("64250")
    for before, after in itertools.pairwise(candles):
        assert after.open == before.close and after.at - before.at == timedelta(minutes=1)
    for candle in candles:
        assert candle.low <= min(candle.open, candle.close) <= max(candle.open, candle.close)
        assert max(candle.open, candle.close) <= candle.high and candle.volume > 0
        assert candle.close % D("0.1") == 0


def test_the_feed_moves_books_in_real_time_and_paper_orders_fill():
    btc = make_instrument("BTC-USDT", mark="64250", tick="0.1", lot="0.00001",
                          min_notional="5")  # fmt: skip
    make_instrument("ETH-USDT", mark="3120", tick="0.01", lot="0.0001", min_notional="5")
    account = make_account(make_user("feed"), deposit=D(100_000))
    clock = FakeClock(datetime.now(UTC))
    sent = market_feed_run(stop=threading.Event(), clock=clock, sleep=clock.sleep,
                           max_snapshots=20)  # fmt: skip
    assert sent == 20
    assert 8 <= clock.slept <= 11  # one book a second per instrument
    for symbol, mid in (("BTC-USDT", D("64250")), ("ETH-USDT", D("3120"))):
        touch = paper_touch(symbol)
        assert touch is not None
        bid, ask, _ = touch
        assert bid < ask and abs((bid + ask) / 2 - mid) / mid < D("0.01")
    btc.refresh_from_db()
    assert btc.marked_at is not None
    assert InstrumentBreaker.objects.filter(instrument=btc).exists()  # the breaker watched it
    order = order_place(account_id=account.pk, symbol="BTC-USDT", side="buy",
                        order_type="market", quantity="0.01")  # fmt: skip
    assert Order.objects.get(pk=order.pk).status == "filled"


def test_a_stop_ends_the_feed_and_no_instrument_means_no_feed(caplog):
    stop = threading.Event()
    stop.set()
    assert market_feed_run(stop=stop) == 0
    assert "no active instrument" in caplog.text
