"""`make bench`: run every benchmark and print one table.

Figures on these shared 2-core machines are noisy: compare the rows of one run, not runs.
"""

from __future__ import annotations

import importlib
import os
import sys
import time

from bench.common import Result

MODULES = [
    "bench.bench_matching",
    "bench.bench_fills",
    "bench.bench_signal",
    "bench.bench_api",
    "bench.bench_marketdata",
    "bench.bench_features",
    "bench.bench_ml",
    "bench.bench_backtest",
    "bench.bench_copy",
    "bench.bench_backtest_l2",
    "bench.bench_ws",
]


def _figure(value: float) -> str:
    """Three significant figures for small values (latencies in ms), whole numbers above."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) >= 1 else f"{value:.2g}"


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings.test")
    wanted = sys.argv[1:]
    results: list[Result] = []
    for name in MODULES:
        if wanted and not any(w in name for w in wanted):
            continue
        started = time.perf_counter()
        module = importlib.import_module(name)
        results.extend(module.run())
        print(f"# {name} took {time.perf_counter() - started:.1f}s", file=sys.stderr)
    width = max(len(r.name) for r in results)
    print(f"{'benchmark':<{width}}  {'value':>12}  {'unit':<10} {'target':<12} note")
    print("-" * (width + 60))
    for r in results:
        print(f"{r.name:<{width}}  {_figure(r.value):>12}  {r.unit:<10} {r.target:<12} {r.note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
