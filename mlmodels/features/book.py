"""Features of the L2 book at each bar's close: spread, depth, imbalances, resilience, and the
Cont-Kukanov-Stoikov (CKS) order-flow imbalance between successive books.

Features that share a name with ``execution.domain.urgency.book_features`` (what the execution
engine reads) keep its definitions: ``spread_stability_norm_100``, ``ofi_normalized_1m``,
``book_resilience`` and ``volume_concentration`` (``concentration_levels`` per side). Those read
the whole visible book; the depth-by-level and depth imbalance features read the top
``depth_levels``.

- pressure_imbalance_weighted: each level weighs 1 / (1 + d / decay), d its distance from the
  mid in bps (``pressure_decay_bps``: the distance at which a level weighs half); the weighted
  bid and ask depth give (bid - ask) / (bid + ask).
- CKS event between books n-1 and n (best bid b, ask a, sizes qb, qa):
  e_n = 1{b_n >= b_n-1} qb_n - 1{b_n <= b_n-1} qb_n-1 - 1{a_n <= a_n-1} qa_n
  + 1{a_n >= a_n-1} qa_n-1. ofi_normalized_1m sums the events whose later book is in
  (t - 60 s, t] and divides by the mean touch depth qb + qa of those later books; x / (1 + |x|).
- ofi_weighted_30s: the same over the last 30 s with the top ``depth_levels`` levels, level k's
  event and depth weighted 1 / k.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from mlmodels.features.config import FeatureConfig
from mlmodels.features.formulas import ratio, ratio_of, squash, squash_of
from mlmodels.features.inputs import (
    BookSnapshot,
    FeatureInputs,
    FeatureRow,
    InputBundle,
)
from mlmodels.features.primitives import (
    FloatArray,
    IntArray,
    Lags,
    RollingMeanVar,
    RollingSum,
    TimeWindowSums,
    window_counts,
)
from mlmodels.features.spec import BOOK, FeatureGroup, FeatureSpec

FLOW, MICRO = FeatureGroup.ORDER_FLOW, FeatureGroup.MICROSTRUCTURE
SIZES = ("bid_sizes", "ask_sizes")
PRICES = ("bid_prices", "ask_prices")
SPREAD_WINDOW = 100  # books behind spread_stability_norm_100
SECOND = 1_000_000_000  # ns
OFI_SPAN = 60 * SECOND  # ofi_normalized_1m
WEIGHTED_OFI_SPAN = 30 * SECOND  # ofi_weighted_30s


class OrderBookFeatures:
    """Features of one book snapshot and of the recent spreads and depths."""

    bundles: ClassVar[frozenset[InputBundle]] = frozenset({InputBundle.BOOK})

    @staticmethod
    def specs(c: FeatureConfig) -> list[FeatureSpec]:
        d, bw, lag = c.depth_levels, c.book_window, c.imbalance_momentum_lag
        return [
            FeatureSpec("bid_ask_ratio_l1", FLOW, "best bid size / best ask size", SIZES, 0),
            FeatureSpec(
                "bid_ask_ratio_depth", FLOW, f"bid / ask size over the top {d} levels", SIZES, 0
            ),
            FeatureSpec("spread", MICRO, "best ask - best bid (price units)", PRICES, 0),
            FeatureSpec("relative_spread", MICRO, "spread / mid", PRICES, 0),
            FeatureSpec(
                "microprice_offset",
                MICRO,
                "(size-weighted microprice - mid) / spread, in (-0.5, 0.5); positive when the "
                "bid is the heavier side",
                BOOK,
                0,
            ),
            *(
                FeatureSpec(f"bid_depth_l{k}", MICRO, f"bid size at level {k}", SIZES[:1], 0)
                for k in range(1, d + 1)
            ),
            *(
                FeatureSpec(f"ask_depth_l{k}", MICRO, f"ask size at level {k}", SIZES[1:], 0)
                for k in range(1, d + 1)
            ),
            FeatureSpec(
                "order_imbalance_l1", MICRO, "(bid - ask) / (bid + ask) size at the touch", SIZES, 0
            ),
            FeatureSpec(
                "order_imbalance_depth",
                MICRO,
                f"(bid - ask) / (bid + ask) size over the top {d} levels",
                SIZES,
                0,
            ),
            FeatureSpec(
                "pressure_imbalance_weighted",
                MICRO,
                "depth imbalance of the visible book, each level weighted 1 / (1 + its distance "
                f"from the mid / {c.pressure_decay_bps:g} bps)",
                BOOK,
                0,
            ),
            FeatureSpec(
                "book_resilience",
                MICRO,
                "mean touch size / mean level size of the visible book, capped at 1 (low: a "
                "thin top in front of deeper levels)",
                SIZES,
                0,
            ),
            FeatureSpec(
                "volume_concentration",
                MICRO,
                f"share of all visible depth in the top {c.concentration_levels} levels per side",
                SIZES,
                0,
            ),
            FeatureSpec(
                "spread_stability_norm_100",
                MICRO,
                "cv / (1 + cv) of the spreads of the last (up to) 100 books, cv = std / mean; 0 "
                "is a steady spread",
                PRICES,
                0,
            ),
            FeatureSpec(f"spread_ratio_{bw}", MICRO, f"spread / its {bw}-bar mean", PRICES, bw - 1),
            FeatureSpec(
                f"book_depth_ratio_{bw}",
                MICRO,
                f"visible depth (both sides) / its {bw}-bar mean",
                SIZES,
                bw - 1,
            ),
            FeatureSpec(
                f"book_imbalance_momentum_{lag}",
                MICRO,
                f"order_imbalance_depth - its value {lag} bars back",
                SIZES,
                lag,
            ),
        ]

    def __init__(self, config: FeatureConfig) -> None:
        self._depth = config.depth_levels
        self._top = config.concentration_levels
        self._window = config.book_window
        self._lag = config.imbalance_momentum_lag
        self._per_mid = 10_000.0 / config.pressure_decay_bps  # decay distances per unit of mid
        self._stability = RollingMeanVar(SPREAD_WINDOW)
        self._spreads = RollingSum(config.book_window)
        self._depths = RollingSum(config.book_window)
        self._imbalances = Lags(config.imbalance_momentum_lag + 1)
        self._rows = 0

    def extend(self, x: FeatureInputs) -> list[FloatArray]:
        assert x.book is not None  # the family runs only with a book
        book, n = x.book, len(x)
        levels = book.levels
        bid, bid_size, ask, ask_size = (
            book.bid_prices,
            book.bid_sizes,
            book.ask_prices,
            book.ask_sizes,
        )
        best_bid, best_ask = bid[:, 0], ask[:, 0]
        touch_bid, touch_ask = bid_size[:, 0], ask_size[:, 0]
        spread = best_ask - best_bid
        mid = (best_bid + best_ask) / 2.0
        touch = touch_bid + touch_ask
        bid_depth = [touch_bid]  # bid_depth[k]: the bid size of the top k + 1 levels
        ask_depth = [touch_ask]
        for level in range(1, levels):
            bid_depth.append(bid_depth[-1] + bid_size[:, level])
            ask_depth.append(ask_depth[-1] + ask_size[:, level])
        bid_top, ask_top = bid_depth[self._depth - 1], ask_depth[self._depth - 1]
        near = bid_depth[self._top - 1] + ask_depth[self._top - 1]
        bid_all, ask_all = bid_depth[-1], ask_depth[-1]
        all_depth = bid_all + ask_all
        per_distance = self._per_mid / mid  # a level's weight is 1 / (1 + distance x this)
        weighted_bid = np.zeros(n)
        weighted_ask = np.zeros(n)
        for level in range(levels):
            weighted_bid += bid_size[:, level] / (1.0 + (mid - bid[:, level]) * per_distance)
            weighted_ask += ask_size[:, level] / (1.0 + (ask[:, level] - mid) * per_distance)
        imbalance = (bid_top - ask_top) / (bid_top + ask_top)
        (imbalance_back,) = self._imbalances.extend(imbalance, [self._lag])
        mean, variance = self._stability.extend(spread)
        counts = window_counts(self._rows, n, self._window)
        microprice = (best_bid * touch_ask + best_ask * touch_bid) / touch
        self._rows += n
        return [
            touch_bid / touch_ask,
            bid_top / ask_top,
            spread,
            spread / mid,
            (microprice - mid) / spread,
            *(bid_size[:, k] for k in range(self._depth)),
            *(ask_size[:, k] for k in range(self._depth)),
            (touch_bid - touch_ask) / touch,
            imbalance,
            (weighted_bid - weighted_ask) / (weighted_bid + weighted_ask),
            np.minimum(1.0, (touch / 2.0) / ((bid_all / levels + ask_all / levels) / 2.0)),
            near / all_depth,
            squash(ratio(np.sqrt(variance), mean)),
            ratio(spread, self._spreads.extend(spread) / counts),
            ratio(all_depth, self._depths.extend(all_depth) / counts),
            imbalance - imbalance_back,
        ]

    def push(self, row: FeatureRow) -> list[float]:
        assert row.book is not None
        book = row.book
        levels = len(book.bid_prices)
        bid, bid_size, ask, ask_size = (
            book.bid_prices,
            book.bid_sizes,
            book.ask_prices,
            book.ask_sizes,
        )
        best_bid, best_ask = bid[0], ask[0]
        touch_bid, touch_ask = bid_size[0], ask_size[0]
        spread = best_ask - best_bid
        mid = (best_bid + best_ask) / 2.0
        touch = touch_bid + touch_ask
        bid_depth = [touch_bid]
        ask_depth = [touch_ask]
        for level in range(1, levels):
            bid_depth.append(bid_depth[-1] + bid_size[level])
            ask_depth.append(ask_depth[-1] + ask_size[level])
        bid_top, ask_top = bid_depth[self._depth - 1], ask_depth[self._depth - 1]
        near = bid_depth[self._top - 1] + ask_depth[self._top - 1]
        bid_all, ask_all = bid_depth[-1], ask_depth[-1]
        all_depth = bid_all + ask_all
        per_distance = self._per_mid / mid
        weighted_bid = weighted_ask = 0.0
        for level in range(levels):
            weighted_bid += bid_size[level] / (1.0 + (mid - bid[level]) * per_distance)
            weighted_ask += ask_size[level] / (1.0 + (ask[level] - mid) * per_distance)
        imbalance = (bid_top - ask_top) / (bid_top + ask_top)
        self._imbalances.push(imbalance)
        mean, variance = self._stability.push(spread)
        self._rows += 1
        count = float(min(self._rows, self._window))
        microprice = (best_bid * touch_ask + best_ask * touch_bid) / touch
        return [
            touch_bid / touch_ask,
            bid_top / ask_top,
            spread,
            spread / mid,
            (microprice - mid) / spread,
            *bid_size[: self._depth],
            *ask_size[: self._depth],
            (touch_bid - touch_ask) / touch,
            imbalance,
            (weighted_bid - weighted_ask) / (weighted_bid + weighted_ask),
            min(1.0, (touch / 2.0) / ((bid_all / levels + ask_all / levels) / 2.0)),
            near / all_depth,
            squash_of(ratio_of(math.sqrt(variance), mean)),
            ratio_of(spread, self._spreads.push(spread) / count),
            ratio_of(all_depth, self._depths.push(all_depth) / count),
            imbalance - self._imbalances.ago(self._lag),
        ]


def _event_count(rows: IntArray, first_rows: IntArray) -> FloatArray:
    """Events in each window: its rows, less the series' first row (it has no book before)."""
    counts: FloatArray = (rows - first_rows + 1 - (first_rows == 0)).astype(np.float64)
    return counts


