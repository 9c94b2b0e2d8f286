"""Rolling sums and moments, rolling extremes, lags, sums over a time window and exponential
averages, as state that moves forward either by a chunk of rows (``extend``, vectorised) or by
one row (``push``). Both do the same floating-point operations in the same order, so a live
value equals the batch value bit for bit however the series was cut into chunks.

Two devices keep the arithmetic identical and still vectorised:

- A rolling sum is added afresh (left to right) at every row that is a multiple of ``RESYNC``
  and in between moves by the step y_t - y_{t-w}: a cumulative sum inside each segment, which a
  live sum repeats. Rounding never builds up for longer than one segment.
- An exponential recursion y_t = d y_{t-1} + b_t runs in blocks of ``SCAN_BLOCK`` rows: a local
  recursion inside each block (vectorised across blocks), plus the true value at the end of the
  previous block times d^(i+1). The block ends come from the same scan one level up (factor
  d^SCAN_BLOCK). A live update repeats this level by level, O(1) per row on average.

Segments and blocks are counted from the first row of the series, so no value depends on a
later row or on where the chunks were cut.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

RESYNC = 256  # rows between fresh additions of a rolling sum
SCAN_BLOCK = 8  # rows per block of the exponential scan (small: its transposes are cheaper)
_SHORT = 2 * SCAN_BLOCK  # below this many values a scan level pushes them one by one


def window_counts(first_row: int, rows: int, window: int) -> FloatArray:
    """How many rows the rolling windows of rows first_row, first_row + 1, ... hold."""
    ends = np.arange(first_row + 1, first_row + rows + 1, dtype=np.float64)
    return np.minimum(ends, float(window))


def _segment_cumsum(steps: FloatArray, first_row: int) -> FloatArray:
    """Cumulative sums of ``steps`` that restart at every row that is a multiple of RESYNC;
    ``first_row`` is the series row of steps[0] (numpy adds left to right, as a live sum)."""
    n = len(steps)
    head = min((-first_row) % RESYNC, n)
    whole = head + (n - head) // RESYNC * RESYNC
    out = np.empty(n)
    np.cumsum(steps[:head], out=out[:head])
    aligned = steps[head:whole].reshape(-1, RESYNC)
    np.cumsum(aligned, axis=1, out=out[head:whole].reshape(-1, RESYNC))
    np.cumsum(steps[whole:], out=out[whole:])
    return out


def _resync_rows(first_row: int, rows: int) -> IntArray:
    """Indices in a chunk of the rows that are multiples of RESYNC."""
    return np.arange((-first_row) % RESYNC, rows, RESYNC, dtype=np.int64)


class Lags:
    """The last ``depth`` values, for values some rows back (``fill`` before the series)."""

    __slots__ = ("_newest", "_ring")

    def __init__(self, depth: int, fill: float = math.nan) -> None:
        self._ring = [fill] * depth
        self._newest = depth - 1

    def push(self, value: float) -> None:
        newest = self._newest + 1
        if newest == len(self._ring):
            newest = 0
        self._ring[newest] = value
        self._newest = newest

    def ago(self, rows: int) -> float:
        """The value ``rows`` rows before the newest one (1 <= rows <= depth - 1), or 0 for
        the newest itself."""
        return self._ring[self._newest - rows]  # a negative index wraps round the ring

    def extend(self, values: FloatArray, lags: Sequence[int]) -> list[FloatArray]:
        """The values each of ``lags`` rows back, for every row of the chunk."""
        depth, n = len(self._ring), len(values)
        ordered = self._ring[self._newest + 1 :] + self._ring[: self._newest + 1]
        series = np.concatenate((np.array(ordered), values))
        self._ring = series[len(series) - depth :].tolist()
        self._newest = depth - 1
        return [series[depth - lag : depth - lag + n] for lag in lags]


class RollingSum:
    """The sum of the last ``window`` values (fewer at the start of the series)."""

    __slots__ = ("_next", "_ring", "_rows", "_total")

    def __init__(self, window: int) -> None:
        self._ring = [0.0] * window  # zeros stand for the rows before the series
        self._next = 0
        self._rows = 0
        self._total = 0.0

    def push(self, value: float) -> float:
        ring, slot = self._ring, self._next
        oldest = ring[slot]
        ring[slot] = value
        self._next = slot + 1 if slot + 1 < len(ring) else 0
        if self._rows % RESYNC == 0:
            total = 0.0
            for item in ring[self._next :]:
                total += item
            for item in ring[: self._next]:
                total += item
            self._total = total
        else:
            self._total = self._total + (value - oldest)
        self._rows += 1
        return self._total

    def extend(self, values: FloatArray) -> FloatArray:
        window, n, first = len(self._ring), len(values), self._rows
        if n == 0:
            return np.empty(0)
        ordered = self._ring[self._next :] + self._ring[: self._next]
        series = np.concatenate((np.array(ordered), values))  # series[i + window] = values[i]
        steps = values - series[:n]
        resync = _resync_rows(first, n)
        fresh = np.zeros(len(resync))
        for k in range(1, window + 1):  # oldest first, as a live sum adds them
            fresh += series[resync + k]
        steps[resync] = fresh
        if first % RESYNC:
            steps[0] = self._total + steps[0]
        totals = _segment_cumsum(steps, first)
        self._ring = series[n:].tolist()
        self._next = 0
        self._rows += n
        self._total = float(totals[-1])
        return totals


class RollingMeanVar:
    """The mean and population variance of the last ``window`` values (fewer at the start).
    The sums are of values minus the first value of their segment, so that the variance of a
    series far from zero (a price) does not drown in the rounding of its squares."""

    __slots__ = ("_anchor", "_rows", "_squares", "_sum", "_values", "_window")

    def __init__(self, window: int) -> None:
        self._window = window
        self._values: deque[float] = deque(maxlen=window + 1)
        self._rows = 0
        self._anchor = 0.0
        self._sum = 0.0
        self._squares = 0.0

    def push(self, value: float) -> tuple[float, float]:
        values, window = self._values, self._window
        values.append(value)
        if self._rows % RESYNC == 0:
            anchor = self._anchor = value
            total = squares = 0.0
            for item in list(values)[-window:]:
                deviation = item - anchor
                total += deviation
                squares += deviation * deviation
            self._sum, self._squares = total, squares
        else:
            anchor = self._anchor
            new = value - anchor
            if len(values) > window:
                old = values[0] - anchor
                self._sum = self._sum + (new - old)
                self._squares = self._squares + (new * new - old * old)
            else:
                self._sum = self._sum + new
                self._squares = self._squares + new * new
        self._rows += 1
        count = float(min(self._rows, window))
        shift = self._sum / count
        variance = self._squares / count - shift * shift
        return anchor + shift, variance if variance > 0.0 else 0.0

    def extend(self, values: FloatArray) -> tuple[FloatArray, FloatArray]:
        window, n, first = self._window, len(values), self._rows
        if n == 0:
            return np.empty(0), np.empty(0)
        earlier = list(self._values)[-window:]
        series = np.concatenate((np.zeros(window - len(earlier)), np.array(earlier), values))
        resync = _resync_rows(first, n)
        # Each row's anchor: the value at its segment's first row (carried in for the head).
        segment = np.zeros(n, dtype=np.int64)
        segment[resync] = 1
        which = np.cumsum(segment)
        anchors = np.concatenate(([self._anchor], values[resync]))[which]
        new = values - anchors
        steps = new.copy()
        square_steps = new * new
        full = max(0, window - first)  # rows from here on have a row `window` back to drop
        if full < n:
            old = series[full:n] - anchors[full:]
            steps[full:] -= old
            square_steps[full:] -= old * old
        fresh = np.zeros(len(resync))
        fresh_squares = np.zeros(len(resync))
        for k in range(1, window + 1):
            known = first - window + resync + k >= 0  # the row exists (not before the series)
            deviation = series[resync + k] - values[resync]
            fresh += np.where(known, deviation, 0.0)
            fresh_squares += np.where(known, deviation * deviation, 0.0)
        steps[resync] = fresh
        square_steps[resync] = fresh_squares
        if first % RESYNC:
            steps[0] = self._sum + steps[0]
            square_steps[0] = self._squares + square_steps[0]
        sums = _segment_cumsum(steps, first)
        squares = _segment_cumsum(square_steps, first)
        counts = window_counts(first, n, window)
        shift = sums / counts
        variance = squares / counts - shift * shift
        self._values.extend(values[-(window + 1) :].tolist())
        self._rows += n
        self._anchor = float(anchors[-1])
        self._sum, self._squares = float(sums[-1]), float(squares[-1])
        return anchors + shift, np.maximum(variance, 0.0)


class RollingExtreme:
    """The largest (``largest=True``) or smallest of the last ``window`` values."""

    __slots__ = ("_largest", "_next", "_ring")

    def __init__(self, window: int, *, largest: bool) -> None:
        self._ring = [-math.inf if largest else math.inf] * window
        self._next = 0
        self._largest = largest

    def push(self, value: float) -> float:
        slot = self._next
        self._ring[slot] = value
        self._next = slot + 1 if slot + 1 < len(self._ring) else 0
        return max(self._ring) if self._largest else min(self._ring)

    def extend(self, values: FloatArray) -> FloatArray:
        # best[i] is the extreme of series[i : i + span] for span = 1, 2, 4, ...; two
        # overlapping spans cover each window (exact: max and min do not round).
        window, n = len(self._ring), len(values)
        pick = np.maximum if self._largest else np.minimum
        ordered = self._ring[self._next :] + self._ring[: self._next]
        series = np.concatenate((np.array(ordered[1:]), values))
        best, span = series, 1
        while span * 2 <= window:
            best = pick(best[:-span], best[span:])
            span *= 2
        result: FloatArray = pick(best[:n], best[window - span : window - span + n])
        self._ring = series[len(series) - window :].tolist() if n else ordered
        self._next = 0
        return result


class TimeWindowSums:
    """Sums of one or more series over the rows whose time is in (t - span, t] (times in ns),
    with the series index of each window's first row."""

    __slots__ = ("_before", "_first_row", "_span", "_times", "_totals")

    def __init__(self, span: int, series: int) -> None:
        self._span = span
        self._totals = [0.0] * series
        self._times: deque[int] = deque()  # the rows in the window: time
        self._before: list[deque[float]] = [deque() for _ in range(series)]  # totals before
        self._first_row = 0  # series index of the oldest row in the window

    def push(self, time: int, values: Sequence[float]) -> tuple[list[float], int]:
        times = self._times
        times.append(time)
        totals = self._totals
        for index, value in enumerate(values):
            self._before[index].append(totals[index])
            totals[index] += value
        while times[0] <= time - self._span:
            times.popleft()
            for before in self._before:
                before.popleft()
            self._first_row += 1
        return [
            total - before[0] for total, before in zip(totals, self._before, strict=True)
        ], self._first_row

    def extend(
        self, time: IntArray, values: Sequence[FloatArray]
    ) -> tuple[list[FloatArray], IntArray]:
        n = len(time)
        if n == 0:
            return [np.empty(0) for _ in values], np.empty(0, dtype=np.int64)
        times = np.concatenate((np.array(self._times, dtype=np.int64), time))
        starts = np.searchsorted(times, time - self._span, side="right")
        last = int(starts[-1])
        sums = []
        for index, series in enumerate(values):
            totals = np.cumsum(np.concatenate(([self._totals[index]], series)))
            before = np.concatenate((np.array(self._before[index]), totals[:-1]))
            sums.append(totals[1:] - before[starts])
            self._before[index] = deque(before[last:].tolist())
            self._totals[index] = float(totals[-1])
        first_rows = self._first_row + starts
        self._times = deque(times[last:].tolist())
        self._first_row = int(first_rows[-1])
        return sums, first_rows


