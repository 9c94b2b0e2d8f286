"""The strategy protocol: market events in, signals out.

A strategy decides a *target position* after each bar closes, as a fraction of the size it
is allowed to hold: +1 fully long, -1 fully short, 0 flat. Sizing, risk checks and execution
turn that target into orders; the strategy never sees cash, orders or fills.

Every strategy offers the same decisions two ways:

- ``target_positions(bars)``: vectorised, once over a whole series, for backtests. The value
  at bar ``i`` may use bars ``0..i`` only (no lookahead): computing it over a prefix of the
  series gives the same values for that prefix.
- ``live().on_bar(bar)``: incremental, one closed bar at a time, for the live runner. It
  returns a ``Signal`` when the target changes and ``None`` otherwise.

``signals_from_targets`` turns the vectorised path into the signals the live path would emit,
so the two can be compared exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

from execution.domain.errors import DomainError
from execution.domain.values import Side
from mlmodels.features import FeatureInputs, OrderBookSeries, TradeFlowSeries

FloatArray: TypeAlias = npt.NDArray[np.float64]
TimeArray: TypeAlias = npt.NDArray[np.datetime64]


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed OHLCV bar, as the live path sees it. Floats: features, not money."""

    index: int
    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0


@dataclass(frozen=True, slots=True)
class Bars:
    """A series of OHLCV bars as float64 arrays; ``starts`` are the bars' start times."""

    starts: TimeArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        n = len(self.starts)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise DomainError(f"bars: {name} has {len(getattr(self, name))} values, not {n}")
        if n > 1 and not bool(np.all(self.starts[1:] > self.starts[:-1])):
            raise DomainError("bars: start times must strictly increase")

    def __len__(self) -> int:
        return len(self.starts)

    def head(self, count: int) -> Bars:
        """The first ``count`` bars (for no-lookahead checks and warm-ups)."""
        return Bars(
            self.starts[:count],
            self.open[:count],
            self.high[:count],
            self.low[:count],
            self.close[:count],
            self.volume[:count],
        )

    def bar(self, index: int) -> Bar:
        start = self.starts[index].astype("datetime64[us]").item()
        assert isinstance(start, datetime)
        return Bar(
            index=index,
            start=start,
            open=float(self.open[index]),
            high=float(self.high[index]),
            low=float(self.low[index]),
            close=float(self.close[index]),
            volume=float(self.volume[index]),
        )

    def __iter__(self) -> Iterator[Bar]:
        return (self.bar(index) for index in range(len(self)))


@dataclass(frozen=True, slots=True)
class Signal:
    """A strategy's decision after the close of bar ``bar_index``.

    ``target_position`` is the position to hold, as a fraction of the allowed size (-1..1);
    ``side`` is the direction of the trade that gets there (None when nothing trades, which
    a strategy does not emit). ``strength`` is its confidence, 0..1, for sizing by conviction.
    Stop loss and take profit are absolute prices; ``metadata`` is free text for the record.
    """

    bar_index: int
    bar_start: datetime  # the decided bar's start; the decision is at its close
    target_position: float
    side: Side | None
    strength: float = 1.0
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    metadata: Mapping[str, str | float] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not -1.0 <= self.target_position <= 1.0:
            raise DomainError(f"signal target_position {self.target_position} is not in -1..1")
        if not 0.0 <= self.strength <= 1.0:
            raise DomainError(f"signal strength {self.strength} is not in 0..1")
        # A frozen value must not share a mutable dict with its caller.
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))


class LiveStrategy(Protocol):
    """The incremental path: one closed bar in, a signal out when the target changes."""

    def on_bar(self, bar: Bar) -> Signal | None: ...


class Strategy(Protocol):
    """What every strategy offers; see the module docstring for the contract."""

    @property
    def name(self) -> str: ...

    @property
    def warmup_bars(self) -> int:
        """Bars before the first decision can differ from flat."""
        ...

    def target_positions(self, bars: Bars) -> FloatArray:
        """The target after each bar's close, float64 in -1..1, from bars up to it only."""
        ...

    def live(self) -> LiveStrategy:
        """A fresh incremental runner with no history."""
        ...


def signals_from_targets(bars: Bars, targets: FloatArray) -> list[Signal]:
    """The signals a live runner emits for these targets: one wherever the target changes
    (the position starts flat)."""
    previous = np.concatenate(([0.0], targets[:-1]))
    signals = []
    for index in np.flatnonzero(targets != previous):
        target = float(targets[index])
        signals.append(
            signal_for(bars.bar(int(index)), target=target, previous=float(previous[index]))
        )
    return signals


def signal_for(bar: Bar, *, target: float, previous: float) -> Signal:
    """The signal that moves the target from ``previous`` to ``target`` at ``bar``'s close."""
    return Signal(
        bar_index=bar.index,
        bar_start=bar.start,
        target_position=target,
        side=Side.BUY if target > previous else Side.SELL,
        strength=1.0,
    )


def bar_time_ns(moment: datetime) -> int:
    """A bar's start as the vectorised path reads it: UTC, naive, in nanoseconds (numpy warns
    on, and will refuse, an aware datetime; the live runner's bars are aware)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return int(np.datetime64(moment, "ns").astype(np.int64))


def feature_inputs(
    bars: Bars, *, trades: TradeFlowSeries | None = None, book: OrderBookSeries | None = None
) -> FeatureInputs:
    """The feature library's inputs for ``bars`` (and their tape and book, when given)."""
    return FeatureInputs(
        time=bars.starts.astype("datetime64[ns]").astype(np.int64),
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        volume=bars.volume,
        trades=trades,
        book=book,
    )
