"""SmartMoneyFollower: follow the side the book leans to, sized by how sure the regime is and
how liquid the market is (issue 5's formulas, exactly).

Per decision, from (regime, regime probability, weighted imbalance, liquidity stress,
confidence), all in their natural ranges (probability, confidence and stress 0..1, imbalance
-1..1):

- regime score = REGIME_SCORES[regime] x regime probability; imbalance score =
  min(1, 2 |imbalance|); liquidity score = 1 - stress; market score = 0.4 regime score +
  0.3 imbalance score + 0.3 liquidity score.
- Skip when confidence < confidence_threshold, then when liquidity score < min_liquidity_score
  (in that order: the reason names the first). The threshold sees the confidence as given;
  then it is cut x0.8 while the regime probability is not above 0.8, which only shrinks the size.
- The side is the imbalance's sign (buy when the book leans to the bid); no lean, no trade.
- size = max_position_size x confidence x REGIME_SIZE_FACTORS[regime] x max(0.5, 1 - stress)
  x market score, bounded to [0.01, max_position_size] (a fraction of equity).
- stop loss / take profit = their bases x1.5 / x1.3 when stress > 0.7, x1.3 / x1.2 when
  volatile, x0.8 / x0.9 in accumulation or distribution; the factors that apply multiply.
  Both are fractions of the entry price.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import numpy as np

from execution.domain.values import Side
from mlmodels.features import (
    BookSnapshot,
    FeatureConfig,
    FeatureRow,
    FeatureState,
    InputBundle,
    InvalidFeatureInputs,
    MissingFeatureInputs,
    OrderBookSeries,
    TradeFlow,
    TradeFlowSeries,
    compute_features,
)
from mlmodels.regimes import MIN_FIT_BARS, REGIMES, RegimeModel, fit_regimes
from strategies.domain.base import (
    Bar,
    Bars,
    FloatArray,
    Signal,
    bar_time_ns,
    feature_inputs,
    signal_for,
)
from strategies.library.settings import (
    InvalidConfig,
    about,
    parse_strategy_settings,
    settings_from_dict,
    settings_schema,
    settings_to_dict,
)

REGIME_SCORES: Mapping[str, float] = {
    "accumulation": 0.9,
    "trending": 0.8,
    "distribution": 0.7,
    "neutral": 0.5,
    "volatile": 0.3,
}
REGIME_SIZE_FACTORS: Mapping[str, float] = {
    "accumulation": 1.2,
    "distribution": 0.8,
    "volatile": 0.6,
    "trending": 1.0,
    "neutral": 1.0,
}
MIN_SIZE = 0.01
SURE_REGIME_ABOVE = 0.8  # a regime probability not above this cuts the confidence
UNSURE_CONFIDENCE_FACTOR = 0.8
STRESSED_ABOVE = 0.7
MIN_STRESS_SIZE_FACTOR = 0.5
# The regime inputs' warm-up under the default features (their longest return and volatility
# window): the first bars of a fit window have a NaN input and are left out of the fit.
REGIME_INPUTS_WARMUP = max(*FeatureConfig().return_lags, *FeatureConfig().volatility_windows)
MIN_REGIME_FIT_BARS = MIN_FIT_BARS + REGIME_INPUTS_WARMUP


@dataclass(frozen=True, slots=True, kw_only=True)
class SmartMoneyConfig:
    """The preset-able parameters. Defaults: the platform's (``strategies.presets``); the
    high-frequency preset keeps the stop-loss and take-profit defaults 0.02 / 0.04."""

    confidence_threshold: float = field(
        default=0.7, metadata=about("least confidence to act on", minimum=0, maximum=1)
    )
    max_position_size: float = field(
        default=0.1,
        metadata=about("largest position, a fraction of equity", minimum=MIN_SIZE, maximum=1),
    )
    min_liquidity_score: float = field(
        default=0.5, metadata=about("least liquidity score to trade", minimum=0, maximum=1)
    )
    stop_loss_base: float = field(
        default=0.02,
        metadata=about("stop-loss distance, a fraction of the entry", positive=True, maximum=1),
    )
    take_profit_base: float = field(
        default=0.04,
        metadata=about("take-profit distance, a fraction of the entry", positive=True, maximum=10),
    )
    regime_fit_bars: int = field(
        default=500,
        metadata=about(
            "first bars the regime model is fitted on; the strategy is flat during them",
            minimum=MIN_REGIME_FIT_BARS,
            maximum=100_000,
        ),
    )

    book_inputs: bool = field(
        default=False,
        metadata=about(
            "read the L2 book at each bar's close (imbalance and stress from it); without it "
            "the book leans to no side and the strategy does not trade"
        ),
    )

    def __post_init__(self) -> None:
        parse_strategy_settings(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SmartMoneyConfig:
        return settings_from_dict(cls, data)

    @classmethod
    def schema(cls) -> dict[str, Any]:
        return settings_schema(cls)

    def to_dict(self) -> dict[str, Any]:
        return settings_to_dict(self)


PRESETS: dict[str, dict[str, float]] = {
    "conservative": {
        "confidence_threshold": 0.8,
        "max_position_size": 0.05,
        "min_liquidity_score": 0.7,
        "stop_loss_base": 0.015,
        "take_profit_base": 0.03,
    },
    "aggressive": {
        "confidence_threshold": 0.6,
        "max_position_size": 0.15,
        "min_liquidity_score": 0.4,
        "stop_loss_base": 0.025,
        "take_profit_base": 0.05,
    },
    "high_frequency": {
        "confidence_threshold": 0.7,
        "max_position_size": 0.08,
        "min_liquidity_score": 0.6,
    },
}


@dataclass(frozen=True, slots=True)
class SmartMoneyDecision:
    """One decision: ``skip_reason`` set and no side, or a side with its size (a fraction of
    equity) and stop-loss / take-profit distances (fractions of the entry price)."""

    regime: str
    confidence: float  # as adjusted for an unsure regime
    market_score: float
    side: Side | None = None
    size: float = 0.0
    stop_loss: float = 0.0
    take_profit: float = 0.0
    skip_reason: str | None = None

    @property
    def signed_size(self) -> float:
        return 0.0 if self.side is None else self.size if self.side is Side.BUY else -self.size


def _unit(name: str, value: float, low: float = 0.0) -> None:
    if not low <= value <= 1.0:
        raise InvalidConfig(name, f"{name} must be in {low:g}..1, got {value!r}")


def smart_money_decision(
    config: SmartMoneyConfig,
    *,
    regime: str,
    regime_probability: float,
    weighted_imbalance: float,
    liquidity_stress: float,
    confidence: float,
) -> SmartMoneyDecision:
    """The decision for one bar; see the module docstring for every formula."""
    if regime not in REGIME_SCORES:
        raise InvalidConfig("regime", f"regime {regime!r} is not one of {', '.join(REGIMES)}")
    _unit("regime_probability", regime_probability)
    _unit("weighted_imbalance", weighted_imbalance, -1.0)
    _unit("liquidity_stress", liquidity_stress)
    _unit("confidence", confidence)
    regime_score = REGIME_SCORES[regime] * regime_probability
    imbalance_score = min(1.0, 2.0 * abs(weighted_imbalance))
    liquidity_score = 1.0 - liquidity_stress
    market_score = 0.4 * regime_score + 0.3 * imbalance_score + 0.3 * liquidity_score
    skip = None
    if confidence < config.confidence_threshold:
        skip = f"confidence {confidence:.3f} is below {config.confidence_threshold:g}"
    elif liquidity_score < config.min_liquidity_score:
        skip = f"liquidity score {liquidity_score:.3f} is below {config.min_liquidity_score:g}"
    elif weighted_imbalance == 0:
        skip = "the book leans to neither side"
    if regime_probability <= SURE_REGIME_ABOVE:
        confidence *= UNSURE_CONFIDENCE_FACTOR
    if skip is not None:
        return SmartMoneyDecision(regime, confidence, market_score, skip_reason=skip)
    size = (
        config.max_position_size
        * confidence
        * REGIME_SIZE_FACTORS[regime]
        * max(MIN_STRESS_SIZE_FACTOR, 1.0 - liquidity_stress)
        * market_score
    )
    size = min(max(size, MIN_SIZE), config.max_position_size)
    stop_loss, take_profit = config.stop_loss_base, config.take_profit_base
    if liquidity_stress > STRESSED_ABOVE:  # thin books: wider stops, not shaken out by noise
        stop_loss, take_profit = stop_loss * 1.5, take_profit * 1.3
    if regime == "volatile":
        stop_loss, take_profit = stop_loss * 1.3, take_profit * 1.2
    elif regime in ("accumulation", "distribution"):  # informed flow: expect a cleaner move
        stop_loss, take_profit = stop_loss * 0.8, take_profit * 0.9
    return SmartMoneyDecision(
        regime,
        confidence,
        market_score,
        side=Side.BUY if weighted_imbalance > 0 else Side.SELL,
        size=size,
        stop_loss=stop_loss,
        take_profit=take_profit,
    )


@dataclass(frozen=True, slots=True)
class PerformanceSummary:
    signals_generated: int  # decisions that were not skipped
    signals_executed: int  # of those, the ones that became trades
    win_rate: float | None  # winning trades / trades; None without trades
    average_confidence: float | None  # over the generated signals
    regime_distribution: dict[str, int]  # decisions (skipped too) per regime

    def to_dict(self) -> dict[str, Any]:
        return {
            "signals_generated": self.signals_generated,
            "signals_executed": self.signals_executed,
            "win_rate": self.win_rate,
            "average_confidence": self.average_confidence,
            "regime_distribution": dict(self.regime_distribution),
        }


def performance_summary(
    decisions: Sequence[SmartMoneyDecision], trade_returns: Sequence[float]
) -> PerformanceSummary:
    """The summary of a run: its decisions and the returns of the trades they led to (one per
    executed signal; a win is a return above 0)."""
    generated = [d for d in decisions if d.side is not None]
    if len(trade_returns) > len(generated):
        raise InvalidConfig(
            "trade_returns",
            f"trade_returns: {len(trade_returns)} trades from {len(generated)} signals, at most "
            "one per signal",
        )
    wins = sum(1 for r in trade_returns if r > 0)
    return PerformanceSummary(
        signals_generated=len(generated),
        signals_executed=len(trade_returns),
        win_rate=wins / len(trade_returns) if trade_returns else None,
        average_confidence=(
            sum(d.confidence for d in generated) / len(generated) if generated else None
        ),
        regime_distribution=dict(Counter(d.regime for d in decisions)),
    )


# -- the strategy over bars ------------------------------------------------------------------

SIZE_STEP_DECIMALS = 2  # targets move in steps of 0.01: a size that wobbles is not a trade
UNKNOWN_STRESS = 0.5  # no book: liquidity unknown, taken as halfway


def _market_inputs(
    names: Sequence[str], values: FloatArray, bundles: frozenset[InputBundle], config: FeatureConfig
) -> tuple[FloatArray, FloatArray]:
    """Weighted imbalance and liquidity stress per row from a feature matrix's columns.

    Imbalance: ``pressure_imbalance_weighted`` with a book, else ``flow_imbalance_<w>`` with
    trades, else 0 (no lean: no trade). Stress: 1 - ``liquidity_score`` (book resilience,
    spread stability and VPIN) with trades and a book, 1 - ``book_resilience`` with a book
    alone, else UNKNOWN_STRESS.
    """
    rows = len(values)

    def column(name: str) -> FloatArray:
        result: FloatArray = values[:, list(names).index(name)]
        return result

    if InputBundle.BOOK in bundles:
        imbalance = column("pressure_imbalance_weighted")
    elif InputBundle.TRADES in bundles:
        imbalance = column(f"flow_imbalance_{config.flow_window}")
    else:
        imbalance = np.zeros(rows)
    if {InputBundle.BOOK, InputBundle.TRADES} <= bundles:
        stress = 1.0 - column("liquidity_score")
    elif InputBundle.BOOK in bundles:
        stress = 1.0 - column("book_resilience")
    else:
        stress = np.full(rows, UNKNOWN_STRESS)
    return np.clip(imbalance, -1.0, 1.0), np.clip(stress, 0.0, 1.0)


def _regime_names(config: FeatureConfig) -> tuple[str, str, str]:
    """The features the regime model reads: the longest return, volatility and flow."""
    return (
        f"return_{max(config.return_lags)}",
        f"realized_volatility_{max(config.volatility_windows)}",
        f"flow_imbalance_{config.flow_window}",
    )


def _decide(
    config: SmartMoneyConfig, regime: str, probability: float, imbalance: float, stress: float
) -> SmartMoneyDecision:
    if math.isnan(imbalance) or math.isnan(stress):
        return SmartMoneyDecision(regime, probability, 0.0, skip_reason="features warming up")
    # Confidence: the regime model's own probability of the regime it labels.
    return smart_money_decision(
        config,
        regime=regime,
        regime_probability=probability,
        weighted_imbalance=imbalance,
        liquidity_stress=stress,
        confidence=probability,
    )


def _target(decision: SmartMoneyDecision) -> float:
    return float(np.round(decision.signed_size, SIZE_STEP_DECIMALS))


class SmartMoneyFollower:
    """The strategy over bars: features from ``mlmodels.features`` (with the trade flow and
    book given for ``bundles``), the regime from a fitted ``RegimeModel`` (causal labels),
    confidence = the regime probability. The target is the decision's signed size (a fraction
    of equity) in steps of 0.01; a skip is flat."""

    def __init__(
        self,
        config: SmartMoneyConfig,
        regime_model: RegimeModel,
        *,
        feature_config: FeatureConfig | None = None,
        bundles: frozenset[InputBundle] = frozenset(),
    ) -> None:
        self.config = config
        self.regime_model = regime_model
        self.feature_config = feature_config or FeatureConfig()
        self.bundles = bundles | {InputBundle.CANDLES, InputBundle.VOLUME}

    @property
    def name(self) -> str:
        return "smart_money"

    @property
    def warmup_bars(self) -> int:
        return 0  # the regime labels from the first bar; the features' warm-up skips itself

    def decisions(
        self,
        bars: Bars,
        *,
        trades: TradeFlowSeries | None = None,
        book: OrderBookSeries | None = None,
    ) -> list[SmartMoneyDecision]:
        inputs = feature_inputs(bars, trades=trades, book=book)
        if inputs.bundles != self.bundles:
            raise InvalidFeatureInputs(
                f"the strategy reads {', '.join(sorted(self.bundles))}, "
                f"the inputs have {', '.join(sorted(inputs.bundles))}"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingFeatureInputs)  # absent inputs are expected
            matrix = compute_features(inputs, self.feature_config, workers=1)
        names = matrix.names
        regime_inputs = [matrix.column(name) for name in _regime_names(self.feature_config)]
        labels, probability = self.regime_model.label(*regime_inputs)
        imbalance, stress = _market_inputs(names, matrix.values, self.bundles, self.feature_config)
        return [
            _decide(self.config, str(labels[i]), float(probability[i]), imbalance[i], stress[i])
            for i in range(len(bars))
        ]

    def target_positions(
        self,
        bars: Bars,
        *,
        trades: TradeFlowSeries | None = None,
        book: OrderBookSeries | None = None,
    ) -> FloatArray:
        decisions = self.decisions(bars, trades=trades, book=book)
        return np.array([_target(decision) for decision in decisions], dtype=np.float64)

    def live(self) -> LiveSmartMoneyFollower:
        return LiveSmartMoneyFollower(self)


class LiveSmartMoneyFollower:
    """One bar at a time: the live feature state and regime tracker."""

    def __init__(self, strategy: SmartMoneyFollower) -> None:
        self.strategy = strategy
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingFeatureInputs)
            self._features = FeatureState(strategy.feature_config, bundles=strategy.bundles)
        self._tracker = strategy.regime_model.tracker()
        self._names = list(self._features.specs[i].name for i in range(len(self._features.specs)))
        self._regime_columns = [
            self._names.index(n) for n in _regime_names(strategy.feature_config)
        ]
        self._target = 0.0
        self.last_decision: SmartMoneyDecision | None = None

    def on_bar(
        self, bar: Bar, *, trades: TradeFlow | None = None, book: BookSnapshot | None = None
    ) -> Signal | None:
        start = bar_time_ns(bar.start)
        row = FeatureRow(
            time=int(start),
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
            trades=trades,
            book=book,
        )
        vector = self._features.update(row)
        regime, probability = self._tracker.update(
            *(float(vector[i]) for i in self._regime_columns)
        )
        imbalance, stress = _market_inputs(
            self._names, vector.reshape(1, -1), self.strategy.bundles, self.strategy.feature_config
        )
        decision = _decide(self.strategy.config, regime, probability, imbalance[0], stress[0])
        self.last_decision = decision
        target = _target(decision)
        if target == self._target:
            return None
        signal = signal_for(bar, target=target, previous=self._target)
        self._target = target
        return signal


# -- the kind the platform builds from its config alone ---------------------------------------


def _bars_of(bars: Sequence[Bar]) -> Bars:
    """Live bars as a series (naive UTC starts, as ``Bars`` holds them)."""

    def start(bar: Bar) -> np.datetime64:
        moment = bar.start
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return np.datetime64(moment, "us")

    return Bars(
        np.array([start(bar) for bar in bars], dtype="datetime64[us]"),
        np.array([float(bar.open) for bar in bars], dtype=np.float64),
        np.array([float(bar.high) for bar in bars], dtype=np.float64),
        np.array([float(bar.low) for bar in bars], dtype=np.float64),
        np.array([float(bar.close) for bar in bars], dtype=np.float64),
        np.array([float(bar.volume) for bar in bars], dtype=np.float64),
    )


def fit_regime_model(bars: Bars, feature_config: FeatureConfig | None = None) -> RegimeModel:
    """The regime model fitted on ``bars`` (candles only): the same features the strategy
    reads, the bars whose inputs are still warming up left out. Seeded: the same bars always
    give the same model, so the backtest and the live path fit the same one."""
    config = feature_config or FeatureConfig()
    inputs = feature_inputs(bars)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingFeatureInputs)  # candles carry no flow or book
        matrix = compute_features(inputs, config, workers=1)
    return fit_regimes(*(matrix.column(name) for name in _regime_names(config)))


class SmartMoneyKind:
    """The ``smart_money`` kind as the platform builds it, from its config alone (candles
    only). Walk-forward with one fold: the regime model is fitted on the first
    ``regime_fit_bars`` bars, during which the target is flat; from the next bar on the
    targets are ``SmartMoneyFollower``'s over every bar so far (its regime labels are
    filtered, so bar t reads bars up to t only)."""

    def __init__(self, config: SmartMoneyConfig) -> None:
        self.config = config
        self._fitted: tuple[bytes, RegimeModel] | None = None
        self._books: OrderBookSeries | None = None

    @property
    def reads_book(self) -> bool:
        """Whether each bar needs the L2 book at its close (``book_inputs``)."""
        return self.config.book_inputs

    @property
    def bundles(self) -> frozenset[InputBundle]:
        return frozenset({InputBundle.BOOK}) if self.config.book_inputs else frozenset()

    def use_books(self, books: OrderBookSeries) -> None:
        """The book at each bar's close for ``target_positions`` (one row per bar)."""
        self._books = books

    @property
    def name(self) -> str:
        return "smart_money"

    @property
    def warmup_bars(self) -> int:
        # The live runner feeds twice this from stored candles: enough to fit, then trade.
        return self.config.regime_fit_bars

    def fit(self, bars: Bars) -> RegimeModel:
        """The model fitted on ``bars``' first ``regime_fit_bars`` bars (kept for the same
        bars: a backtest asks again for the same window)."""
        window = bars.head(self.config.regime_fit_bars)
        arrays = (window.starts, window.open, window.high, window.low, window.close, window.volume)
        key = b"".join(np.ascontiguousarray(values).tobytes() for values in arrays)
        if self._fitted is None or self._fitted[0] != key:
            self._fitted = (key, fit_regime_model(window))
        return self._fitted[1]

    def follower(self, bars: Bars) -> SmartMoneyFollower:
        return SmartMoneyFollower(self.config, self.fit(bars), bundles=self.bundles)

    def walk_forward(self, bars: Bars) -> dict[str, Any]:
        """The fit window, for a backtest's record."""
        fit = min(self.config.regime_fit_bars, len(bars))
        times = bars.starts.astype("datetime64[us]").astype(str)
        return {
            "method": "regime model fitted once on the first bars, flat during them",
            "warmup_bars": self.config.regime_fit_bars,
            "fit_start": str(times[0]) if fit else None,
            "fit_end": str(times[fit - 1]) if fit else None,
            "fit_bars": fit,
        }

    def target_positions(self, bars: Bars) -> FloatArray:
        targets = np.zeros(len(bars), dtype=np.float64)
        fit_bars = self.config.regime_fit_bars
        if len(bars) <= fit_bars:
            return targets
        book = None
        if self.reads_book:
            if self._books is None or len(self._books) != len(bars):
                given = 0 if self._books is None else len(self._books)
                raise InvalidFeatureInputs(
                    f"book_inputs: the strategy reads the book at each bar's close; "
                    f"{given} books for {len(bars)} bars"
                )
            book = self._books
        targets[fit_bars:] = self.follower(bars).target_positions(bars, book=book)[fit_bars:]
        return targets

    def live(self) -> LiveSmartMoneyKind:
        return LiveSmartMoneyKind(self)