def _powers(decay: float) -> list[float]:
    """decay^1 .. decay^SCAN_BLOCK by repeated multiplication."""
    powers = [decay]
    for _ in range(SCAN_BLOCK - 1):
        powers.append(powers[-1] * decay)
    return powers


class _Scan:
    """One level of the blocked recursion y_t = decay y_{t-1} + b_t, y_{-1} = 0."""

    __slots__ = ("_carry", "_decay", "_local", "_position", "_powers", "_upper")

    def __init__(self, decay: float) -> None:
        self._decay = decay
        self._powers = _powers(decay)
        self._local = 0.0  # the recursion inside the current block
        self._position = 0  # of the next row in its block
        self._carry: float | None = None  # the true value at the end of the previous block
        self._upper: _Scan | None = None  # the scan of the block ends

    def push(self, value: float) -> float:
        position = self._position
        local = value if position == 0 else value + self._decay * self._local
        self._local = local
        carry = self._carry
        result = local if carry is None else local + self._powers[position] * carry
        if position == SCAN_BLOCK - 1:
            if self._upper is None:
                self._upper = _Scan(self._powers[-1])
            self._carry = self._upper.push(local)
            self._position = 0
        else:
            self._position = position + 1
        return result

    def extend(self, values: FloatArray) -> FloatArray:
        n = len(values)
        head = min((SCAN_BLOCK - self._position) % SCAN_BLOCK, n)
        blocks = (n - head) // SCAN_BLOCK
        if blocks * SCAN_BLOCK < _SHORT:
            return np.array([self.push(value) for value in values.tolist()])
        out = np.empty(n)
        out[:head] = [self.push(value) for value in values[:head].tolist()]
        whole = head + blocks * SCAN_BLOCK
        local = values[head:whole].reshape(blocks, SCAN_BLOCK).T.copy()  # row i: position i
        scaled = np.empty(blocks)
        for i in range(1, SCAN_BLOCK):
            np.multiply(local[i - 1], self._decay, out=scaled)
            local[i] += scaled
        if self._upper is None:
            self._upper = _Scan(self._powers[-1])
        self._local = float(local[-1, -1])
        ends = self._upper.extend(local[-1].copy())  # the true value at each block's end
        powers = np.array(self._powers)[:, None]
        local[:, 1:] += powers * ends[None, :-1]
        if self._carry is not None:
            local[:, 0] += powers[:, 0] * self._carry
        self._carry = float(ends[-1])
        out[head:whole] = local.T.reshape(-1)
        out[whole:] = [self.push(value) for value in values[whole:].tolist()]
        return out


class ExponentialAverage:
    """y_0 = x_0, y_t = alpha x_t + (1 - alpha) y_{t-1}."""

    __slots__ = ("_alpha", "_scan", "_started")

    def __init__(self, alpha: float) -> None:
        self._alpha = alpha
        self._scan = _Scan(1.0 - alpha)
        self._started = False

    def push(self, value: float) -> float:
        if self._started:
            return self._scan.push(value * self._alpha)
        self._started = True
        return self._scan.push(value)

    def extend(self, values: FloatArray) -> FloatArray:
        weighted = values * self._alpha
        if not self._started and len(values):
            weighted[0] = values[0]
            self._started = True
        return self._scan.extend(weighted)
