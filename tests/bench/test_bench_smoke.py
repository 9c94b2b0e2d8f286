"""The new benchmarks still run end to end, at tiny sizes. Nothing here is timed: the figures
come from `make bench`, never from the test suite."""

import pytest

from bench import bench_api, bench_signal

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: tasks run on commit


def test_the_signal_benchmark_runs():
    data = bench_signal.measure(iterations=2, warmup=1)

    assert data["children"] == 3  # one market child per signal, warm-up included
    rows = bench_signal.results(data)
    assert len(rows) == 4 and all(row.value > 0 for row in rows)


def test_the_api_benchmark_runs_against_a_real_server():
    rows = bench_api.measure(seconds=0.3, connections=2, rounds=1, warmup=0.1)

    assert [row.unit for row in rows] == ["req/s"] * 3
    assert all(row.value > 0 for row in rows)
