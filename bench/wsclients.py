"""Websocket clients for bench/bench_ws.py, in a process of their own.

The benchmark's process records fills with synchronous database calls; clients on its event
loop would stamp arrivals late whenever a fill blocks it. Here an asyncio loop does nothing but
hold the connections and stamp each message with ``time.time_ns()`` (the producer's clock: same
machine) as it is read, before any parsing.

Protocol: one JSON line on stdin, ``{"url", "origin", "cookies": [header value per client]}``;
this prints ``ready <n>`` once every connection is open, then on the line ``stop`` prints one
JSON line, ``{"fills": [[client index, arrival ns, order id, position], ...],
"other_messages": n}``: each fill message received, and how many of other kinds, and exits.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp

CONNECT_CONCURRENCY = 50  # connections opened at once: the server authenticates each


async def _client(
    session: aiohttp.ClientSession,
    index: int,
    config: dict[str, Any],
    opened: asyncio.Semaphore,
    ready: asyncio.Event,
    arrivals: list[tuple[int, int, str]],
    connected: list[int],
) -> None:
    headers = {"Origin": config["origin"], "Cookie": config["cookies"][index]}
    async with opened:
        ws = await session.ws_connect(config["url"], headers=headers, heartbeat=None)
    connected.append(index)
    if len(connected) == len(config["cookies"]):
        ready.set()
    async with ws:
        async for message in ws:
            # Stamp first: the parsing waits until the run is over.
            arrivals.append((index, time.time_ns(), message.data))


async def _main() -> None:
    config = json.loads(sys.stdin.readline())
    arrivals: list[tuple[int, int, str]] = []
    connected: list[int] = []
    ready = asyncio.Event()
    opened = asyncio.Semaphore(CONNECT_CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=0)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        tasks = [
            asyncio.create_task(_client(session, i, config, opened, ready, arrivals, connected))
            for i in range(len(config["cookies"]))
        ]
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise RuntimeError(f"a websocket client failed: {failed[0].exception()!r}")
        print(f"ready {len(connected)}", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # "stop"
        for task in tasks:
            task.cancel()
    fills = []
    others = 0
    for index, arrived, data in arrivals:
        message = json.loads(data)
        if message["kind"] != "fill":
            others += 1
            continue
        payload = message["payload"]
        fills.append([index, arrived, payload["order_id"], payload["position"]])
    print(json.dumps({"fills": fills, "other_messages": others}), flush=True)


if __name__ == "__main__":
    asyncio.run(_main())
