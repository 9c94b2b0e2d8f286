"""The demo world of ``make run``: a leader and two followers, days of one-minute candles up to
now, an XGBoost model trained on them, three public strategies with backtests, copy
subscriptions and an equity snapshot, so that every dashboard page has something to show.

Built through each app's services (this package sits above the apps). Every step first looks
for what it would create and keeps it, so a second run adds only what is missing (the candles
since the last run, say), and a run stopped midway (Ctrl-C) is finished by the next one.
Market data is seeded: every machine gets the same walk for the same minutes.
"""

from __future__ import annotations

import random
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from copytrading.models import LIVE_STATUSES, CopySubscription
from copytrading.services.snapshots import equity_snapshots_take
from copytrading.services.subscriptions import subscription_create
from execution.domain.values import InstrumentSpec
from execution.marketdata.base import CandleBatch
from execution.models import Account, Candle, Instrument, Order, Position
from execution.services.accounts import account_open
from execution.services.market_history import market_history_import
from execution.services.marketdata import paper_book_update
from execution.services.marketfeed import BAR, simulated_candles
from execution.services.orders import order_place
from execution.services.positions import position_exits_set
from execution.services.venues import Level
from mlmodels.features import MissingFeatureInputs
from mlmodels.models import ModelStatus, ModelVersion
from mlmodels.services import model_train, model_version_activate
from strategies.comparison import comparison_run, comparison_start, comparison_state
from strategies.kinds import kind_get
from strategies.models import (
    Backtest,
    BacktestComparison,
    BacktestStatus,
    Strategy,
    StrategyStatus,
)
from strategies.services import backtest_run, backtest_start, strategy_create, strategy_resume

Say = Callable[[str], None]

LEADER, LEADER_PASSWORD = "demo", "demo-trader"
FOLLOWERS = ("follower1", "follower2")
FOLLOWER_PASSWORD = "demo-follower"
ACCOUNT_NAME = "Paper"
LEADER_DEPOSIT = Decimal(100_000)
FOLLOWER_DEPOSITS = {"follower1": Decimal(50_000), "follower2": Decimal(20_000)}

SEED = 20261121
HISTORY_DAYS = 3  # 4,320 one-minute bars: the model's walk-forward folds and warm-ups fit
INTERVAL = "1m"
MODEL_SYMBOL = "BTC-USDT"
MODEL_NAME = "demo-btc-1m"
# Smaller than TrainingConfig's defaults (200 trees of depth 6, 5 folds, 2,000 bars first):
# about a third of the time on 4,320 bars, and a demo model needs no more.
MODEL_TRAINING = {"folds": 3, "train_size": 1500, "n_estimators": 80, "max_depth": 4}
MODEL_FEATURES: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class DemoInstrument:
    symbol: str
    base: str
    quote: str
    tick: Decimal
    lot: Decimal
    min_quantity: Decimal
    min_notional: Decimal
    mid: Decimal  # where the history ends on a first load (the demo trades are sized to it)


def _instrument(*values: str) -> DemoInstrument:
    symbol, base, quote, *numbers = values
    tick, lot, min_quantity, min_notional, mid = (Decimal(n) for n in numbers)
    return DemoInstrument(symbol, base, quote, tick, lot, min_quantity, min_notional, mid)


INSTRUMENTS = [
    _instrument("BTC-USDT", "BTC", "USDT", "0.1", "0.00001", "0.00001", "5", "64250"),
    _instrument("ETH-USDT", "ETH", "USDT", "0.01", "0.0001", "0.0001", "5", "3120"),
    _instrument("SOL-USDT", "SOL", "USDT", "0.001", "0.001", "0.01", "5", "148.5"),
]


@dataclass(frozen=True, slots=True)
class DemoStrategy:
    name: str
    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None


