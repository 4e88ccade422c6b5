"""The API benchmark's pure parts: the closed-loop load generator and the variant names."""

from __future__ import annotations

import asyncio

import pytest

from abusewatch.api.bench import UNBOUNDED, variant_env
from abusewatch.inference.loadgen import measure_closed_loop


def test_closed_loop_runs_every_client_to_the_end_and_measures_outcomes_apart() -> None:
    calls: list[int] = []
    concurrent = 0
    most_concurrent = 0

    async def call(index: int) -> tuple[str, float]:
        nonlocal concurrent, most_concurrent
        calls.append(index)
        concurrent += 1
        most_concurrent = max(most_concurrent, concurrent)
        await asyncio.sleep(0.02 if index % 3 == 0 else 0.0)
        concurrent -= 1
        # Every third request is "accepted" and slow; the others are shed and ask for a pause.
        return ("200", 0.0) if index % 3 == 0 else ("429", 0.01)

    result = asyncio.run(measure_closed_loop(call, clients=5, requests_per_client=4))
    assert sorted(calls) == list(range(20))
    assert most_concurrent == 5  # all clients at once, each one request at a time
    assert result.requests == 20
    assert {outcome: stats.count for outcome, stats in result.outcomes.items()} == {"200": 7, "429": 13}
    assert result.share("429") == pytest.approx(13 / 20)
    assert result.share("503") == 0
    assert result.outcomes["200"].p50_ms >= 15  # the slow ones, measured apart from the fast ones
    assert result.outcomes["429"].p99_ms < result.outcomes["200"].p50_ms


def test_variant_names() -> None:
    assert variant_env("unbounded") == UNBOUNDED
    assert variant_env("defaults") == {}
    assert variant_env("in_flight=16") == {"ABUSEWATCH_API_MAX_IN_FLIGHT": "16"}
    for bad in ("in_flight=0", "in_flight=x", "fastest"):
        with pytest.raises(ValueError, match="unknown variant"):
            variant_env(bad)
