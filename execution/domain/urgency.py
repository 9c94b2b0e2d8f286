"""From the order book to an execution decision: book features, urgency, size and algorithm.

``book_features`` reads the current L2 book and a short history of touch snapshots (until a
feature pipeline exists); ``plan_execution`` turns the features and a signal into an
``ExecutionPlan`` (urgency, quantity, algorithm) or a ``SkipExecution`` with the reason.

Book features (floats: they are features, not money)
- ``spread_stability_norm_100``: the spreads s_i of the last up to 100 touch snapshots (the
  current one included); cv = population std(s) / mean(s); value = cv / (1 + cv), in [0, 1).
  0 is a perfectly stable spread; cv 0.25 -> 0.2, cv 1.5 -> 0.6, cv 4 -> 0.8. One snapshot
  gives 0 (no evidence of instability).
- ``ofi_normalized_1m``: the Cont-Kukanov-Stoikov order-flow imbalance from successive touch
  snapshots, over the events whose later snapshot is in (now - 60 s, now]. For snapshots
  n-1 -> n with best bid b, ask a and sizes qb, qa:
      e_n = 1{b_n >= b_n-1} qb_n - 1{b_n <= b_n-1} qb_n-1
            - 1{a_n <= a_n-1} qa_n + 1{a_n >= a_n-1} qa_n-1
  OFI = sum e_n; x = OFI / mean(qb + qa) over those later snapshots (the flow in units of
  total touch depth, so the feature does not depend on how often the book is sampled);
  value = x / (1 + |x|), in (-1, 1). Positive is buying pressure. No event gives 0.
- ``book_resilience``: mean touch size (qb_1 + qa_1) / 2 against the mean level size of the
  visible book, (mean bid level + mean ask level) / 2, capped at 1. 1: the touch holds at least
  a typical level; low: a thin top in front of a deeper book, which a taker would walk through.
- ``volume_concentration``: the share of all visible depth (both sides) in the top
  ``top_levels`` (default 3) levels of each side.

Urgency. ``ofi`` below is the flow toward the order: ofi_normalized_1m for a buy, minus it for
a sell (flow against the order argues for patience, never for hurry). Stability is
spread_stability_norm_100. Default thresholds (``UrgencyConfig``):

| signal strength | book                                               | urgency          |
|-----------------|----------------------------------------------------|------------------|
| < 0.3           | any                                                | skip             |
| [0.3, 0.5)      | stability < 0.2                                    | passive maker    |
| [0.3, 0.5)      | stability >= 0.2                                   | skip             |
| [0.5, 0.8)      | any                                                | balanced         |
| >= 0.8          | stability < 0.2                                    | passive maker    |
| >= 0.8          | stability > 0.6 and ofi > 0.5; or ofi > 0.7        | urgent           |
| >= 0.8          | otherwise the more urgent of: stability [0.2, 0.4) | balanced or      |
|                 | balanced, >= 0.4 aggressive limit; ofi [0.3, 0.7]  | aggressive limit |
|                 | aggressive limit, < 0.3 no change                  |                  |

Size: base x strength, x 0.5 when stability > 0.6, x 1.2 when |ofi_normalized_1m| > 0.7,
x 0.7 when book_resilience < 0.3; capped at 1.5 x base; then x the circuit breakers' size
factor, rounded down onto the lot. Below the instrument's minimum quantity, or its minimum
notional at the best bid (the lower side of the touch), the plan is a skip.

Algorithm (parameters for ``algorithm_from_config``); the book is split when
book_resilience < 0.3, so no single order walks a thin top:

| urgency          | whole order                                    | split                      |
|------------------|------------------------------------------------|----------------------------|
| passive maker    | post-only limit at own touch, 60 s             | iceberg, 20% touch clips   |
| balanced         | limit at own touch, 30 s, then market          | twap 60 s, 5 limit slices  |
| aggressive limit | limit half-way into the spread (the opposite   | twap 60 s, 5 limit slices  |
|                  | touch when volume_concentration >= 0.6), 10 s, | improved the same way      |
|                  | then market                                    |                            |
| urgent           | market                                         | twap 60 s, 5 market slices |

A passive maker's limit order is post-only: if the book moved through it before it arrived,
the venue rejects it instead of letting it take liquidity (and the parent stops).

The generic config helpers here (``about``, ``InvalidConfig``) also serve ``breakers``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_UP, Decimal
from enum import StrEnum
from functools import cache
from itertools import pairwise
from statistics import fmean, pstdev
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

from execution.domain.algos import Algorithm, InvalidAlgoConfig, algorithm_from_config
from execution.domain.algos.params import parse_decimal, parse_int, parse_seconds, seconds_text
from execution.domain.errors import DomainError
from execution.domain.values import (
    ZERO,
    InstrumentSpec,
    Side,
    exact,
    plain,
    to_decimal,
    to_positive,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SPREAD_WINDOW = 100  # observations behind spread_stability_norm_100
OFI_WINDOW = timedelta(minutes=1)  # behind ofi_normalized_1m
TOP_LEVELS = 3  # levels per side counted by volume_concentration

# The smallest step of a TWAP price offset we produce, rounded up so that "at the opposite
# touch" lands on it rather than a tick short.
_OFFSET_QUANTUM = Decimal("1e-12")
_MAX_OFFSET = 1 - _OFFSET_QUANTUM  # a spread wider than the bid itself: stop short of 100%

Level = tuple[Decimal, Decimal]  # (price, size)


# -- validated configuration ---------------------------------------------------------------


class InvalidConfig(DomainError):
    """A configuration value is unknown, of the wrong type or out of range; ``key`` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def about(
    doc: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> dict[str, object]:
    """A configuration field's metadata: what it means and its bounds (inclusive; durations in
    seconds). The bounds validate the value and appear in the schema."""
    return {"doc": doc, "minimum": minimum, "maximum": maximum, "positive": positive}


def _parse_float(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidConfig(key, f"{key} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidConfig(key, f"{key} must be a finite number, got {value!r}")
    return number


def _algo_parser(parse: Any) -> Any:
    def parse_setting(value: object, key: str) -> object:
        try:
            return parse(value, key)
        except InvalidAlgoConfig as error:
            raise InvalidConfig(key, str(error)) from None

    return parse_setting


_SETTING_PARSERS: dict[object, Any] = {
    float: _parse_float,
    int: _algo_parser(parse_int),
    Decimal: _algo_parser(parse_decimal),
    timedelta: _algo_parser(parse_seconds),
}
_SCHEMA_TYPES: dict[object, dict[str, Any]] = {
    float: {"type": "number"},
    int: {"type": "integer"},
    Decimal: {"type": "string", "format": "decimal"},
    timedelta: {"type": ["integer", "string"], "format": "seconds"},
}

C = TypeVar("C", bound="DataclassInstance")


@cache
def _types(kind: type[DataclassInstance]) -> dict[str, object]:
    return get_type_hints(kind)


def parse_settings(config: DataclassInstance) -> None:
    """Parse every field of a frozen config dataclass in place and check its bounds."""
    types = _types(type(config))
    for f in dataclasses.fields(config):
        value = _SETTING_PARSERS[types[f.name]](getattr(config, f.name), f.name)
        object.__setattr__(config, f.name, value)
        size = value.total_seconds() if isinstance(value, timedelta) else float(value)
        meta = f.metadata
        if meta["positive"] and not size > 0:
            raise InvalidConfig(f.name, f"{f.name} must be greater than zero, got {_text(value)}")
        for bound, outside in (("minimum", size.__lt__), ("maximum", size.__gt__)):
            limit = meta[bound]
            if limit is not None and outside(limit):
                word = "at least" if bound == "minimum" else "at most"
                raise InvalidConfig(f.name, f"{f.name} must be {word} {limit}, got {_text(value)}")


def config_from_dict(kind: type[C], data: Mapping[str, object]) -> C:
    """Build a config from plain values; missing keys take their defaults."""
    names = [f.name for f in dataclasses.fields(kind)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise InvalidConfig(
            unknown[0], f"unknown setting {unknown[0]!r}; known settings: {', '.join(names)}"
        )
    return kind(**data)


def config_to_dict(config: DataclassInstance) -> dict[str, Any]:
    """The plain (JSON) form ``config_from_dict`` reads back."""
    return {f.name: _plain_setting(getattr(config, f.name)) for f in dataclasses.fields(config)}


def config_schema(kind: type[DataclassInstance]) -> dict[str, Any]:
    """A JSON schema of a config: every key's type, meaning, default and bounds."""
    types = _types(kind)
    properties: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        entry = dict(_SCHEMA_TYPES[types[f.name]])
        entry["description"] = f.metadata["doc"]
        entry["default"] = _plain_setting(f.default)
        for bound in ("minimum", "maximum"):
            if f.metadata[bound] is not None:
                entry[bound] = f.metadata[bound]
        if f.metadata["positive"]:
            entry["exclusiveMinimum"] = 0
        properties[f.name] = entry
    return {"type": "object", "additionalProperties": False, "properties": properties}


def _plain_setting(value: object) -> object:
    if isinstance(value, timedelta):
        return seconds_text(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def _text(value: object) -> str:
    return seconds_text(value) + " s" if isinstance(value, timedelta) else str(value)


def require_order(config: DataclassInstance, *names: str) -> None:
    """Thresholds that must not decrease in the order named."""
    for lower, higher in pairwise(names):
        if getattr(config, lower) > getattr(config, higher):
            raise InvalidConfig(
                lower,
                f"{lower} ({_text(getattr(config, lower))}) must not be above {higher} "
                f"({_text(getattr(config, higher))})",
            )


# -- book features -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TouchSnapshot:
    """The best bid and ask with their sizes at one moment: the history behind the spread
    and order-flow features."""

    at: datetime
    bid_price: Decimal
    bid_size: Decimal
    ask_price: Decimal
    ask_size: Decimal

    def __post_init__(self) -> None:
        for name in ("bid_price", "bid_size", "ask_price", "ask_size"):
            value = to_positive(getattr(self, name), field=name.replace("_", " "))
            object.__setattr__(self, name, value)
        _check_not_crossed(self.bid_price, self.ask_price)

    @property
    def spread(self) -> Decimal:
        with exact():
            return self.ask_price - self.bid_price

    @property
    def touch_depth(self) -> Decimal:
        with exact():
            return self.bid_size + self.ask_size


@dataclass(frozen=True, slots=True)
class BookFeatures:
    """Order-book features at one moment (see the module docstring for the formulas)."""

    spread_stability_norm_100: float
    ofi_normalized_1m: float
    book_resilience: float
    volume_concentration: float

    def __post_init__(self) -> None:
        for name, low in (
            ("spread_stability_norm_100", 0.0),
            ("ofi_normalized_1m", -1.0),
            ("book_resilience", 0.0),
            ("volume_concentration", 0.0),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DomainError(f"{name} must be a number, got {value!r}")
            if not low <= value <= 1:
                raise DomainError(f"{name} must be in [{low:g}, 1], got {value!r}")


def touch_of(bids: Sequence[Level], asks: Sequence[Level], at: datetime) -> TouchSnapshot:
    """The touch of a book (bids and asks best first), to keep as history."""
    bid_levels, ask_levels = _book(bids, asks)
    (bid, bid_size), (ask, ask_size) = bid_levels[0], ask_levels[0]
    return TouchSnapshot(at, bid, bid_size, ask, ask_size)


def book_features(
    *,
    bids: Sequence[Level],
    asks: Sequence[Level],
    now: datetime,
    history: Sequence[TouchSnapshot] = (),
    top_levels: int = TOP_LEVELS,
) -> BookFeatures:
    """Features of the current book at ``now``; ``history`` holds earlier touch snapshots,
    oldest first, none after ``now`` (a feature at t uses data up to t only)."""
    if top_levels < 1:
        raise DomainError(f"top_levels must be at least 1, got {top_levels}")
    bid_levels, ask_levels = _book(bids, asks)
    for earlier, later in pairwise(history):
        if later.at < earlier.at:
            raise DomainError(f"touch history out of order: {later.at} comes after {earlier.at}")
    if history and history[-1].at > now:
        raise DomainError(f"touch history reaches {history[-1].at}, after now ({now})")
    touches = [*history, touch_of(bid_levels, ask_levels, now)]
    return BookFeatures(
        spread_stability_norm_100=_spread_instability(touches[-SPREAD_WINDOW:]),
        ofi_normalized_1m=_normalized_ofi(touches, now - OFI_WINDOW),
        book_resilience=_resilience(bid_levels, ask_levels),
        volume_concentration=_concentration(bid_levels, ask_levels, top_levels),
    )


def _book(bids: Sequence[Level], asks: Sequence[Level]) -> tuple[list[Level], list[Level]]:
    bid_levels = _side(bids, "bid", better=1)
    ask_levels = _side(asks, "ask", better=-1)
    _check_not_crossed(bid_levels[0][0], ask_levels[0][0])
    return bid_levels, ask_levels


def _side(levels: Sequence[Level], name: str, *, better: int) -> list[Level]:
    if not levels:
        raise DomainError(f"empty book: no {name}s")
    parsed = [
        (
            to_positive(price, field=f"{name} price at level {index + 1}"),
            to_positive(size, field=f"{name} size at level {index + 1}"),
        )
        for index, (price, size) in enumerate(levels)
    ]
    for index, ((price, _), (next_price, _)) in enumerate(pairwise(parsed)):
        if (price - next_price) * better <= 0:
            order = "highest" if better > 0 else "lowest"
            raise DomainError(
                f"{name}s must be best first ({order} price first) with one level per price: "
                f"level {index + 2} at {next_price} follows {price}"
            )
    return parsed


def _check_not_crossed(bid: Decimal, ask: Decimal) -> None:
    if bid >= ask:
        raise DomainError(f"crossed book: best bid {bid} is at or above best ask {ask}")


def _squash(x: float) -> float:
    """Map [0, inf) onto [0, 1) and the real line onto (-1, 1), monotonically."""
    return x / (1 + abs(x))


def _spread_instability(touches: Sequence[TouchSnapshot]) -> float:
    spreads = [float(touch.spread) for touch in touches]
    if len(spreads) < 2:
        return 0.0
    return _squash(pstdev(spreads) / fmean(spreads))


def _ofi_event(before: TouchSnapshot, after: TouchSnapshot) -> Decimal:
    with exact():
        flow = ZERO
        if after.bid_price >= before.bid_price:
            flow += after.bid_size
        if after.bid_price <= before.bid_price:
            flow -= before.bid_size
        if after.ask_price <= before.ask_price:
            flow -= after.ask_size
        if after.ask_price >= before.ask_price:
            flow += before.ask_size
        return flow


def _normalized_ofi(touches: Sequence[TouchSnapshot], since: datetime) -> float:
    pairs = [(a, b) for a, b in pairwise(touches) if b.at > since]
    if not pairs:
        return 0.0
    with exact():
        ofi = sum((_ofi_event(a, b) for a, b in pairs), ZERO)
        mean_depth = sum((b.touch_depth for _, b in pairs), ZERO) / len(pairs)
        return _squash(float(ofi / mean_depth))


def _resilience(bids: Sequence[Level], asks: Sequence[Level]) -> float:
    with exact():
        touch = (bids[0][1] + asks[0][1]) / 2
        mean_bid = sum((size for _, size in bids), ZERO) / len(bids)
        mean_ask = sum((size for _, size in asks), ZERO) / len(asks)
        return float(min(Decimal(1), touch / ((mean_bid + mean_ask) / 2)))


def _concentration(bids: Sequence[Level], asks: Sequence[Level], top: int) -> float:
    with exact():
        near = sum((size for _, size in [*bids[:top], *asks[:top]]), ZERO)
        total = sum((size for _, size in [*bids, *asks]), ZERO)
        return float(near / total)


# -- urgency, size and algorithm -----------------------------------------------------------


class UrgencyLevel(StrEnum):
    PASSIVE_MAKER = "passive_maker"
    BALANCED = "balanced"
    AGGRESSIVE_LIMIT = "aggressive_limit"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """0 (most patient) to 3 (most urgent)."""
        return list(UrgencyLevel).index(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class UrgencyConfig:
    """Thresholds, size factors and algorithm settings of ``plan_execution``."""

    stable_below: float = field(
        default=0.2,
        metadata=about(
            "spread_stability_norm_100 below this is a stable spread", minimum=0, maximum=1
        ),
    )
    balanced_below: float = field(
        default=0.4,
        metadata=about("stability from stable_below up to this is balanced", minimum=0, maximum=1),
    )
    unstable_above: float = field(
        default=0.6,
        metadata=about(
            "stability above this is unstable: urgent (with flow toward the order), size cut",
            minimum=0,
            maximum=1,
        ),
    )
    flow_aggressive_from: float = field(
        default=0.3,
        metadata=about(
            "order flow toward the order from this is an aggressive limit", minimum=0, maximum=1
        ),
    )
    flow_urgent_above: float = field(
        default=0.7,
        metadata=about(
            "order flow toward the order above this executes now; |flow| above it grows the size",
            minimum=0,
            maximum=1,
        ),
    )
    strong_signal_urgent_flow_above: float = field(
        default=0.5,
        metadata=about(
            "a strong signal on an unstable spread is urgent with flow toward it above this",
            minimum=0,
            maximum=1,
        ),
    )
    thin_book_below: float = field(
        default=0.3,
        metadata=about(
            "book_resilience below this splits the order and cuts the size", minimum=0, maximum=1
        ),
    )
    concentrated_from: float = field(
        default=0.6,
        metadata=about(
            "volume_concentration from this lets an aggressive limit take the opposite touch",
            minimum=0,
            maximum=1,
        ),
    )
    weak_signal_from: float = field(
        default=0.3, metadata=about("signal strength below this is skipped", minimum=0, maximum=1)
    )
    balanced_signal_from: float = field(
        default=0.5,
        metadata=about("signal strength from this is at least balanced", minimum=0, maximum=1),
    )
    strong_signal_from: float = field(
        default=0.8,
        metadata=about("signal strength from this follows the book", minimum=0, maximum=1),
    )
    unstable_size_factor: Decimal = field(
        default=Decimal("0.5"), metadata=about("size factor on an unstable spread", minimum=0)
    )
    strong_flow_size_factor: Decimal = field(
        default=Decimal("1.2"),
        metadata=about("size factor when |ofi_normalized_1m| > flow_urgent_above", minimum=0),
    )
    thin_book_size_factor: Decimal = field(
        default=Decimal("0.7"), metadata=about("size factor on a thin book", minimum=0)
    )
    max_size_factor: Decimal = field(
        default=Decimal("1.5"),
        metadata=about("the size never exceeds this times the base quantity", minimum=0),
    )
    passive_timeout: timedelta = field(
        default=timedelta(seconds=60),
        metadata=about("a passive maker's limit order lives this long", positive=True),
    )
    balanced_timeout: timedelta = field(
        default=timedelta(seconds=30),
        metadata=about("a balanced limit order waits this long, then market", positive=True),
    )
    aggressive_timeout: timedelta = field(
        default=timedelta(seconds=10),
        metadata=about("an aggressive limit waits this long, then market", positive=True),
    )
    aggressive_spread_fraction: Decimal = field(
        default=Decimal("0.5"),
        metadata=about(
            "how far into the spread an aggressive limit goes from its own touch (1: the other)",
            minimum=0,
            maximum=1,
        ),
    )
    split_duration: timedelta = field(
        default=timedelta(seconds=60),
        metadata=about("a split order's TWAP runs this long", positive=True),
    )
    split_slices: int = field(default=5, metadata=about("a split order's TWAP slices", minimum=1))
    split_visible_pct: Decimal = field(
        default=Decimal("0.2"),
        metadata=about("a split passive order's iceberg clip, a fraction of it", positive=True),
    )

    def __post_init__(self) -> None:
        parse_settings(self)
        require_order(self, "stable_below", "balanced_below", "unstable_above")
        require_order(self, "flow_aggressive_from", "flow_urgent_above")
        require_order(self, "weak_signal_from", "balanced_signal_from", "strong_signal_from")
        if self.split_visible_pct > 1:
            raise InvalidConfig(
                "split_visible_pct",
                f"split_visible_pct must be at most 1, got {self.split_visible_pct}",
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> UrgencyConfig:
        return config_from_dict(cls, data)

    @classmethod
    def schema(cls) -> dict[str, Any]:
        return config_schema(cls)

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    """How to execute a signal: its urgency, quantity and the algorithm to work it with.
    ``rationale`` says why, one line per rule that applied (for the audit trail)."""

    urgency: UrgencyLevel
    quantity: Decimal
    algorithm_kind: str
    algorithm_params: Mapping[str, object]  # plain values, as algorithm_from_config reads
    split: bool
    rationale: tuple[str, ...]

    def __post_init__(self) -> None:
        self.algorithm()  # a plan the algorithm would refuse is a bug here, not at the venue

    def algorithm(self) -> Algorithm:
        return algorithm_from_config(self.algorithm_kind, self.algorithm_params)


@dataclass(frozen=True, slots=True)
class SkipExecution:
    """No order for this signal; ``rule`` is machine-readable, ``reason`` for people."""

    rule: str
    reason: str


def plan_execution(
    *,
    features: BookFeatures,
    strength: float,
    side: Side,
    base_quantity: Decimal,
    best_bid: Decimal,
    best_ask: Decimal,
    spec: InstrumentSpec,
    config: UrgencyConfig | None = None,
    size_factor: Decimal = Decimal(1),
    urgency_override: UrgencyLevel | None = None,
) -> ExecutionPlan | SkipExecution:
    """Decide how urgently, how much and with which algorithm to act on a signal of
    ``strength`` (0 to 1). ``size_factor`` is the circuit breakers' current reduction.

    ``urgency_override`` executes more urgently than the rules recommend (the breakers grant
    it: ``breakers.request_override``); it never turns a skip into an order, and asking for
    less urgency than recommended changes nothing. Size follows the rules either way."""
    config = config or UrgencyConfig()
    if isinstance(strength, bool) or not isinstance(strength, int | float):
        raise DomainError(f"signal strength must be a number, got {strength!r}")
    if not 0 <= strength <= 1:
        raise DomainError(f"signal strength must be in [0, 1], got {strength!r}")
    base_quantity = to_positive(base_quantity, field="base quantity")
    best_bid = to_positive(best_bid, field="best bid")
    best_ask = to_positive(best_ask, field="best ask")
    _check_not_crossed(best_bid, best_ask)
    size_factor = to_decimal(size_factor, field="size factor")
    if not 0 <= size_factor <= 1:
        raise DomainError(f"size factor must be in [0, 1], got {size_factor}")

    decided = _urgency(features, strength, side, config)
    if isinstance(decided, SkipExecution):
        return decided
    urgency, rationale = decided
    if urgency_override is not None and urgency_override.rank > urgency.rank:
        rationale += (f"urgency override: {urgency_override} instead of {urgency}",)
        urgency = urgency_override
    quantity, sizing = _size(features, strength, base_quantity, config, size_factor)
    rationale += sizing
    quantity = spec.round_quantity(quantity)
    if quantity <= 0 or quantity < spec.min_quantity:
        return SkipExecution(
            "min_quantity",
            f"the size {plain(quantity)} (on the lot {plain(spec.lot_size)}) is below "
            f"{spec.symbol}'s minimum quantity {plain(spec.min_quantity)}",
        )
    with exact():
        notional = quantity * best_bid
    if notional < spec.min_notional:
        return SkipExecution(
            "min_notional",
            f"the size {plain(quantity)} is worth {plain(notional)} {spec.quote} at the best bid, "
            f"below {spec.symbol}'s minimum notional {plain(spec.min_notional)} {spec.quote}",
        )
    split = features.book_resilience < config.thin_book_below
    if split:
        rationale += (
            f"book resilience {features.book_resilience:.2f} < {config.thin_book_below}: split",
        )
    kind, params = _algorithm(urgency, split, side, best_bid, best_ask, features, spec, config)
    return ExecutionPlan(urgency, quantity, kind, params, split, rationale)


def _urgency(
    features: BookFeatures, strength: float, side: Side, config: UrgencyConfig
) -> tuple[UrgencyLevel, tuple[str, ...]] | SkipExecution:
    stability = features.spread_stability_norm_100
    flow = features.ofi_normalized_1m * side.sign  # toward the order
    stable = stability < config.stable_below
    if strength < config.weak_signal_from:
        return SkipExecution(
            "weak_signal", f"signal strength {strength} is below {config.weak_signal_from}"
        )
    if strength < config.balanced_signal_from:
        if not stable:
            return SkipExecution(
                "unstable_for_weak_signal",
                f"a weak signal ({strength}) trades only on a stable spread: spread stability "
                f"{stability:.2f} is not below {config.stable_below}",
            )
        return UrgencyLevel.PASSIVE_MAKER, (f"weak signal {strength} on a stable spread: passive",)
    if strength < config.strong_signal_from:
        return UrgencyLevel.BALANCED, (f"medium signal {strength}: balanced",)
    if stable:
        return UrgencyLevel.PASSIVE_MAKER, (
            f"strong signal {strength} on a stable spread ({stability:.2f}): passive",
        )
    unstable = stability > config.unstable_above
    if unstable and flow > config.strong_signal_urgent_flow_above:
        return UrgencyLevel.URGENT, (
            f"strong signal {strength}, unstable spread ({stability:.2f}) and order flow "
            f"{flow:.2f} toward the order: urgent",
        )
    if flow > config.flow_urgent_above:
        return UrgencyLevel.URGENT, (f"order flow {flow:.2f} toward the order: execute now",)
    by_spread = (
        UrgencyLevel.BALANCED
        if stability < config.balanced_below
        else UrgencyLevel.AGGRESSIVE_LIMIT
    )
    by_flow = (
        UrgencyLevel.AGGRESSIVE_LIMIT
        if flow >= config.flow_aggressive_from
        else UrgencyLevel.PASSIVE_MAKER
    )
    level = max(by_spread, by_flow, key=lambda urgency: urgency.rank)
    return level, (
        f"strong signal {strength}, spread stability {stability:.2f}, order flow {flow:.2f} "
        f"toward the order: {level}",
    )


def _size(
    features: BookFeatures,
    strength: float,
    base: Decimal,
    config: UrgencyConfig,
    size_factor: Decimal,
) -> tuple[Decimal, tuple[str, ...]]:
    notes: list[str] = []
    with exact():
        # str() gives the float's shortest decimal form: 0.7 stays 0.7, not 0.6999...
        size = base * Decimal(str(strength))
        if features.spread_stability_norm_100 > config.unstable_above:
            size *= config.unstable_size_factor
            notes.append(f"unstable spread: size x {config.unstable_size_factor}")
        if abs(features.ofi_normalized_1m) > config.flow_urgent_above:
            size *= config.strong_flow_size_factor
            notes.append(f"strong order flow: size x {config.strong_flow_size_factor}")
        if features.book_resilience < config.thin_book_below:
            size *= config.thin_book_size_factor
            notes.append(f"thin book: size x {config.thin_book_size_factor}")
        cap = base * config.max_size_factor
        if size > cap:
            size = cap
            notes.append(f"size capped at {config.max_size_factor} x base")
        if size_factor != 1:
            size *= size_factor
            notes.append(f"circuit breaker: size x {size_factor}")
        return size, tuple(notes)


def _algorithm(
    urgency: UrgencyLevel,
    split: bool,
    side: Side,
    best_bid: Decimal,
    best_ask: Decimal,
    features: BookFeatures,
    spec: InstrumentSpec,
    config: UrgencyConfig,
) -> tuple[str, dict[str, object]]:
    # How far toward the other side an aggressive order goes, as a fraction of the spread.
    take_touch = features.volume_concentration >= config.concentrated_from
    fraction = Decimal(1) if take_touch else config.aggressive_spread_fraction
    own, other = (best_bid, best_ask) if side is Side.BUY else (best_ask, best_bid)
    twap = {
        "duration": seconds_text(config.split_duration),
        "num_slices": config.split_slices,
        "use_limit_orders": urgency is not UrgencyLevel.URGENT,
    }
    if urgency is UrgencyLevel.URGENT:
        return ("twap", twap) if split else ("market", {})
    if urgency is UrgencyLevel.PASSIVE_MAKER:
        if split:
            return "iceberg", {
                "visible_pct": str(config.split_visible_pct),
                "max_refresh_time": seconds_text(config.passive_timeout),
                "use_limit_orders": True,
            }
        timeout = seconds_text(config.passive_timeout)
        return "limit", {"timeout": timeout, "fallback_to_market": False, "post_only": True}
    if urgency is UrgencyLevel.BALANCED:
        if split:
            return "twap", twap
        timeout = seconds_text(config.balanced_timeout)
        return "limit", {"timeout": timeout, "fallback_to_market": True}
    with exact():
        reach = abs(other - own) * fraction
        if split:
            offset = (reach / own).quantize(_OFFSET_QUANTUM, rounding=ROUND_UP)
            return "twap", {**twap, "price_offset_pct": str(min(offset, _MAX_OFFSET))}
        price = spec.round_price(own + reach * side.sign, side)
    return "limit", {
        "timeout": seconds_text(config.aggressive_timeout),
        "fallback_to_market": True,
        "price": str(price),
    }
