"""What the rekeyer's event-time merge costs while a backlog piles up behind a slow partition
(docs/benchmarks.md, "The event-time merge while a backlog waits").

  python -m abusewatch.offline.bench.merge [--held 1000,10000,100000] [--takes 200] [--runs 3]

Partition 0 is read an hour of event time ahead and holds `--held` posts back, waiting for
partition 1, which delivers 500 posts a take; each take calls `release`. Reports the median
`release` time per held count (it should not grow with the posts held), then the cost per post of
`add` and `release` when nothing waits long.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from abusewatch.detection.watermark import EventTimeMerge

_PER_TAKE = 500


def release_us(held: int, takes: int) -> float:
    merge: EventTimeMerge[int] = EventTimeMerge(idle_s=1e9)
    merge.clock.track([0, 1], now=0)
    merge.add(0, [(3600.0 + i * 0.001, i) for i in range(held)], now=0)
    slow_ts, samples = 0.0, []
    for _ in range(takes):
        merge.add(1, [(slow_ts + j * 0.01, j) for j in range(_PER_TAKE)], now=0)
        slow_ts += _PER_TAKE * 0.01
        started = time.perf_counter()
        merge.release(now=0)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def steady_ns_per_post(posts: int = 200_000) -> float:
    merge: EventTimeMerge[int] = EventTimeMerge(idle_s=1e9)
    merge.clock.track([0, 1], now=0)
    rng = random.Random(1)
    started = time.perf_counter()
    for take in range(posts // (2 * 250)):
        for partition in (0, 1):
            merge.add(partition, [(take + rng.random(), j) for j in range(250)], now=0)
        merge.release(now=0)
    return (time.perf_counter() - started) / posts * 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", default="1000,10000,100000")
    parser.add_argument("--takes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for held in (int(value) for value in args.held.split(",")):
        runs = [release_us(held, args.takes) for _ in range(args.runs)]
        print(f"{held:>8} posts held: release median {statistics.median(runs):,.0f} us")
    runs = [steady_ns_per_post() for _ in range(args.runs)]
    print(f"add and release, nothing held long: {statistics.median(runs):,.0f} ns per post")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
