"""Waiting out an unreachable evidence locker without losing or skipping anything.

`LockerGuard.run(call)` runs a store call in a worker thread and, while it raises
EvidenceUnavailable, sleeps with capped exponential backoff and tries again. An agent that awaits
it takes no more input meanwhile, so Kafka holds the rest (backpressure) and nothing is sent to
the platform before its evidence is recorded. The guard also knows whether the locker is reachable
now (readiness) and keeps the outage visible in metrics. Both the sleep and the wait for the
thread are cancellable, so a SIGTERM during an outage stops the worker promptly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge

from abusewatch.common.backoff import Backoff
from abusewatch.evidence.store import EvidenceUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class LockerMetrics:
    errors: Counter  # calls that found the locker unreachable
    unavailable: Gauge  # 1 during an outage
    outage_started: Gauge  # unix time the current outage began, 0 when none

    @classmethod
    def create(cls, registry: CollectorRegistry) -> LockerMetrics:
        return cls(
            errors=Counter(
                "abusewatch_evidence_errors",
                "Evidence locker calls that failed because it was unreachable (each is retried)",
                registry=registry,
            ),
            unavailable=Gauge(
                "abusewatch_evidence_unavailable",
                "1 while the evidence locker is unreachable (input is held back until it returns)",
                registry=registry,
            ),
            outage_started=Gauge(
                "abusewatch_evidence_outage_started_seconds",
                "Unix time the current evidence locker outage began; 0 when the locker is reachable",
                registry=registry,
            ),
        )


class LockerGuard:
    """Retries locker calls through outages and tracks whether the locker is reachable."""

    def __init__(
        self,
        backoff: Backoff,
        metrics: LockerMetrics | None = None,
        *,
        sleep: Callable[[float], object] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backoff = backoff
        self.metrics = metrics
        self._sleep = sleep
        self._clock = clock
        self.outage_since: float | None = None  # unix time, while unreachable

    @property
    def reachable(self) -> bool:
        return self.outage_since is None

    async def run(self, call: Callable[[], T], what: str = "evidence locker call") -> T:
        """`call()` in a worker thread, retried until it does not raise EvidenceUnavailable. Any
        other exception propagates at once."""
        attempt = 0
        while True:
            try:
                result = await asyncio.to_thread(call)
            except EvidenceUnavailable as exc:
                delay = self.backoff.delay(attempt)
                self._failed(exc, f"{what} failed; retrying in {delay:.1f} s")
                attempt += 1
                await self._sleep(delay)
                continue
            self._succeeded()
            return result

    async def probe(self, call: Callable[[], object]) -> bool:
        """One attempt of `call()` (a cheap query), to notice an outage or its end while idle."""
        try:
            await asyncio.to_thread(call)
        except EvidenceUnavailable as exc:
            self._failed(exc, "evidence locker probe failed")
            return False
        self._succeeded()
        return True

    def _failed(self, exc: EvidenceUnavailable, message: str) -> None:
        if self.outage_since is None:
            self.outage_since = self._clock()
            if self.metrics:
                self.metrics.unavailable.set(1)
                self.metrics.outage_started.set(self.outage_since)
        if self.metrics:
            self.metrics.errors.inc()
        log.warning("%s (unreachable for %.1f s): %s", message, self._clock() - self.outage_since, exc)

    def _succeeded(self) -> None:
        if self.outage_since is None:
            return
        log.warning("evidence locker reachable again after %.1f s", self._clock() - self.outage_since)
        self.outage_since = None
        if self.metrics:
            self.metrics.unavailable.set(0)
            self.metrics.outage_started.set(0)