def _event_count_of(row: int, first_row: int) -> float:
    return float(row - first_row + 1 - (first_row == 0))


class BookFlowFeatures:
    """Order-flow imbalance between successive books (CKS), at the touch and by level."""

    bundles: ClassVar[frozenset[InputBundle]] = frozenset({InputBundle.BOOK})

    @staticmethod
    def specs(c: FeatureConfig) -> list[FeatureSpec]:
        timed = ("time", *BOOK)
        return [
            FeatureSpec(
                "ofi_touch",
                FLOW,
                "CKS order-flow imbalance from the previous book to this one, in units of this "
                "book's touch depth (best bid + best ask size)",
                BOOK,
                1,
            ),
            FeatureSpec(
                "ofi_normalized_1m",
                FLOW,
                "CKS order-flow imbalance of the books of the last 60 s / their mean touch "
                "depth, squashed x / (1 + |x|) into (-1, 1); positive is buying pressure",
                timed,
                0,
            ),
            FeatureSpec(
                "ofi_weighted_30s",
                FLOW,
                f"multi-level CKS imbalance of the top {c.depth_levels} levels (level k weighs "
                "1/k) over the last 30 s / the mean weighted depth, squashed into (-1, 1)",
                timed,
                0,
            ),
        ]

    def __init__(self, config: FeatureConfig) -> None:
        self._weights = [1.0 / level for level in range(1, config.depth_levels + 1)]
        self._touch = TimeWindowSums(OFI_SPAN, 2)  # events and depth
        self._weighted = TimeWindowSums(WEIGHTED_OFI_SPAN, 2)
        self._before: BookSnapshot | None = None  # the previous row's book
        self._rows = 0

    def extend(self, x: FeatureInputs) -> list[FloatArray]:
        assert x.book is not None
        book, n, first = x.book, len(x), self._rows
        sides = (book.bid_prices, book.bid_sizes, book.ask_prices, book.ask_sizes)
        before = self._before
        # The first book of the series stands in for its own "before": every event term then
        # cancels to 0.0, as the live update's "no book before, no event".
        prior = (
            [tuple(side[0].tolist()) for side in sides]
            if before is None
            else [before.bid_prices, before.bid_sizes, before.ask_prices, before.ask_sizes]
        )
        self._before = BookSnapshot(*(tuple(side[-1].tolist()) for side in sides))
        flow = np.zeros(n)
        flow_depth = np.zeros(n)
        touch_flow = flow
        for level, weight in enumerate(self._weights):
            now = [side[:, level] for side in sides]
            earlier = [
                np.concatenate(([values[level]], column[:-1]))
                for values, column in zip(prior, now, strict=True)
            ]
            event = _event(*now, *earlier)
            if level == 0:
                touch_flow = event
            flow += weight * event
            flow_depth += weight * (now[1] + now[3])
        touch = sides[1][:, 0] + sides[3][:, 0]
        event_depth = touch.copy()
        if first == 0:  # the first book has no book before it: no event
            event_depth[0] = flow_depth[0] = 0.0
        rows = np.arange(first, first + n, dtype=np.int64)
        (ofi, depth), starts = self._touch.extend(x.time, (touch_flow, event_depth))
        (weighted, weighted_depth), weighted_starts = self._weighted.extend(
            x.time, (flow, flow_depth)
        )
        self._rows += n
        return [
            touch_flow / touch,
            squash(ratio(ofi, ratio(depth, _event_count(rows, starts)))),
            squash(ratio(weighted, ratio(weighted_depth, _event_count(rows, weighted_starts)))),
        ]

    def push(self, row: FeatureRow) -> list[float]:
        assert row.book is not None
        book = row.book
        before = self._before
        self._before = book
        flow = flow_depth = touch_flow = 0.0
        for level, weight in enumerate(self._weights):
            bid, bid_size = book.bid_prices[level], book.bid_sizes[level]
            ask, ask_size = book.ask_prices[level], book.ask_sizes[level]
            if before is None:
                event = 0.0
            else:
                event = _event_of(
                    bid,
                    bid_size,
                    ask,
                    ask_size,
                    before.bid_prices[level],
                    before.bid_sizes[level],
                    before.ask_prices[level],
                    before.ask_sizes[level],
                )
            if level == 0:
                touch_flow = event
            flow += weight * event
            flow_depth += weight * (bid_size + ask_size)
        touch = book.bid_sizes[0] + book.ask_sizes[0]
        event_depth = touch
        if self._rows == 0:
            event_depth = flow_depth = 0.0
        (ofi, depth), start = self._touch.push(row.time, (touch_flow, event_depth))
        (weighted, weighted_depth), weighted_start = self._weighted.push(
            row.time, (flow, flow_depth)
        )
        row_index = self._rows
        self._rows += 1
        return [
            touch_flow / touch,
            squash_of(ratio_of(ofi, ratio_of(depth, _event_count_of(row_index, start)))),
            squash_of(
                ratio_of(
                    weighted, ratio_of(weighted_depth, _event_count_of(row_index, weighted_start))
                )
            ),
        ]


