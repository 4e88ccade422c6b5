"""Offered-load measurement shared by `abusewatch bench`, the pipeline and the API benchmarks.

`measure_open_loop` sends single posts at Poisson arrival times to any `score(texts)` coroutine and
measures each post's latency from its scheduled arrival, so a server that falls behind shows it as
latency (an open loop does not slow down when the server does, unlike a closed loop).

`measure_closed_loop` is the other shape: a fixed number of concurrent clients, each sending its
next request when the last is answered (after the pause the answer asked for, e.g. Retry-After),
for a fixed time, as N users of an HTTP API do. It reports latency per outcome (e.g. HTTP status), so accepted and
shed requests are measured apart.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from abusewatch.common.stats import percentile

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
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        posts=count,
    )


# One request of a closed loop: a running request number in, (outcome label, seconds the client
# pauses before its next request) out.
CallFn = Callable[[int], Awaitable[tuple[str, float]]]


@dataclass(frozen=True)
class OutcomeStats:
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class ClosedLoopResult:
    clients: int
    requests: int
    elapsed_s: float
    outcomes: dict[str, OutcomeStats]

    def share(self, outcome: str) -> float:
        found = self.outcomes.get(outcome)
        return found.count / self.requests if found is not None and self.requests else 0.0

    def rate(self, outcome: str) -> float:
        """Requests per second with this outcome, over the whole run."""
        found = self.outcomes.get(outcome)
        return found.count / self.elapsed_s if found is not None else 0.0


async def measure_closed_loop(call: CallFn, clients: int, duration_s: float) -> ClosedLoopResult:
    """`clients` concurrent clients, all starting at once, each making calls one after another
    until `duration_s` has passed (a call started before then is waited for). Latency is per call;
    a client's pauses between calls are not counted."""
    loop = asyncio.get_running_loop()
    latencies: dict[str, list[float]] = defaultdict(list)
    start = loop.time()
    deadline = start + duration_s
    issued = 0

    async def client() -> None:
        nonlocal issued
        while loop.time() < deadline:
            started = loop.time()
            outcome, pause_s = await call(issued)
            issued += 1
            latencies[outcome].append(loop.time() - started)
            if pause_s > 0:
                await asyncio.sleep(min(pause_s, max(0.0, deadline - loop.time())))

    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = loop.time() - start
    outcomes = {
        outcome: OutcomeStats(
            count=len(values),
            p50_ms=percentile(values, 50) * 1000,
            p99_ms=percentile(values, 99) * 1000,
            max_ms=float(max(values) * 1000),
        )
        for outcome, values in sorted(latencies.items())
    }
    requests = sum(len(values) for values in latencies.values())
    return ClosedLoopResult(clients=clients, requests=requests, elapsed_s=elapsed, outcomes=outcomes)
