"""The event-time merge benchmark (abusewatch.offline.bench.merge) runs and measures something."""

import math

from abusewatch.offline.bench.merge import release_us, steady_ns_per_post


def test_merge_bench_measures_release_and_steady_cost():
    assert 0 < release_us(held=1000, takes=5) < math.inf
    assert 0 < steady_ns_per_post(posts=5000) < math.inf