def _event(
    bid: FloatArray,
    bid_size: FloatArray,
    ask: FloatArray,
    ask_size: FloatArray,
    bid_before: FloatArray,
    bid_size_before: FloatArray,
    ask_before: FloatArray,
    ask_size_before: FloatArray,
) -> FloatArray:
    """The CKS event of each book against the one before. The indicators are 1.0 and 0.0
    (a size times 0.0 is the 0.0 of ``_event_of``; much faster than ``np.where``)."""
    result = bid_size * _indicator(np.greater_equal, bid, bid_before)
    result -= bid_size_before * _indicator(np.less_equal, bid, bid_before)
    result -= ask_size * _indicator(np.less_equal, ask, ask_before)
    result += ask_size_before * _indicator(np.greater_equal, ask, ask_before)
    return result


def _indicator(compare: np.ufunc, left: FloatArray, right: FloatArray) -> FloatArray:
    out = np.empty(len(left))
    compare(left, right, out=out)
    return out


def _event_of(
    bid: float,
    bid_size: float,
    ask: float,
    ask_size: float,
    bid_before: float,
    bid_size_before: float,
    ask_before: float,
    ask_size_before: float,
) -> float:
    """``_event`` of one book."""
    return (
        (bid_size if bid >= bid_before else 0.0)
        - (bid_size_before if bid <= bid_before else 0.0)
        - (ask_size if ask <= ask_before else 0.0)
        + (ask_size_before if ask >= ask_before else 0.0)
    )
