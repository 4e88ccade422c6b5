"""The evidence locker's hash chain on both backends (SQLite file, real PostgreSQL): appends link,
redeliveries are not recorded twice, purging keeps the chain verifiable, and tampering with rows
directly in the database is detected."""

from __future__ import annotations

import socket
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from abusewatch.evidence import NewRecord, open_store

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def dsn(request, tmp_path):
    """A fresh, empty locker: a SQLite file, or a throwaway schema in the `test` database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'evidence.sqlite3'}"
        return
    if not postgres_reachable():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    import psycopg

    schema = f"evidence_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True)
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def record(n: int, **extra) -> NewRecord:
    return NewRecord("post", f"2026-01-01T00:00:{n:02d}.000Z", {"n": n, "text": f"post {n} ✓", "score": 0.5 + n / 100}, (f"post:p{n}",), **extra)


def raw_sql(dsn: str, statement: str) -> None:
    """Tamper like an insider with database access would: straight SQL, bypassing the store."""
    store = open_store(dsn)
    store._execute(statement)  # noqa: SLF001 - the point is to bypass the store's API
    store.close()


@pytest.fixture
def store(dsn):
    opened = open_store(dsn, clock=Clock())
    yield opened
    opened.close()


def test_records_chain_and_verify(store):
    appended = store.append([record(n) for n in range(1, 6)], scored_posts_by_day={"2026-01-01": 7})
    assert [r.seq for r in appended] == [1, 2, 3, 4, 5]
    assert appended[1].prev_hash == appended[0].hash
    report = store.verify()
    assert report.ok, report.problems
    assert (report.records, report.head_seq, report.head_hash) == (5, 5, appended[-1].hash)
    assert [r.payload["n"] for r in store.by_key("post:p3")] == [3]
    assert store.scored_posts("2026-01-01", "2026-01-01") == {"2026-01-01": 7}


def test_redelivered_records_are_not_stored_twice(store):
    store.append([record(1, unique_key="once:post:p1"), record(1, unique_key="once:post:p1")])
    store.append([record(1, unique_key="once:post:p1")])
    assert [r.seq for r in store.iter_chain()] == [1]


@pytest.mark.parametrize(
    "tampering, problem",
    [
        ("UPDATE evidence_records SET payload = replace(payload, 'post 3', 'post 9') WHERE seq = 3", "seq 3: content does not match"),
        ("UPDATE evidence_records SET occurred_at = '2025-01-01T00:00:00.000Z' WHERE seq = 2", "seq 2: content does not match"),
        ("DELETE FROM evidence_records WHERE seq = 3", "seq 3..3: missing"),
        ("DELETE FROM evidence_records WHERE seq = 5", "head is seq 5 but the chain ends at seq 4"),
        ("DELETE FROM evidence_records WHERE seq <= 2", "seq 1..2: missing and no checkpoint"),
    ],
)
def test_tampering_in_the_database_is_detected(dsn, store, tampering, problem):
    store.append([record(n) for n in range(1, 6)])
    assert store.verify().ok
    raw_sql(dsn, tampering)
    report = store.verify()
    assert not report.ok
    assert any(problem in p for p in report.problems), report.problems


def test_a_rewritten_record_with_a_recomputed_hash_breaks_the_next_link(dsn, store):
    from abusewatch.evidence import canonical_json, record_hash

    store.append([record(n) for n in range(1, 4)])
    forged = next(r for r in store.iter_chain() if r.seq == 2)
    payload = {**forged.payload, "text": "forged"}
    new_hash = record_hash({**forged.envelope(), "payload": payload})
    raw_sql(dsn, f"UPDATE evidence_records SET payload = '{canonical_json(payload)}', hash = '{new_hash}' WHERE seq = 2")
    assert any("seq 3: prev_hash does not match" in p for p in store.verify().problems)


def test_purge_keeps_the_chain_verifiable_with_a_checkpoint(dsn):
    clock = Clock()
    store = open_store(dsn, clock=clock)
    store.append([record(n) for n in range(1, 4)])
    clock.now = T0 + timedelta(days=400)
    store.append([record(n) for n in range(4, 6)])
    assert store.purge(T0 + timedelta(days=365)) == 3
    chain = list(store.iter_chain())
    assert [(r.seq, r.kind) for r in chain] == [(4, "post"), (5, "post"), (6, "checkpoint")]
    assert chain[-1].payload["purged_through_seq"] == 3
    assert store.verify().ok, store.verify().problems
    assert store.purge(T0 + timedelta(days=365)) == 0  # nothing older left: no new checkpoint
    clock.now = T0 + timedelta(days=900)
    assert store.purge(T0 + timedelta(days=800)) == 3  # everything, the old checkpoint included
    assert [r.kind for r in store.iter_chain()] == ["checkpoint"]
    assert store.verify().ok, store.verify().problems
    store.close()


def test_concurrent_writers_never_fork_the_chain(dsn):
    # Two connections, as two service workers would have: the head row lock serializes appends.
    stores = [open_store(dsn), open_store(dsn)]

    def write(store, base):
        for n in range(20):
            store.append([record(base + n % 50)])

    threads = [threading.Thread(target=write, args=(s, i * 20)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = stores[0].verify()
    assert report.ok and report.records == 40, report.problems
    for store in stores:
        store.close()


def test_by_key_can_read_only_the_newest_records(store):
    store.append([NewRecord("post", f"2026-01-01T00:00:{n:02d}.000Z", {"n": n}, ("target:t",)) for n in range(1, 8)])
    assert [r.payload["n"] for r in store.by_key("target:t", newest=3)] == [5, 6, 7]  # still in chain order
    assert [r.payload["n"] for r in store.by_key("target:t")] == [1, 2, 3, 4, 5, 6, 7]
