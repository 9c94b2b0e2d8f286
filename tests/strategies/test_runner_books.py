"""SmartMoneyFollower on the L2 book at each bar's close (``book_inputs``): bar by bar (as the
live runner feeds it) and vectorised (as a backtest runs it) it decides the same; through the
database, the runner and the backtest read the same stored books; a bar without its book is
refused, not guessed."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from execution.domain.marketsim import Candle as SimCandle
from execution.marketdata.base import BookBatch, CandleBatch
from execution.models import Instrument
from execution.services.accounts import account_open
from execution.services.marketfeed import feed_bar_close
from execution.services.replay import (
    ReplaySource,
    market_replay_run,
    replay_history,
    replay_history_store,
)
from execution.services.venues import paper_reset
from mlmodels.features import BookSnapshot as Book
from mlmodels.features import InvalidFeatureInputs, OrderBookSeries
from strategies.domain.base import Bars
from strategies.library.smart_money import PRESETS, SmartMoneyConfig, SmartMoneyKind
from strategies.market_inputs import bar_books, book_series
from strategies.models import StrategyEvaluation
from strategies.runner import runner_states_clear
from strategies.services import (
    _bars,
    backtest_run,
    backtest_start,
    strategy_create,
    strategy_resume,
)
from tests.factories import make_user

MSFT = ReplaySource("bokeh:MSFT")
ANCHOR = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HISTORY, FIT = 320, 260
CONFIG = {**PRESETS["aggressive"], "book_inputs": True, "regime_fit_bars": FIT}


def market(bars: int) -> tuple[list[CandleBatch], list[BookBatch]]:
    return replay_history(MSFT, anchor=ANCHOR, bars=bars)


def as_bars(batches: list[CandleBatch]) -> Bars:
    def column(name: str) -> np.ndarray:
        return np.concatenate([getattr(batch, name) for batch in batches])

    return Bars(
        column("open_time"), *(column(n) for n in ("open", "high", "low", "close", "volume"))
    )


def as_books(batches: list[BookBatch]) -> list[Book]:
    bids = np.concatenate([batch.bids for batch in batches])
    asks = np.concatenate([batch.asks for batch in batches])
    return [
        Book(tuple(b[:, 0]), tuple(b[:, 1]), tuple(a[:, 0]), tuple(a[:, 1]))
        for b, a in zip(bids, asks, strict=True)
    ]


def as_series(books: list[Book]) -> OrderBookSeries:
    return OrderBookSeries(
        bid_prices=np.array([b.bid_prices for b in books]),
        bid_sizes=np.array([b.bid_sizes for b in books]),
        ask_prices=np.array([b.ask_prices for b in books]),
        ask_sizes=np.array([b.ask_sizes for b in books]),
    )


def test_bar_by_bar_on_books_makes_the_vectorised_decisions():
    candles, books = market(HISTORY)
    bars, closing_books = as_bars(candles), as_books(books)
    config = SmartMoneyConfig.from_dict(CONFIG)
    vectorised = SmartMoneyKind(config)
    vectorised.use_books(as_series(closing_books))
    targets = vectorised.target_positions(bars)

    live = SmartMoneyKind(config).live()
    target, seen = 0.0, []
    for bar, book in zip(bars, closing_books, strict=True):
        signal = live.on_bar(bar, book=book)
        if signal is not None:
            target = signal.target_position
        seen.append(target)

    np.testing.assert_array_equal(np.array(seen), targets)
    assert not np.any(targets[:FIT])  # flat while fitting
    assert np.count_nonzero(np.diff(targets[FIT:])) >= 10  # the book leans: it trades
    # On candles alone the same strategy never trades (the book leans to no side).
    candles_only = SmartMoneyKind(SmartMoneyConfig.from_dict({**CONFIG, "book_inputs": False}))
    assert not np.any(candles_only.target_positions(bars))


def test_a_strategy_that_reads_the_book_refuses_a_bar_without_one():
    candles, books = market(FIT + 5)
    bars = as_bars(candles)
    strategy = SmartMoneyKind(SmartMoneyConfig.from_dict(CONFIG))
    with pytest.raises(InvalidFeatureInputs, match="book"):
        strategy.target_positions(bars)
    strategy.use_books(as_series(as_books(books)[:-1]))
    with pytest.raises(InvalidFeatureInputs, match="books for"):
        strategy.target_positions(bars)
    with pytest.raises(InvalidFeatureInputs, match="without its book"):
        strategy.live().on_bar(next(iter(bars)))


@pytest.fixture
def clean_process():
    paper_reset()
    runner_states_clear()
    yield
    paper_reset()
    runner_states_clear()


@pytest.mark.django_db(transaction=True)
def test_the_runner_and_the_backtest_read_the_same_stored_books(clean_process, caplog):
    replay_history_store(MSFT, anchor=ANCHOR, bars=HISTORY)
    owner = make_user("smart")
    account = account_open(owner=owner, name="Paper", base_currency="USD", deposit=100_000)
    strategy = strategy_create(
        owner_id=owner.pk, name="MSFT on books", kind="smart_money", account_id=account.pk,
        symbols=["MSFT"], interval="1m", config=CONFIG,
    )  # fmt: skip
    strategy = strategy_resume(strategy_id=strategy.pk, owner_id=owner.pk)

    with caplog.at_level(logging.ERROR):
        market_replay_run(stop=threading.Event(), speed=100, max_bars=30, sleep=lambda s: None)

    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    evaluations = list(
        StrategyEvaluation.objects.filter(strategy=strategy)
        .order_by("bar_start")
        .values_list("bar_start", "target_position")
    )
    assert len(evaluations) == 30
    # The backtest over every stored bar, on the books the runner read: the same targets.
    backtest = backtest_start(owner_id=owner.pk, strategy_id=strategy.pk, queue=False)
    bars = _bars(backtest)
    starts = [ANCHOR + timedelta(minutes=n) for n in range(len(bars))]
    instrument = Instrument.objects.get(symbol="MSFT")
    stored = bar_books(instrument_id=instrument.pk, interval=timedelta(minutes=1), starts=starts)
    vectorised = SmartMoneyKind(SmartMoneyConfig.from_dict(CONFIG))
    vectorised.use_books(book_series(stored, starts))
    targets = vectorised.target_positions(bars)
    live, expected = [t for _, t in evaluations], list(targets[HISTORY:])
    # The runner signals changes of target, and its warm-up's decisions are history: until the
    # strategy's target first differs from the one it ended the warm-up with, nothing is
    # signalled and the runner's recorded target stays flat.
    first = next(i for i, target in enumerate(expected) if target != targets[HISTORY - 1])
    assert live[:first] == [0.0] * first
    assert live[first:] == expected[first:]
    assert len(set(live)) > 1  # it traded
    assert backtest_run(backtest_id=backtest.pk).status == "succeeded"

    # A bar stored without its book: the runner refuses it (logged), nothing is decided.
    bar_start = ANCHOR + timedelta(minutes=HISTORY + 30)
    price = Decimal("27.5")
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        feed_bar_close(
            symbol="MSFT", candle=SimCandle(bar_start, price, price, price, price, Decimal(1000))
        )
    assert "no stored L2 book at the close of MSFT" in caplog.text
    assert not StrategyEvaluation.objects.filter(strategy=strategy, bar_start=bar_start).exists()
