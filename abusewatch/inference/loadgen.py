"""Offered-load measurement shared by `abusewatch bench` and the pipeline benchmark.

`measure_open_loop` sends single posts at Poisson arrival times to any `score(texts)` coroutine and
measures each post's latency from its scheduled arrival, so a server that falls behind shows it as
latency (an open loop does not slow down when the server does, unlike a closed loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

ScoreFn = Callable[[Sequence[str]], Awaitable[object]]


@dataclass(frozen=True)
class LatencyResult:
    offered_rate: float  # posts/s asked for
    achieved_rate: float  # posts/s answered, first arrival to last answer
    p50_ms: float
    p99_ms: float
    posts: int


async def measure_open_loop(score: ScoreFn, texts: Sequence[str], rate: float, duration_s: float, seed: int = 0) -> LatencyResult:
    """Poisson arrivals at `rate` posts/s for `duration_s`, one post per call, cycling over `texts`."""
    rng = np.random.default_rng(seed)
    count = max(1, int(rate * duration_s))
    arrivals = np.cumsum(rng.exponential(1.0 / rate, count))
    loop = asyncio.get_running_loop()
    start = loop.time()
    latencies = np.zeros(count)

    async def one(index: int) -> None:
        await score([texts[index % len(texts)]])
        latencies[index] = loop.time() - (start + arrivals[index])

    tasks = []
    for index, arrival in enumerate(arrivals):
        delay = start + arrival - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    return LatencyResult(
        offered_rate=rate,
        achieved_rate=count / elapsed,
        p50_ms=float(np.percentile(latencies, 50) * 1000),
        p99_ms=float(np.percentile(latencies, 99) * 1000),
        posts=count,
    )