STRATEGIES = [
    DemoStrategy("BTC mean reversion", "mean_reversion"),
    DemoStrategy("BTC XGBoost", "xgboost"),
    DemoStrategy("BTC smart money", "smart_money"),
]
# follower -> (strategy name, copy terms): different modes and allocations on each account.
SUBSCRIPTIONS = {
    "follower1": [
        ("BTC mean reversion", {"mode": "percent", "allocation_percent": "40"}),
        ("BTC XGBoost", {"mode": "fixed_ratio", "copy_ratio": "0.5", "allocation_percent": "30"}),
    ],
    "follower2": [
        (
            "BTC XGBoost",
            {"mode": "fixed_amount", "fixed_amount": "500", "allocation_percent": "50"},
        ),
        ("BTC smart money", {"mode": "percent", "allocation_percent": "25"}),
    ],
}


@dataclass
class DemoSummary:
    """What a run created (counts of new rows) and what it found already there."""

    created: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    strategies: dict[str, str] = field(default_factory=dict)  # name: status

    def add(self, what: str, new: bool, count: int = 1) -> None:
        book = self.created if new else self.kept
        book[what] = book.get(what, 0) + count


class _Step:
    """Times a step and says when it starts and ends."""

    def __init__(self, summary: DemoSummary, say: Say, name: str) -> None:
        self.summary, self.say, self.name = summary, say, name

    def __enter__(self) -> _Step:
        self.started = time.monotonic()
        self.say(f"- {self.name} ...")
        return self

    def __exit__(self, *exc: object) -> None:
        took = time.monotonic() - self.started
        self.summary.seconds[self.name] = round(took, 2)
        if exc[0] is None:
            self.say(f"  {self.name}: done in {took:.1f} s")


def demo_build(*, now: datetime | None = None, say: Say | None = None) -> DemoSummary:
    """Build (or complete) the demo world up to ``now``; ``say`` hears the progress."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    say = say or (lambda line: None)
    summary = DemoSummary()
    with _Step(summary, say, "users and accounts"):
        leader = _user(LEADER, LEADER_PASSWORD, summary, superuser=True)
        followers = [_user(name, FOLLOWER_PASSWORD, summary) for name in FOLLOWERS]
        instruments_ensure(summary)
        leader_account = _account(leader, LEADER_DEPOSIT, summary)
        follower_accounts = {
            f.get_username(): _account(f, FOLLOWER_DEPOSITS[f.get_username()], summary)
            for f in followers
        }
    with _Step(summary, say, f"{HISTORY_DAYS} days of 1m candles up to now"):
        for instrument in INSTRUMENTS:
            added = candles_ensure(instrument, now=now, say=say)
            summary.add("candles", added > 0, added or 1)
        books_seed()
    with _Step(summary, say, "the leader's first paper trades"):
        placed = _trade(leader_account)
        summary.add("leader orders", placed > 0, placed or 4)
    with _Step(summary, say, f"XGBoost model {MODEL_NAME} on {MODEL_SYMBOL} {INTERVAL}"):
        version = _model(summary, say)
    with _Step(summary, say, "strategies and their backtests"):
        strategies = {
            s.name: _strategy(leader, leader_account, s, version, summary, say) for s in STRATEGIES
        }
        for strategy in strategies.values():
            _backtest(leader, strategy, summary, say)
            summary.strategies[strategy.name] = strategy.status
        _comparison(leader, summary, say)
    with _Step(summary, say, "copy subscriptions and equity snapshots"):
        for follower in followers:
            name = follower.get_username()
            for strategy_name, terms in SUBSCRIPTIONS[name]:
                _subscription(
                    follower, follower_accounts[name], strategies[strategy_name], terms, summary
                )
        taken = equity_snapshots_take()
        summary.add("equity snapshots", taken.subscriptions + taken.accounts > 0,
                    max(1, taken.subscriptions + taken.accounts))  # fmt: skip
    return summary


# --- users, instruments, accounts ------------------------------------------------------------


def _user(username: str, password: str, summary: DemoSummary, *, superuser: bool = False) -> User:
    users = get_user_model()
    user = users.objects.filter(username=username).first()
    if user is not None:
        summary.add("users", False)
        return user
    email = f"{username}@example.com"
    if superuser:
        user = users.objects.create_superuser(username, email, password)
    else:
        user = users.objects.create_user(username, email, password)
    summary.add("users", True)
    return user


def instruments_ensure(summary: DemoSummary | None = None) -> None:
    """The demo's instruments: what they are is reference data, kept as found."""
    with transaction.atomic():
        for spec in INSTRUMENTS:
            _, created = Instrument.objects.get_or_create(
                symbol=spec.symbol,
                defaults={
                    "base_currency": spec.base, "quote_currency": spec.quote,
                    "tick_size": spec.tick, "lot_size": spec.lot,
                    "min_quantity": spec.min_quantity, "min_notional": spec.min_notional,
                },
            )  # fmt: skip
            if summary is not None:
                summary.add("instruments", created)


