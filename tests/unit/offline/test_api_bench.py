"""The API benchmark's pure parts: the closed-loop load generator and the variant names."""

from __future__ import annotations

import asyncio

import pytest

from abusewatch.offline.bench.api import UNBOUNDED, variant_env
from abusewatch.offline.bench.loadgen import measure_closed_loop


def test_closed_loop_keeps_every_client_busy_until_the_deadline_and_measures_outcomes_apart() -> None:
    concurrent = 0
    most_concurrent = 0

    async def call(index: int) -> tuple[str, float]:
        nonlocal concurrent, most_concurrent
        concurrent += 1
        most_concurrent = max(most_concurrent, concurrent)
        accepted = index % 3 == 0
        await asyncio.sleep(0.02 if accepted else 0.0)
        concurrent -= 1
        # Every third request is "accepted" and slow; the others are shed and ask for a pause.
        return ("200", 0.0) if accepted else ("429", 0.01)

    result = asyncio.run(measure_closed_loop(call, clients=5, duration_s=0.3))
    assert most_concurrent == 5  # all clients at once, each one request at a time
    assert 0.3 <= result.elapsed_s
    counts = {outcome: stats.count for outcome, stats in result.outcomes.items()}
    assert set(counts) == {"200", "429"} and sum(counts.values()) == result.requests
    assert result.share("429") == pytest.approx(counts["429"] / result.requests)
    assert result.share("503") == 0
    assert result.outcomes["200"].p50_ms >= 15  # the slow ones, measured apart from the fast ones
    assert result.outcomes["429"].p99_ms < result.outcomes["200"].p50_ms


def test_variant_names() -> None:
    assert variant_env("unbounded") == UNBOUNDED
    assert variant_env("defaults") == {}
    assert variant_env("in_flight=16") == {"ABUSEWATCH_API_MAX_IN_FLIGHT": "16"}
    assert variant_env("in_flight=8+retry_after=5") == {
        "ABUSEWATCH_API_MAX_IN_FLIGHT": "8",
        "ABUSEWATCH_API_RETRY_AFTER_S": "5",
    }
    for bad in ("in_flight=0", "in_flight=x", "fastest", "in_flight=8+timeout=1"):
        with pytest.raises(ValueError, match="unknown variant"):
            variant_env(bad)
