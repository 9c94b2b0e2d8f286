"""What every benchmark returns, so `make bench` can print one table, and small shared helpers."""

from __future__ import annotations

import ctypes
import math
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Result:
    name: str  # what was measured, e.g. "fill_record, 1 writer (PostgreSQL)"
    value: float  # the figure, in `unit`
    unit: str  # e.g. "fills/s", "orders/s", "ms"
    target: str = ""  # the target, e.g. ">= 1,000"
    note: str = ""  # context: sizes, baseline ratio, environment


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100): a value that was measured."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM when the benchmark dies, however it dies.
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def child_process(
    args: Sequence[str], *, env: Mapping[str, str], **options: Any
) -> subprocess.Popen[Any]:
    """Start a helper process that cannot outlive the benchmark (on Linux)."""
    if sys.platform == "linux":
        options.setdefault("preexec_fn", _die_with_parent)
    return subprocess.Popen(list(args), env=dict(env), **options)