def _account(user: User, deposit: Decimal, summary: DemoSummary) -> Account:
    account = Account.objects.filter(owner=user, name=ACCOUNT_NAME).first()
    if account is None:
        account = account_open(owner=user, name=ACCOUNT_NAME, deposit=deposit, actor="demo")
        summary.add("accounts", True)
    else:
        summary.add("accounts", False)
    return account


# --- market history --------------------------------------------------------------------------


@dataclass(frozen=True)
class _CandleLoader:
    """A market_history_import loader over candles already made."""

    name: str
    symbol: str
    batch: CandleBatch

    @property
    def instrument(self) -> InstrumentSpec | None:
        return None  # instruments_ensure made it

    def batches(self) -> Iterator[CandleBatch]:
        yield self.batch


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _seed(symbol: str, start: datetime) -> int:
    # The same walk for the same instrument and first minute, on every machine.
    return SEED + zlib.crc32(f"{symbol}@{start:%Y%m%d%H%M}".encode())


def candles_ensure(instrument: DemoInstrument, *, now: datetime, say: Say) -> int:
    """Closed 1m candles of the last HISTORY_DAYS up to ``now``: a seeded walk continuing
    from the last stored candle (or, on a first load, one ending at the demo's mid price).
    Returns how many were added."""
    end = _minute(now)  # the bar opening at ``end`` is still open
    start = end - timedelta(days=HISTORY_DAYS)
    last = (
        Candle.objects.filter(instrument__symbol=instrument.symbol, interval=INTERVAL)
        .order_by("-open_time")
        .values_list("open_time", "close")
        .first()
    )
    if last is not None and last[0] >= start:
        # After the last stored bar (the live feed's may be off the minute: round up).
        start = _minute(last[0] + BAR + timedelta(seconds=59, microseconds=999_999))
    bars = int((end - start) / BAR)
    if bars <= 0:
        return 0
    seed = _seed(instrument.symbol, start)
    if last is not None:
        price = Decimal(repr(float(last[1])))
    else:
        # A geometric walk scales with its start: start where it ends at the demo's mid.
        trial = simulated_candles(
            start_price=instrument.mid, start=start, bars=bars, seed=seed, tick_size=instrument.tick
        )
        price = (instrument.mid * instrument.mid / trial[-1].close).quantize(instrument.tick)
    candles = simulated_candles(
        start_price=price, start=start, bars=bars, seed=seed, tick_size=instrument.tick
    )
    batch = CandleBatch(
        interval=INTERVAL,
        open_time=np.array([c.at.replace(tzinfo=None) for c in candles], "datetime64[us]"),
        open=np.array([float(c.open) for c in candles]),
        high=np.array([float(c.high) for c in candles]),
        low=np.array([float(c.low) for c in candles]),
        close=np.array([float(c.close) for c in candles]),
        volume=np.array([float(c.volume) for c in candles]),
    )
    stored = market_history_import(
        loader=_CandleLoader(f"demo walk seed {seed}", instrument.symbol, batch)
    )
    say(f"  {stored}")
    return stored.added


