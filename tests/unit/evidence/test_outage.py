"""An unreachable evidence locker: the store (real PostgreSQL behind a TCP proxy the test cuts)
fails with EvidenceUnavailable and reconnects by itself once the database is back; the guard
retries with capped exponential backoff, tracks the outage in its metrics, and can be cancelled
mid-outage (SIGTERM must still stop the service)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from prometheus_client import CollectorRegistry

from abusewatch.evidence import NewRecord, open_store
from abusewatch.common.backoff import Backoff
from abusewatch.evidence.retry import LockerGuard, LockerMetrics
from abusewatch.evidence.store import EvidenceUnavailable
from tests.integration.tcp_proxy import TcpProxy

from tests.unit.evidence.test_chain import postgres_reachable


def record(n: int) -> NewRecord:
    return NewRecord("post", f"2026-01-01T00:00:{n:02d}.000Z", {"n": n}, (f"post:p{n}",), unique_key=f"once:p{n}")


@pytest.fixture
def proxied_dsn():
    """A throwaway schema in the `test` database, reached through a proxy the test controls."""
    if not postgres_reachable():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    import psycopg

    schema = f"outage_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True)
    admin.execute(f"CREATE SCHEMA {schema}")
    proxy = TcpProxy(5432).start()
    try:
        yield proxy, f"postgresql://postgres@{proxy.address}/test?options=-csearch_path%3D{schema}"
    finally:
        proxy.stop()
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def test_store_fails_clearly_while_cut_and_reconnects_when_back(proxied_dsn):
    proxy, dsn = proxied_dsn
    store = open_store(dsn, timeout_s=2)
    store.append([record(1)])

    proxy.cut()
    with pytest.raises(EvidenceUnavailable):
        store.append([record(2)])  # the open connection was dropped
    with pytest.raises(EvidenceUnavailable):
        store.append([record(2)])  # a new one is turned away
    with pytest.raises(EvidenceUnavailable):
        store.ping()

    proxy.restore()
    store.append([record(2), record(3)])
    store.append([record(3)])  # a retried batch: recorded once
    assert [r.payload["n"] for r in store.iter_chain()] == [1, 2, 3]
    assert store.verify().ok
    store.close()


def test_lazy_store_opens_when_the_database_first_answers(proxied_dsn):
    proxy, dsn = proxied_dsn
    proxy.cut()
    with pytest.raises(EvidenceUnavailable):
        open_store(dsn, timeout_s=2)
    store = open_store(dsn, timeout_s=2, lazy=True)  # a service starting during an outage
    with pytest.raises(EvidenceUnavailable):
        store.ping()
    proxy.restore()
    store.append([record(1)])
    assert store.head()[0] == 1
    store.close()


def test_backoff_is_exponential_and_capped():
    backoff = Backoff(initial_s=0.5, max_s=10.0)
    assert [backoff.delay(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.delay(10_000) == 10.0


def metric(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(name) or 0.0


def test_guard_retries_until_recorded_and_shows_the_outage():
    registry = CollectorRegistry()
    slept: list[float] = []
    seen: list[tuple[bool, float]] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)
        seen.append((guard.reachable, metric(registry, "abusewatch_evidence_unavailable")))

    guard = LockerGuard(Backoff(0.5, 2.0), LockerMetrics.create(registry), sleep=sleep)
    failures = iter(range(4))

    def call() -> str:
        if next(failures, None) is not None:
            raise EvidenceUnavailable("connection refused")
        return "recorded"

    assert asyncio.run(guard.run(call)) == "recorded"
    assert slept == [0.5, 1.0, 2.0, 2.0]
    assert seen == [(False, 1.0)] * 4  # not ready, outage shown, while retrying
    assert guard.reachable
    assert metric(registry, "abusewatch_evidence_errors_total") == 4
    assert metric(registry, "abusewatch_evidence_unavailable") == 0
    assert metric(registry, "abusewatch_evidence_outage_started_seconds") == 0


def test_guard_passes_other_errors_through_and_probe_tracks_reachability():
    guard = LockerGuard(Backoff(0.01, 0.01))

    def broken() -> None:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        asyncio.run(guard.run(broken))

    def down() -> None:
        raise EvidenceUnavailable("refused")

    assert asyncio.run(guard.probe(down)) is False
    assert not guard.reachable and guard.outage_since is not None
    assert asyncio.run(guard.probe(lambda: None)) is True
    assert guard.reachable


def test_guard_retry_loop_is_cancellable_mid_outage():
    guard = LockerGuard(Backoff(5.0, 5.0))

    def down() -> None:
        raise EvidenceUnavailable("refused")

    async def main() -> float:
        task = asyncio.create_task(guard.run(down))
        await asyncio.sleep(0.2)  # now sleeping between retries
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(main()) < 2.0  # the 5 s backoff was interrupted, not waited out
