"""A small HTTP load generator: N keep-alive connections, each sending its next request as
soon as the previous answer is read (a closed loop), for a fixed time.

Every answer that is not 2xx, and every request that fails outright (status 0), counts as an
error; ``LoadResult.check`` raises if errors pass a small fraction, so a benchmark measuring
failures fails loudly instead.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import aiohttp

from bench.common import percentile

Body = Callable[[int], bytes]  # the body of the n-th request


@dataclass
class LoadResult:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, of 2xx answers only
    statuses: Counter[int] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return (self.requests - self.errors) / self.seconds

    def latency_ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    def merge(self, other: LoadResult) -> LoadResult:
        return LoadResult(
            seconds=self.seconds + other.seconds,
            latencies=self.latencies + other.latencies,
            statuses=self.statuses + other.statuses,
            error_samples=(self.error_samples + other.error_samples)[:5],
        )

    def check(self, what: str, max_error_fraction: float) -> None:
        if not self.requests:
            raise RuntimeError(f"{what}: no request was answered")
        if self.errors > max_error_fraction * self.requests:
            raise RuntimeError(
                f"{what}: {self.errors} of {self.requests} requests failed "
                f"(statuses {dict(self.statuses)}); for example: {self.error_samples[:3]}"
            )


async def _load(
    url: str,
    *,
    method: str,
    headers: Mapping[str, str],
    body: Body | None,
    connections: int,
    seconds: float,
) -> LoadResult:
    result = LoadResult()
    numbers = itertools.count()
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client(deadline: float) -> None:
            while time.perf_counter() < deadline:
                data = None if body is None else body(next(numbers))
                started = time.perf_counter()
                try:
                    async with session.request(method, url, data=data, headers=headers) as answer:
                        text = await answer.read()
                        status = answer.status
                except (aiohttp.ClientError, TimeoutError) as error:
                    status, text = 0, repr(error).encode()
                elapsed = time.perf_counter() - started
                result.statuses[status] += 1
                if 200 <= status < 300:
                    result.latencies.append(elapsed)
                elif len(result.error_samples) < 5:
                    result.error_samples.append(f"{status}: {text[:300]!r}")

        started = time.perf_counter()
        await asyncio.gather(*(client(started + seconds) for _ in range(connections)))
        result.seconds = time.perf_counter() - started
    return result


def load(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: Body | None = None,
    connections: int = 16,
    seconds: float = 5.0,
) -> LoadResult:
    """Send requests to ``url`` over ``connections`` connections for ``seconds``."""
    return asyncio.run(
        _load(
            url,
            method=method,
            headers=headers or {},
            body=body,
            connections=connections,
            seconds=seconds,
        )
    )
