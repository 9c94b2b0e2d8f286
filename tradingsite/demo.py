"""The demo world of ``make run``: a leader and two followers, real market history from packages,
an XGBoost model trained walk-forward on it, three public strategies with backtests, copy
subscriptions and an equity snapshot, so that every dashboard page has something to show, and
the market replay (execution.services.replay) has history to continue.

Built through each app's services (this package sits above the apps). Every step first looks
for what it would create and keeps it, so a second run adds nothing (the replay, not this,
moves the market on), and a run stopped midway (Ctrl-C) is finished by the next one.

The history: the first HISTORY_BARS bars of each replayed package series (EURUSD hours from
backtesting, AAPL, MSFT and IBM days from bokeh-sampledata), laid on a one-minute grid that
ends at the minute of the first load, with the L2 simulator's book at each bar's close.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Max

from copytrading.models import LIVE_STATUSES, CopySubscription
from copytrading.services.snapshots import equity_snapshots_take
from copytrading.services.subscriptions import subscription_create
from execution.domain.errors import DomainError
from execution.models import Account, BookSnapshot, Candle, Instrument, Order, Position
from execution.services.accounts import account_open
from execution.services.marketdata import paper_book_update
from execution.services.orders import order_place
from execution.services.positions import position_exits_set
from execution.services.replay import (
    BAR,
    INTERVAL,
    REPLAY_SOURCES,
    ReplaySource,
    replay_cursor,
    replay_history_store,
)
from mlmodels.features import MissingFeatureInputs
from mlmodels.models import ModelStatus, ModelVersion
from mlmodels.services import model_train, model_version_activate
from strategies.comparison import comparison_run, comparison_start, comparison_state
from strategies.costs import BacktestCosts
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
CURRENCY = "USD"  # what every replayed instrument is quoted in
LEADER_DEPOSIT = Decimal(100_000)
FOLLOWER_DEPOSITS = {"follower1": Decimal(50_000), "follower2": Decimal(20_000)}

# Bars of each series stored as history; the rest is replayed (EURUSD has 5,000, the shares
# 3,270): the model's folds, the smart money fit window and the backtests fit in it.
HISTORY_BARS = 2000
MODEL_SYMBOL = "EURUSD"
MODEL_NAME = "demo-eurusd-1m"
# Smaller than TrainingConfig's defaults (200 trees of depth 6, 5 folds, 2,000 bars first):
# a few seconds on 2,000 bars, and a demo model needs no more.
MODEL_TRAINING = {"folds": 3, "train_size": 1000, "n_estimators": 80, "max_depth": 4}
MODEL_FEATURES: dict[str, Any] = {}
MANUAL_SYMBOL = "IBM"  # the leader's own trades: an instrument no strategy trades


@dataclass(frozen=True, slots=True)
class DemoStrategy:
    name: str
    kind: str
    symbol: str
    config: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None


STRATEGIES = [
    # Long only: AAPL trebles over the history, and a short against that is ruin.
    DemoStrategy("AAPL mean reversion", "mean_reversion", "AAPL", {"long_only": True}),
    # Closer thresholds than the defaults (0.6 / 0.4): the demo's small model is seldom sure.
    DemoStrategy(
        "EURUSD XGBoost", "xgboost", MODEL_SYMBOL, {"buy_above": 0.55, "sell_below": 0.45}
    ),
    # Leans with the book the L2 simulator shows at each bar's close (book_inputs); the
    # thresholds are the aggressive preset's, so it trades in a demo's first minutes.
    DemoStrategy(
        "MSFT smart money",
        "smart_money",
        "MSFT",
        {"book_inputs": True, "regime_fit_bars": 500},
        preset="aggressive",
    ),
]
# follower -> (strategy name, copy terms): different modes and allocations on each account.
SUBSCRIPTIONS = {
    "follower1": [
        ("AAPL mean reversion", {"mode": "percent", "allocation_percent": "40"}),
        (
            "EURUSD XGBoost",
            {"mode": "fixed_ratio", "copy_ratio": "0.5", "allocation_percent": "30"},
        ),
    ],
    "follower2": [
        (
            "EURUSD XGBoost",
            {"mode": "fixed_amount", "fixed_amount": "500", "allocation_percent": "50"},
        ),
        ("MSFT smart money", {"mode": "percent", "allocation_percent": "25"}),
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
    """Build (or complete) the demo world; a first load's history ends at ``now``'s minute.
    ``say`` hears the progress."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    say = say or (lambda line: None)
    summary = DemoSummary()
    with _Step(summary, say, "users and accounts"):
        leader = _user(LEADER, LEADER_PASSWORD, summary, superuser=True)
        followers = [_user(name, FOLLOWER_PASSWORD, summary) for name in FOLLOWERS]
        leader_account = _account(leader, LEADER_DEPOSIT, summary)
        follower_accounts = {
            f.get_username(): _account(f, FOLLOWER_DEPOSITS[f.get_username()], summary)
            for f in followers
        }
    with _Step(summary, say, f"market history from packages ({HISTORY_BARS:,} bars each)"):
        anchor = history_anchor(now)
        for source in REPLAY_SOURCES:
            added = history_ensure(source, anchor=anchor, say=say)
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