def demo_book(
    mid: Decimal, tick: Decimal, rng: random.Random, levels: int = 20
) -> tuple[list[Level], list[Level]]:
    """A seeded L2 book around ``mid``: sizes grow away from the touch, as on real books."""
    best_bid = (mid / tick).to_integral_value() * tick - tick
    notional_per_level = Decimal(20_000)
    bids, asks = [], []
    for n in range(levels):
        size = (
            notional_per_level
            * (1 + Decimal(n) / 4)
            / mid
            * Decimal(rng.uniform(0.5, 1.5)).quantize(Decimal("0.01"))
        )
        bids.append((best_bid - tick * n, size.quantize(Decimal("0.001"))))
        asks.append((best_bid + tick * (n + 2), size.quantize(Decimal("0.001"))))
    return bids, asks


def books_seed() -> None:
    """A book for each instrument around its last close: the paper exchange trades there, the
    mark becomes that price, and the live feed (which starts from the mark) continues the
    stored history instead of jumping."""
    rng = random.Random(SEED)
    for instrument in INSTRUMENTS:
        close = (
            Candle.objects.filter(instrument__symbol=instrument.symbol, interval=INTERVAL)
            .order_by("-open_time")
            .values_list("close", flat=True)
            .first()
        )
        mid = instrument.mid if close is None else Decimal(repr(float(close)))
        bids, asks = demo_book(mid, instrument.tick, rng)
        paper_book_update(symbol=instrument.symbol, bids=bids, asks=asks)


def _trade(account: Account) -> int:
    """The leader's first paper trades, each once (by its client order id: a run stopped
    between two places the rest); returns how many were placed now."""
    sol = next(i for i in INSTRUMENTS if i.symbol == "SOL-USDT")
    sol_mark = Instrument.objects.get(symbol=sol.symbol).mark_price
    assert sol_mark is not None  # books_seed marked it
    trades: list[tuple[str, str, str, Decimal | None]] = [
        ("BTC-USDT", "buy", "0.25", None),
        ("ETH-USDT", "sell", "3", None),
        # About 0.7% below the touch: it rests, an open order on the overview.
        ("SOL-USDT", "buy", "40", (sol_mark * Decimal("0.993")).quantize(sol.tick)),
        ("BTC-USDT", "sell", "0.1", None),
    ]
    placed = 0
    for number, (symbol, side, quantity, price) in enumerate(trades, start=1):
        client_order_id = f"demo{account.pk}t{number}"
        if Order.objects.filter(account=account, client_order_id=client_order_id).exists():
            continue
        order_place(
            account_id=account.pk, symbol=symbol, side=side, quantity=quantity,
            order_type="limit" if price else "market", price=price,
            client_order_id=client_order_id, actor="demo",
        )  # fmt: skip
        placed += 1
    btc = Position.objects.filter(account=account, instrument__symbol="BTC-USDT").first()
    entry = None if btc is None else btc.average_entry_price
    if btc is not None and entry is not None and btc.stop_loss_price is None:
        position_exits_set(
            position_id=btc.pk,
            stop_loss_price=str(_round_thousand(entry * Decimal("0.95"))),
            take_profit_price=str(_round_thousand(entry * Decimal("1.09"))),
            actor="demo",
        )
    return placed


def _round_thousand(price: Decimal) -> Decimal:
    return (price / 1000).quantize(Decimal(1)) * 1000  # round levels, as a trader sets them


# --- model, strategies, backtests ------------------------------------------------------------


def _model(summary: DemoSummary, say: Say) -> ModelVersion:
    version = (
        ModelVersion.objects.defer("artifact")
        .filter(name=MODEL_NAME)
        .exclude(status=ModelStatus.RETIRED)
        .order_by("-version")
        .first()
    )
    summary.add("model versions", version is None)
    if version is None:
        shown = [-1]

        def progress(fraction: float, message: str) -> None:
            tenth = int(fraction * 10)
            if tenth > shown[0]:
                shown[0] = tenth
                say(f"  {fraction:4.0%} {message}")

        with warnings.catch_warnings():
            # Candles only: the book and trade features are 0, as the model was meant to be.
            warnings.simplefilter("ignore", MissingFeatureInputs)
            version = model_train(
                symbol=MODEL_SYMBOL, interval=INTERVAL, name=MODEL_NAME,
                training_config=MODEL_TRAINING, feature_config=MODEL_FEATURES, progress=progress,
            )  # fmt: skip
    if version.status != ModelStatus.ACTIVE:
        version = model_version_activate(version_id=version.pk)
    return version


