"""The smart_money kind built from its config alone: fitted walk-forward on its first bars, the
same decisions vectorised and live, backtested on stored candles and evaluated by the runner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from execution.models import Candle, Instrument
from execution.services.venues import paper_reset
from strategies.backtest.walkforward import walk_forward_metrics, walk_forward_strategy
from strategies.kinds import InvalidStrategyConfig, kind_get
from strategies.library import parse_config
from strategies.library.settings import InvalidConfig
from strategies.library.smart_money import (
    MIN_REGIME_FIT_BARS,
    SmartMoneyConfig,
    SmartMoneyKind,
    fit_regime_model,
)
from strategies.models import StrategyEvaluation
from strategies.runner import Verdict, bar_evaluate, runner_states_clear
from strategies.services import backtest_run, backtest_start, strategy_create, strategy_resume
from tests.factories import btc_book, make_account, make_instrument, make_user
from tests.strategies.library.common import assert_no_lookahead, random_walk_bars

FIT = 300
CONFIG = SmartMoneyConfig(confidence_threshold=0.5, min_liquidity_score=0.3, regime_fit_bars=FIT)
BARS = random_walk_bars(700, seed=11)


def test_the_kind_builds_from_its_config_alone():
    kind = kind_get("smart_money")
    strategy = kind.build(kind.config_from_dict({"regime_fit_bars": FIT}))
    assert isinstance(strategy, SmartMoneyKind) and not kind.needs_model
    assert strategy.warmup_bars == FIT
    assert kind.defaults()["regime_fit_bars"] == 500


@pytest.mark.parametrize("value", [MIN_REGIME_FIT_BARS - 1, 0, 1.5, "x", True])
def test_regime_fit_bars_is_refused_by_name(value):
    with pytest.raises(InvalidStrategyConfig) as caught:
        kind_get("smart_money").config_from_dict({"regime_fit_bars": value})
    assert list(caught.value.errors) == ["regime_fit_bars"]
    with pytest.raises(InvalidConfig) as refused:
        parse_config("smart_money", {"regime_fit_bars": value})
    assert refused.value.key == "regime_fit_bars"


def test_the_least_fit_window_has_enough_complete_bars_to_fit():
    model = fit_regime_model(BARS.head(MIN_REGIME_FIT_BARS))
    assert sorted(model.state_regimes) == sorted(
        ["accumulation", "distribution", "neutral", "trending", "volatile"]
    )


def test_flat_while_fitting_and_no_lookahead():
    strategy = SmartMoneyKind(CONFIG)
    targets = strategy.target_positions(BARS)
    assert len(targets) == len(BARS) and not np.any(targets[:FIT])
    assert_no_lookahead(strategy, BARS, (1, FIT - 1, FIT, FIT + 1, FIT + 57, 650))


def test_live_makes_the_vectorised_decisions_bar_by_bar():
    """Candles carry no book or trade flow, so the book leans to no side and the strategy never
    trades (issue 5's rule): the regime label and confidence of every bar must agree."""
    strategy = SmartMoneyKind(CONFIG)
    expected = strategy.follower(BARS).decisions(BARS)
    live = strategy.live()
    seen = []
    for index, bar in enumerate(BARS):
        assert live.on_bar(bar) is None
        if index < FIT - 1:
            assert live.last_decision is None  # still collecting the fit window
        else:
            seen.append(live.last_decision)
    assert seen == expected[FIT - 1 :]
    assert len({d.regime for d in seen}) >= 2  # the labels move: the model really decides
    assert not np.any(strategy.target_positions(BARS))


def test_the_walk_forward_fits_once_and_refuses_too_few_bars():
    progress = []
    strategy = walk_forward_strategy(
        "smart_money", {"regime_fit_bars": FIT}, BARS, progress=lambda f, m: progress.append(m)
    )
    assert isinstance(strategy, SmartMoneyKind) and progress
    record = walk_forward_metrics(strategy, BARS)
    assert record is not None and record["fit_bars"] == FIT and record["warmup_bars"] == FIT
    with pytest.raises(InvalidStrategyConfig) as caught:
        walk_forward_strategy("smart_money", {"regime_fit_bars": FIT}, BARS.head(FIT))
    assert "regime_fit_bars" in caught.value.errors


@pytest.fixture
def eurusd(db):
    """The real EURUSD hourly candles (5,000 bars)."""
    call_command("marketdata_import", "backtesting:EURUSD", stdout=StringIO())


def test_a_backtest_on_stored_candles_succeeds(account, eurusd):
    backtest = backtest_start(
        owner_id=account.owner_id, kind="smart_money", symbol="EURUSD", interval="1h",
        config={"regime_fit_bars": 600},
    )  # fmt: skip
    run = backtest_run(backtest_id=backtest.pk)
    assert run.status == "succeeded", run.error
    assert run.metrics["bars"] == 5000
    assert run.metrics["walk_forward"]["fit_bars"] == 600
    assert run.config["regime_fit_bars"] == 600


START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def clean_process():
    paper_reset()
    runner_states_clear()
    yield
    paper_reset()
    runner_states_clear()


def candle(instrument, n, bar):
    def price(value):
        return D(str(round(value * 200, 1)))  # BTC-like prices on the instrument's tick

    return Candle(
        instrument=instrument, interval="1m", open_time=START + MINUTE * n,
        open=price(bar.open), high=price(bar.high), low=price(bar.low), close=price(bar.close),
        volume=D(str(bar.volume)),
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_runner_evaluates_an_active_smart_money_strategy(clean_process):
    make_instrument("BTC-USDT", mark="20000")
    account = make_account(make_user("runner"), deposit=D(100_000))
    strategy = strategy_create(
        owner_id=account.owner_id, name="smart", kind="smart_money", account_id=account.pk,
        symbols=["BTC-USDT"], interval="1m", config={"regime_fit_bars": MIN_REGIME_FIT_BARS},
    )  # fmt: skip
    strategy_resume(strategy_id=strategy.pk)
    bars = random_walk_bars(MIN_REGIME_FIT_BARS + 5, seed=3)
    instrument = Instrument.objects.get(symbol="BTC-USDT")
    Candle.objects.bulk_create([candle(instrument, n, bar) for n, bar in enumerate(bars)])
    for n in (len(bars) - 2, len(bars) - 1):  # the history fits the model; then it decides
        btc_book(START + MINUTE * (n + 1))
        (evaluation,) = bar_evaluate(
            symbol="BTC-USDT", interval="1m", bar_start=START + MINUTE * n,
            now=START + MINUTE * (n + 1),
        )  # fmt: skip
        assert evaluation.verdict == Verdict.NO_SIGNAL
    assert StrategyEvaluation.objects.filter(strategy_id=strategy.pk).count() == 2