def _account(user: User, deposit: Decimal, summary: DemoSummary) -> Account:
    """The user's paper account in CURRENCY; an older demo's "Paper" account in another
    currency (USDT, before the replay) is left alone and this one is "Paper USD"."""
    for name in (ACCOUNT_NAME, f"{ACCOUNT_NAME} {CURRENCY}"):
        account = Account.objects.filter(owner=user, name=name).first()
        if account is None:
            summary.add("accounts", True)
            return account_open(
                owner=user, name=name, base_currency=CURRENCY, deposit=deposit, actor="demo"
            )
        if account.base_currency == CURRENCY:
            summary.add("accounts", False)
            return account
    raise DomainError(
        f"{user.get_username()} has accounts named {ACCOUNT_NAME!r} in other currencies"
    )


# --- market history --------------------------------------------------------------------------


def history_anchor(now: datetime) -> datetime:
    """Where the replay's bar 0 opens: kept from a first load (the earliest instrument's
    first candle), else HISTORY_BARS minutes before ``now``'s minute, so the history ends
    there."""
    anchors = [c.anchor for c in map(replay_cursor, REPLAY_SOURCES) if c is not None]
    if anchors:
        return min(anchors)
    return now.replace(second=0, microsecond=0) - BAR * HISTORY_BARS


def history_ensure(source: ReplaySource, *, anchor: datetime, say: Say) -> int:
    """The instrument (created on the package's grid) and its first HISTORY_BARS bars, with
    the book at each bar's close, in one transaction; kept when it has history (the replay
    may have gone on since). Returns how many candles were added."""
    if replay_cursor(source) is not None:
        return 0
    candles, books = replay_history_store(source, anchor=anchor, bars=HISTORY_BARS)
    say(f"  {candles}; {books.added:,} books at the bars' closes")
    return candles.added


def books_seed() -> None:
    """Each instrument's book at its last stored bar's close: the paper exchange trades
    there and marks positions at it until the replay's first book."""
    for source in REPLAY_SOURCES:
        book = (
            BookSnapshot.objects.filter(instrument__symbol=source.symbol)
            .order_by("-taken_at")
            .values_list("bids", "asks")
            .first()
        )
        if book is None:
            continue
        bids, asks = ([(_decimal(p), _decimal(q)) for p, q in side] for side in book)
        paper_book_update(symbol=source.symbol, bids=bids, asks=asks)


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _trade(account: Account) -> int:
    """The leader's own paper trades on MANUAL_SYMBOL, each once (by its client order id: a
    run stopped between two places the rest): a position with a stop loss and a take profit,
    and a limit order resting below the touch; returns how many were placed now."""
    instrument = Instrument.objects.get(symbol=MANUAL_SYMBOL)
    mark = instrument.mark_price
    assert mark is not None  # books_seed marked it
    tick = instrument.tick_size
    resting = (mark * Decimal("0.97") / tick).to_integral_value() * tick  # 3% below: it rests
    trades: list[tuple[str, str, Decimal | None]] = [
        ("buy", "150", None),
        ("buy", "50", resting),
        ("sell", "50", None),
    ]
    placed = 0
    for number, (side, quantity, price) in enumerate(trades, start=1):
        client_order_id = f"demo{account.pk}t{number}"
        if Order.objects.filter(account=account, client_order_id=client_order_id).exists():
            continue
        order_place(
            account_id=account.pk, symbol=MANUAL_SYMBOL, side=side, quantity=quantity,
            order_type="limit" if price else "market", price=price,
            client_order_id=client_order_id, actor="demo",
        )  # fmt: skip
        placed += 1
    position = Position.objects.filter(account=account, instrument=instrument).first()
    entry = None if position is None else position.average_entry_price
    if position is not None and entry is not None and position.stop_loss_price is None:
        position_exits_set(
            position_id=position.pk,
            stop_loss_price=str((entry * Decimal("0.9")).quantize(Decimal(1))),
            take_profit_price=str((entry * Decimal("1.2")).quantize(Decimal(1))),
            actor="demo",
        )
    return placed


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
            symbols=[spec.symbol], interval=INTERVAL, config=spec.config, preset=spec.preset,
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
        backtest = backtest_start(
            owner_id=leader.pk, strategy_id=strategy.pk, queue=False,
            costs={"order_size": str(_backtest_order_size(strategy))},
        )  # fmt: skip
    started = time.monotonic()
    backtest = backtest_run(backtest_id=backtest.pk)
    summary.add("backtests", True)
    say(f"  backtest of {strategy.name}: {backtest.status} in {time.monotonic() - started:.1f} s")


def _backtest_order_size(strategy: Strategy) -> Decimal:
    """Half the backtest's cash at the history's highest price, on the lot grid: the default
    (all the cash at the first close) is several times the cash once AAPL has trebled."""
    instrument = strategy.instruments.get()
    highest = Candle.objects.filter(instrument=instrument, interval=INTERVAL).aggregate(
        highest=Max("high")
    )["highest"]
    cash, lot = BacktestCosts().initial_cash, Decimal(instrument.lot_size)
    lots = (cash / 2 / Decimal(repr(float(highest))) / lot).to_integral_value(rounding=ROUND_DOWN)
    return max(lots, Decimal(1)) * lot


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