def _strategy(
    leader: User,
    account: Account,
    spec: DemoStrategy,
    version: ModelVersion,
    summary: DemoSummary,
    say: Say,
) -> Strategy:
    strategy = Strategy.objects.filter(owner=leader, name=spec.name).first()
    summary.add("strategies", strategy is None)
    if strategy is None:
        strategy = strategy_create(
            owner_id=leader.pk, name=spec.name, kind=spec.kind, account_id=account.pk,
            symbols=[MODEL_SYMBOL], interval=INTERVAL, config=spec.config, preset=spec.preset,
            model_version_id=version.pk if spec.kind == "xgboost" else None,
            visibility="public",
        )  # fmt: skip
    if strategy.status == StrategyStatus.PAUSED and kind_runs(spec.kind, say):
        strategy = strategy_resume(strategy_id=strategy.pk, owner_id=leader.pk)
    return strategy


def kind_runs(kind: str, say: Say) -> bool:
    """Whether the platform can build a strategy of ``kind`` (a backtest or the live runner
    would); one it cannot is left paused, and resumed by a later run once it can."""
    strategy_kind = kind_get(kind)
    if strategy_kind.needs_model:
        return True  # built with its model version, which the demo gives it
    try:
        strategy_kind.build(strategy_kind.config_from_dict({}))
    except TypeError as error:
        say(f"  {kind} strategies cannot run yet, so the demo's is left paused: {error}")
        return False
    return True


def _backtest(leader: User, strategy: Strategy, summary: DemoSummary, say: Say) -> None:
    if strategy.status != StrategyStatus.ACTIVE:
        return  # a kind that cannot be built yet (kind_runs) cannot be backtested either
    backtests = Backtest.objects.filter(strategy=strategy, owner=leader)
    if backtests.filter(status=BacktestStatus.SUCCEEDED).exists():
        summary.add("backtests", False)
        return
    # One stopped midway (a Ctrl-C) is picked up where it is; a failed one is left as a record.
    backtest = backtests.filter(status__in=[BacktestStatus.QUEUED, BacktestStatus.RUNNING]).first()
    if backtest is None:
        backtest = backtest_start(owner_id=leader.pk, strategy_id=strategy.pk, queue=False)
    started = time.monotonic()
    backtest = backtest_run(backtest_id=backtest.pk)
    summary.add("backtests", True)
    say(f"  backtest of {strategy.name}: {backtest.status} in {time.monotonic() - started:.1f} s")


def _comparison(leader: User, summary: DemoSummary, say: Say) -> None:
    comparison = BacktestComparison.objects.filter(owner=leader, symbol=MODEL_SYMBOL).first()
    summary.add("comparisons", comparison is None)
    if comparison is None:
        # Every stored bar: the XGBoost run refits walk-forward and needs the model's folds.
        comparison = comparison_start(
            owner_id=leader.pk, symbol=MODEL_SYMBOL, interval=INTERVAL, queue=False
        )
    if comparison_state(comparison).status in (BacktestStatus.SUCCEEDED, BacktestStatus.FAILED):
        return
    # Runs what is left of it (one stopped midway included); ended runs are kept.
    started = time.monotonic()
    comparison_run(comparison_id=comparison.pk)
    state = comparison_state(comparison)
    say(f"  comparison: {state.status}, {state.message}, in {time.monotonic() - started:.1f} s")


# --- copy trading ----------------------------------------------------------------------------


def _subscription(
    follower: User,
    account: Account,
    strategy: Strategy,
    terms: dict[str, Any],
    summary: DemoSummary,
) -> None:
    live = CopySubscription.objects.filter(
        account=account, strategy=strategy, status__in=LIVE_STATUSES
    ).exists()
    summary.add("copy subscriptions", not live)
    if not live:
        subscription_create(
            follower_id=follower.pk, account_id=account.pk, strategy_id=strategy.pk, terms=terms
        )