class LiveSmartMoneyKind:
    """One bar at a time: bars are kept until ``regime_fit_bars`` have been seen; then the
    model is fitted on them and the follower's live state replays them silently (flat); from
    the next bar on each bar is the follower's decision."""

    def __init__(self, strategy: SmartMoneyKind) -> None:
        self.strategy = strategy
        self._buffer: list[tuple[Bar, BookSnapshot | None]] = []
        self._follower: LiveSmartMoneyFollower | None = None
        self._target = 0.0

    @property
    def reads_book(self) -> bool:
        return self.strategy.reads_book

    @property
    def last_decision(self) -> SmartMoneyDecision | None:
        return None if self._follower is None else self._follower.last_decision

    def on_bar(self, bar: Bar, *, book: BookSnapshot | None = None) -> Signal | None:
        """``book``: the L2 book at the bar's close, which a strategy with ``book_inputs``
        needs on every bar (the fit window's too: the follower replays them)."""
        if self.reads_book and book is None:
            raise InvalidFeatureInputs(
                f"book_inputs: the bar of {bar.start.isoformat()} came without its book"
            )
        if self._follower is None:
            self._buffer.append((bar, book))
            if len(self._buffer) == self.strategy.config.regime_fit_bars:
                bars = _bars_of([seen for seen, _ in self._buffer])
                follower = self.strategy.follower(bars).live()
                for seen, seen_book in self._buffer:
                    follower.on_bar(seen, book=seen_book)  # warm-up: the fit window is flat
                self._follower, self._buffer = follower, []
            return None
        self._follower.on_bar(bar, book=book)
        assert self._follower.last_decision is not None
        # The follower's own signals start from its warm-up's target; ours from flat.
        target = _target(self._follower.last_decision)
        if target == self._target:
            return None
        signal = signal_for(bar, target=target, previous=self._target)
        self._target = target
        return signal
