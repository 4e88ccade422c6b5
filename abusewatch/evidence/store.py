"""The evidence store: one DB-API code path for SQLite and PostgreSQL.

The two databases differ here only in what `Dialect` names: the parameter marker, how a write
transaction starts, and how the chain head row is locked. Appends are serialized on that head row
(SQLite: BEGIN IMMEDIATE takes the write lock; PostgreSQL: SELECT ... FOR UPDATE), so several
workers can share one PostgreSQL locker without forking the chain.

The connection is opened on first use and reopened after it drops: a call that meets an unreachable
PostgreSQL raises `EvidenceUnavailable` (nothing of it committed, unless only the reply to COMMIT
was lost), and the next call connects again. Callers decide whether to wait and retry
(the actions service does, see abusewatch/evidence/retry.py).

Purging keeps the chain verifiable: the records older than the retention period are deleted as a
prefix of the chain and a `checkpoint` record is appended naming the last purged seq and hash, so
the first remaining record still links to something the chain itself vouches for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from abusewatch.ingest.contract import format_time, utcnow
from abusewatch.evidence.chain import ChainRecord, GENESIS_HASH, canonical_json, record_hash
from abusewatch.evidence.settings import EvidenceSigningSettings
from abusewatch.evidence.signing import SignatureReport, SignedCheckpoint, Signer, load_signer, verify_signed_records

log = logging.getLogger(__name__)

_PAGE = 1000  # rows fetched per query while walking the chain
_CHECKPOINT_COLUMNS = "seq, from_seq, prev_hash, head_hash, hashes, signed_at, key_id, signature"


@dataclasses.dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    marker: str  # DB-API parameter marker
    begin_write: str
    lock_suffix: str

    def sql(self, statement: str) -> str:
        """Statements are written with '?' markers; PostgreSQL (psycopg) wants '%s'."""
        return statement if self.marker == "?" else statement.replace("?", self.marker)

    @property
    def transient_errors(self) -> tuple[type[BaseException], ...]:
        """Driver errors that mean "the database is unreachable now", worth retrying. psycopg raises
        OperationalError for refused, dropped or timed-out connections (and server shutdowns) and
        InterfaceError for use of a closed one. A local SQLite file has no such outages."""
        if self.name != "postgresql":
            return ()
        import psycopg

        return (psycopg.OperationalError, psycopg.InterfaceError)


SQLITE = Dialect("sqlite", "?", "BEGIN IMMEDIATE", "")
POSTGRESQL = Dialect("postgresql", "%s", "BEGIN", " FOR UPDATE")

# Portable DDL: the same statements run on SQLite and PostgreSQL.
_DDL = (
    """CREATE TABLE IF NOT EXISTS evidence_records (
        seq BIGINT PRIMARY KEY,
        kind TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS evidence_records_kind_time ON evidence_records (kind, occurred_at)",
    # Lookup keys ("post:ID", "target:ID", "decision:ID", ...). Derived from payloads for queries;
    # not hashed, so tampering with them can hide a record from an export but never alter one.
    "CREATE TABLE IF NOT EXISTS evidence_keys (key TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (key, seq))",
    "CREATE INDEX IF NOT EXISTS evidence_keys_seq ON evidence_keys (seq)",
    "CREATE TABLE IF NOT EXISTS evidence_head (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)",
    f"INSERT INTO evidence_head (id, seq, hash) VALUES (1, 0, '{GENESIS_HASH}') ON CONFLICT (id) DO NOTHING",
    # Posts scored per UTC day, for the transparency report: counters, not evidence, not chained.
    "CREATE TABLE IF NOT EXISTS scored_posts_daily (day TEXT PRIMARY KEY, posts BIGINT NOT NULL)",
    # Signed checkpoints (signing.py): outside the chain rows, so rewriting those cannot touch them.
    """CREATE TABLE IF NOT EXISTS evidence_signed_checkpoints (
        seq BIGINT PRIMARY KEY,
        from_seq BIGINT NOT NULL,
        prev_hash TEXT NOT NULL,
        head_hash TEXT NOT NULL,
        hashes TEXT NOT NULL,
        signed_at TEXT NOT NULL,
        key_id TEXT NOT NULL,
        signature TEXT NOT NULL)""",
    # Policy cooldowns (abusewatch.policy.Cooldowns) in event-time epoch seconds, written with the
    # decisions that set them, so a restarted worker does not renew limits early. Not evidence.
    """CREATE TABLE IF NOT EXISTS policy_cooldowns (
        key TEXT PRIMARY KEY,
        acted_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL)""",
)


@dataclasses.dataclass(frozen=True, slots=True)
class NewRecord:
    """A record to append. `unique_key`, when set, makes the append a no-op if a record with that
    key already exists: redelivered Kafka messages (at-least-once) are not recorded twice."""

    kind: str
    occurred_at: str
    payload: dict[str, Any]
    keys: tuple[str, ...] = ()
    unique_key: str | None = None


class EvidenceUnavailable(RuntimeError):
    """The locker could not be reached (connection refused, dropped or timed out). Retrying later
    may succeed; the store reconnects on its next call."""


@dataclasses.dataclass(frozen=True, slots=True)
class ChainReport:
    records: int
    head_seq: int
    head_hash: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _dialect(dsn: str) -> Dialect:
    if dsn.startswith("sqlite:///"):
        return SQLITE
    if dsn.startswith(("postgresql://", "postgres://")):
        return POSTGRESQL
    raise ValueError(f"unsupported evidence DSN {dsn!r}: use sqlite:///PATH or postgresql://...")


def _connector(dsn: str, dialect: Dialect, timeout_s: float | None) -> Callable[[], Any]:
    """A function opening a new connection to `dsn`."""
    if dialect is SQLITE:
        path = dsn.removeprefix("sqlite:///")  # sqlite:////abs -> /abs, sqlite:///rel -> rel

        def connect_sqlite() -> sqlite3.Connection:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Autocommit (isolation_level=None): transactions are begun explicitly, as on PostgreSQL.
            return sqlite3.connect(path, isolation_level=None, check_same_thread=False)

        return connect_sqlite

    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    # Bound how long connecting, and sending into a silent network, can block the worker thread;
    # the same parameters given in the DSN win.
    given = conninfo_to_dict(dsn)
    timeouts = {} if timeout_s is None else {
        "connect_timeout": max(1, round(timeout_s)),
        "tcp_user_timeout": round(timeout_s * 1000),
    }
    extra = {name: value for name, value in timeouts.items() if name not in given}

    def connect_postgresql() -> Any:
        return psycopg.connect(dsn, autocommit=True, **extra)

    return connect_postgresql


def open_store(
    dsn: str,
    *,
    clock: Callable[[], datetime] = utcnow,
    timeout_s: float | None = None,
    lazy: bool = False,
) -> EvidenceStore:
    """A store for `dsn`. It connects now (raising EvidenceUnavailable if it cannot) unless `lazy`,
    then on first use. `timeout_s` bounds PostgreSQL connects and unacknowledged sends."""
    dialect = _dialect(dsn)
    store = EvidenceStore(_connector(dsn, dialect, timeout_s), dialect, clock=clock)
    if not lazy:
        store.ping()
    return store


class EvidenceStore:
    """Append-only, hash-chained evidence. Thread-safe: the actions service calls it from worker
    threads (asyncio.to_thread) so database latency never blocks the event loop."""

    # (signer, sign_every_records) once enable_signing was called; None: checkpoints are not signed.
    _signing: tuple[Signer, int] | None = None
    # The last seq this process signed and committed: its checkpoint vanishing from the table while
    # its record is still there means someone removed it.
    _signed_through = 0

    def __init__(
        self, connect: Callable[[], Any], dialect: Dialect, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._connect = connect
        self._connection: Any = None
        self.dialect = dialect
        self._clock = clock
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self) -> Iterator[None]:
        """Hold the store lock on a live connection (opening one, and the tables, if needed). A
        transient driver error closes the connection and surfaces as EvidenceUnavailable."""
        with self._lock:
            try:
                if self._connection is None or getattr(self._connection, "closed", False):
                    self._connection = None
                    self._connection = self._connect()
                    try:
                        for statement in _DDL:
                            self._execute(statement)
                    except BaseException:
                        self._connection.close()
                        self._connection = None
                        raise
                yield
            except self.dialect.transient_errors as exc:
                if self._connection is not None:
                    with contextlib.suppress(Exception):
                        self._connection.close()
                raise EvidenceUnavailable(f"evidence locker unreachable: {exc}") from exc

    def _execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        cursor = self._connection.cursor()
        cursor.execute(self.dialect.sql(statement), tuple(params))
        return cursor

    def _query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._execute(statement, params).fetchall())

    def _write(self, work: Callable[[], Any]) -> Any:
        """Run `work` in one write transaction holding the chain head lock."""
        with self._session():
            self._execute(self.dialect.begin_write)
            try:
                result = work()
            except BaseException:
                self._execute("ROLLBACK")
                raise
            self._execute("COMMIT")
            return result

    def _lock_head(self) -> tuple[int, str]:
        seq, head_hash = self._query("SELECT seq, hash FROM evidence_head WHERE id = 1" + self.dialect.lock_suffix)[0]
        return int(seq), head_hash

    def _append_locked(self, head: tuple[int, str], record: NewRecord) -> ChainRecord:
        seq, prev_hash = head[0] + 1, head[1]
        recorded_at = format_time(self._clock())
        # Store the payload as canonical JSON so that what is hashed is exactly what is kept.
        payload = json.loads(canonical_json(record.payload))
        envelope = {
            "seq": seq,
            "kind": record.kind,
            "occurred_at": record.occurred_at,
            "recorded_at": recorded_at,
            "payload": payload,
            "prev_hash": prev_hash,
        }
        stored = ChainRecord(**envelope, hash=record_hash(envelope))
        self._execute(
            "INSERT INTO evidence_records (seq, kind, occurred_at, recorded_at, payload, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, record.kind, record.occurred_at, recorded_at, canonical_json(payload), prev_hash, stored.hash),
        )
        keys = set(record.keys) | ({record.unique_key} if record.unique_key else set())
        for key in sorted(keys):
            self._execute("INSERT INTO evidence_keys (key, seq) VALUES (?, ?)", (key, seq))
        self._execute("UPDATE evidence_head SET seq = ?, hash = ? WHERE id = 1", (seq, stored.hash))
        return stored

    @staticmethod
    def _row(row: Sequence[Any]) -> ChainRecord:
        seq, kind, occurred_at, recorded_at, payload, prev_hash, row_hash = row
        return ChainRecord(int(seq), kind, occurred_at, recorded_at, json.loads(payload), prev_hash, row_hash)

    # -- writing ----------------------------------------------------------------------------

    def append(
        self,
        records: Iterable[NewRecord],
        *,
        scored_posts_by_day: Mapping[str, int] | None = None,
        cooldowns: Mapping[str, tuple[float, float]] | None = None,
    ) -> list[ChainRecord]:
        """Append records (skipping already-recorded unique keys), add to the per-day counters and
        keep cooldowns (key -> (acted_at, expires_at), the later one wins), all in one transaction.
        Returns the records actually appended."""
        records = list(records)
        checkpoints: list[SignedCheckpoint] = []

        def work() -> list[ChainRecord]:
            head = self._lock_head()
            appended: list[ChainRecord] = []
            for record in records:
                # The transaction sees its own inserts, so duplicates within one batch are caught too.
                if record.unique_key and self._query(
                    "SELECT 1 FROM evidence_keys WHERE key = ? LIMIT 1", (record.unique_key,)
                ):
                    continue
                stored = self._append_locked(head, record)
                head = (stored.seq, stored.hash)
                appended.append(stored)
            for day, posts in sorted((scored_posts_by_day or {}).items()):
                self._execute(
                    "INSERT INTO scored_posts_daily (day, posts) VALUES (?, ?)"
                    " ON CONFLICT (day) DO UPDATE SET posts = scored_posts_daily.posts + excluded.posts",
                    (day, posts),
                )
            for key, (acted_at, expires_at) in sorted((cooldowns or {}).items()):
                self._execute(
                    "INSERT INTO policy_cooldowns (key, acted_at, expires_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET acted_at = excluded.acted_at, expires_at = excluded.expires_at"
                    " WHERE excluded.acted_at > policy_cooldowns.acted_at",
                    (key, acted_at, expires_at),
                )
            if appended and self._signing is not None:
                checkpoints[:] = self._sign_if_due_locked(head)
            return appended

        appended = self._write(work)
        self._remember_signed(checkpoints)
        return appended

    def purge(self, older_than: datetime, cooldown_margin_s: float = 86_400.0) -> int:
        """Delete the prefix of the chain recorded before `older_than`; append a checkpoint so the
        rest still verifies. Returns how many records were deleted. Policy cooldowns that ended more
        than `cooldown_margin_s` (event time) before the newest decision go too."""
        cutoff = format_time(older_than)

        def work() -> int:
            head = self._lock_head()
            # Cooldowns are in event time: expired once the newest decision's event time is past
            # them, with a margin for workers behind the newest one (the wall clock would drop the
            # cooldowns of any backlog being caught up on).
            self._execute("DELETE FROM policy_cooldowns WHERE expires_at < (SELECT MAX(acted_at) FROM policy_cooldowns) - ?",
                          (cooldown_margin_s,))
            first_kept = self._query("SELECT MIN(seq) FROM evidence_records WHERE recorded_at >= ?", (cutoff,))[0][0]
            last_purged = head[0] if first_kept is None else int(first_kept) - 1
            count = int(self._query("SELECT COUNT(*) FROM evidence_records WHERE seq <= ?", (last_purged,))[0][0])
            if count == 0:
                return 0
            last_purged_hash = self._query("SELECT hash FROM evidence_records WHERE seq = ?", (last_purged,))[0][0]
            self._execute("DELETE FROM evidence_keys WHERE seq <= ?", (last_purged,))
            self._execute("DELETE FROM evidence_records WHERE seq <= ?", (last_purged,))
            self._execute("DELETE FROM evidence_signed_checkpoints WHERE seq <= ?", (last_purged,))
            checkpoint = {
                "purged_through_seq": last_purged,
                "last_purged_hash": last_purged_hash,
                "purged_records": count,
                "cutoff": cutoff,
            }
            self._append_locked(head, NewRecord("checkpoint", format_time(self._clock()), checkpoint, ("checkpoint",)))
            return count

        return self._write(work)

    # -- reading ----------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        with self._session():
            seq, head_hash = self._query("SELECT seq, hash FROM evidence_head WHERE id = 1")[0]
        return int(seq), head_hash

    def iter_chain(self) -> Iterator[ChainRecord]:
        """Every stored record in chain order, read a page at a time."""
        after = -1
        while True:
            with self._session():
                rows = self._query(
                    "SELECT seq, kind, occurred_at, recorded_at, payload, prev_hash, hash FROM evidence_records"
                    f" WHERE seq > ? ORDER BY seq LIMIT {_PAGE}",
                    (after,),
                )
            if not rows:
                return
            for row in rows:
                yield self._row(row)
            after = int(rows[-1][0])

    def get(self, seq: int) -> ChainRecord | None:
        with self._session():
            rows = self._query(
                "SELECT seq, kind, occurred_at, recorded_at, payload, prev_hash, hash FROM evidence_records"
                " WHERE seq = ?",
                (seq,),
            )
        return self._row(rows[0]) if rows else None

    def by_key(self, key: str, *, kinds: Iterable[str] | None = None, newest: int | None = None) -> list[ChainRecord]:
        """Records indexed under `key` (e.g. "target:u1"), in chain order; only the `newest` ones
        (before the kinds filter) when given, for keys that gather many records."""
        with self._session():
            rows = self._query(
                "SELECT r.seq, r.kind, r.occurred_at, r.recorded_at, r.payload, r.prev_hash, r.hash"
                " FROM evidence_records r JOIN evidence_keys k ON k.seq = r.seq WHERE k.key = ?"
                + (" ORDER BY r.seq DESC LIMIT ?" if newest is not None else " ORDER BY r.seq"),
                (key, newest) if newest is not None else (key,),
            )
        if newest is not None:
            rows = rows[::-1]
        wanted = set(kinds) if kinds is not None else None
        return [record for record in map(self._row, rows) if wanted is None or record.kind in wanted]

    def by_kind(
        self, kind: str, *, occurred_from: str | None = None, occurred_to: str | None = None
    ) -> list[ChainRecord]:
        """Records of `kind`, optionally only those with occurred_at in [occurred_from, occurred_to)
        (RFC 3339 text in the same Z format, so text order is time order)."""
        where, params = ["kind = ?"], [kind]
        if occurred_from is not None:
            where.append("occurred_at >= ?")
            params.append(occurred_from)
        if occurred_to is not None:
            where.append("occurred_at < ?")
            params.append(occurred_to)
        with self._session():
            rows = self._query(
                "SELECT seq, kind, occurred_at, recorded_at, payload, prev_hash, hash FROM evidence_records"
                f" WHERE {' AND '.join(where)} ORDER BY seq",
                params,
            )
        return [self._row(row) for row in rows]

    def cooldowns(self, limit: int) -> dict[str, float]:
        """The `limit` most recent cooldowns: key -> acted_at (event-time epoch seconds)."""
        with self._session():
            rows = self._query("SELECT key, acted_at FROM policy_cooldowns ORDER BY acted_at DESC LIMIT ?", (limit,))
        return {key: float(acted_at) for key, acted_at in rows}

    def scored_posts(self, first_day: str, last_day: str) -> dict[str, int]:
        """Posts scored per UTC day (YYYY-MM-DD), both ends inclusive."""
        with self._session():
            rows = self._query(
                "SELECT day, posts FROM scored_posts_daily WHERE day >= ? AND day <= ? ORDER BY day",
                (first_day, last_day),
            )
        return {day: int(posts) for day, posts in rows}

    def verify(self) -> ChainReport:
        """Walk the whole chain: every hash recomputes, every record links to the one before, no
        seq is missing, and the last record is the head. A purged prefix must be vouched for by a
        checkpoint record in the chain."""
        problems: list[str] = []
        checkpoints: dict[int, str] = {}
        previous: ChainRecord | None = None
        first: ChainRecord | None = None
        count = 0
        for record in self.iter_chain():
            count += 1
            first = first or record
            if not record.hash_is_valid():
                problems.append(f"seq {record.seq}: content does not match its hash (record altered)")
            if previous is not None:
                if record.seq != previous.seq + 1:
                    problems.append(f"seq {previous.seq + 1}..{record.seq - 1}: missing (records deleted)")
                elif record.prev_hash != previous.hash:
                    problems.append(f"seq {record.seq}: prev_hash does not match seq {previous.seq}'s hash")
            if record.kind == "checkpoint":
                checkpoints[int(record.payload["purged_through_seq"])] = record.payload["last_purged_hash"]
            previous = record
        if first is not None and first.seq != 1:
            if checkpoints.get(first.seq - 1) != first.prev_hash:
                problems.append(f"seq 1..{first.seq - 1}: missing and no checkpoint vouches for their removal")
        elif first is not None and first.prev_hash != GENESIS_HASH:
            problems.append("seq 1: prev_hash is not the genesis hash")
        head_seq, head_hash = self.head()
        last_seq, last_hash = (previous.seq, previous.hash) if previous else (0, GENESIS_HASH)
        if (last_seq, last_hash) != (head_seq, head_hash):
            problems.append(f"head is seq {head_seq} but the chain ends at seq {last_seq} (records removed or altered)")
        return ChainReport(count, head_seq, head_hash, tuple(problems))

    def ping(self) -> None:
        """Raise EvidenceUnavailable unless the locker answers (connecting if needed)."""
        with self._session():
            self._query("SELECT 1")

    # -- signed checkpoints (signing.py) ----------------------------------------------------

    def enable_signing(self, signer: Signer, every_records: int) -> None:
        """Sign a checkpoint inside the append that leaves `every_records` records unsigned (one
        signature per that many records on the hot path; `sign_pending` covers a quiet tail)."""
        if every_records < 1:
            raise ValueError(f"sign every {every_records} records: must be at least 1")
        self._signing = (signer, every_records)

    def sign_pending(self) -> list[SignedCheckpoint]:
        """Sign every record not yet covered by a checkpoint (the actions service's timer, export)."""
        if self._signing is None:
            return []

        def work() -> list[SignedCheckpoint]:
            self._lock_head()
            return self._sign_locked()

        signed = self._write(work)
        self._remember_signed(signed)
        return signed

    def _remember_signed(self, checkpoints: list[SignedCheckpoint]) -> None:
        """After the commit only: a checkpoint rolled back with its transaction was never signed."""
        if checkpoints:
            self._signed_through = max(self._signed_through, checkpoints[-1].seq)

    def _last_signed_locked(self) -> tuple[int, str] | None:
        rows = self._query("SELECT seq, head_hash FROM evidence_signed_checkpoints ORDER BY seq DESC LIMIT 1")
        return (int(rows[0][0]), rows[0][1]) if rows else None

    def _sign_if_due_locked(self, head: tuple[int, str]) -> list[SignedCheckpoint]:
        assert self._signing is not None
        last = self._last_signed_locked()
        return self._sign_locked() if head[0] - (last[0] if last else 0) >= self._signing[1] else []

    def _sign_locked(self) -> list[SignedCheckpoint]:
        """Sign the unsigned records in checkpoints of at most sign_every_records each. Only a
        chain that extends the last signed checkpoint is signed: if the records after it do not
        link to it (or to each other), someone rewrote the chain and signing it would launder that."""
        assert self._signing is not None
        signer, most = self._signing
        signed: list[SignedCheckpoint] = []
        last = self._last_signed_locked()
        remembered = self._signed_through
        if remembered and (last is None or last[0] < remembered):
            # A purge may drop checkpoints with their records; a record still there lost its checkpoint.
            if self._query("SELECT 1 FROM evidence_records WHERE seq = ?", (remembered,)):
                log.error(
                    "NOT signing evidence: the checkpoint this process signed through seq %d is gone from"
                    " evidence_signed_checkpoints; run `abusewatch evidence verify --db --public-key ...`",
                    remembered,
                )
                return signed
        while True:
            rows = self._query(
                f"SELECT seq, prev_hash, hash FROM evidence_records WHERE seq > ? ORDER BY seq LIMIT {most}",
                (last[0] if last else 0,),
            )
            if not rows:
                return signed
            seqs = [int(row[0]) for row in rows]
            links = [rows[0][1] == last[1]] if last and seqs[0] == last[0] + 1 else []
            links += [rows[i][1] == rows[i - 1][2] and seqs[i] == seqs[i - 1] + 1 for i in range(1, len(rows))]
            if not all(links):
                log.error(
                    "NOT signing evidence seq %d..%d: the chain does not extend the last signed checkpoint"
                    " (seq %s); run `abusewatch evidence verify --db --public-key ...`",
                    seqs[0], seqs[-1], last[0] if last else None,
                )
                return signed
            checkpoint = signer.sign(seqs[0], rows[0][1], [row[2] for row in rows], format_time(self._clock()))
            self._execute(
                f"INSERT INTO evidence_signed_checkpoints ({_CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    checkpoint.seq, checkpoint.from_seq, checkpoint.prev_hash, checkpoint.head_hash,
                    canonical_json(list(checkpoint.hashes)), checkpoint.signed_at, checkpoint.key_id,
                    checkpoint.signature,
                ),
            )
            signed.append(checkpoint)
            last = (checkpoint.seq, checkpoint.head_hash)

    @staticmethod
    def _checkpoint(row: Sequence[Any]) -> SignedCheckpoint:
        seq, from_seq, prev_hash, head_hash, hashes, signed_at, key, signature = row
        return SignedCheckpoint(
            int(from_seq), int(seq), prev_hash, head_hash, tuple(json.loads(hashes)), signed_at, key, signature
        )

    def signed_checkpoints(self, *, covering: Iterable[int] | None = None) -> list[SignedCheckpoint]:
        """Signed checkpoints in seq order: all of them, or those covering any of the given seqs
        (one query per checkpoint found, not per record)."""
        if covering is None:
            return list(self._iter_checkpoints())
        found: list[SignedCheckpoint] = []
        for seq in sorted(set(covering)):
            if found and found[-1].covers(seq):
                continue
            with self._session():
                rows = self._query(
                    f"SELECT {_CHECKPOINT_COLUMNS} FROM evidence_signed_checkpoints WHERE seq >= ? ORDER BY seq LIMIT 1",
                    (seq,),
                )
            if rows and self._checkpoint(rows[0]).covers(seq):
                found.append(self._checkpoint(rows[0]))
        return found

    def _iter_checkpoints(self) -> Iterator[SignedCheckpoint]:
        after = -1
        while True:
            with self._session():
                rows = self._query(
                    f"SELECT {_CHECKPOINT_COLUMNS} FROM evidence_signed_checkpoints WHERE seq > ? ORDER BY seq LIMIT 100",
                    (after,),
                )
            if not rows:
                return
            yield from map(self._checkpoint, rows)
            after = int(rows[-1][0])

    def verify_signatures(self, public_keys: Mapping[str, Any]) -> SignatureReport:
        """Every stored record against the signed checkpoints: a record rewritten after it was signed,
        a checkpoint that does not verify, or records no checkpoint covers before the last one. The
        tail after the last checkpoint is counted, not reported: it is not signed yet."""
        return verify_signed_records(
            ((r.seq, r.hash) for r in self.iter_chain()),
            self._iter_checkpoints(),
            public_keys,
            allow_unsigned_tail=True,
        )

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def configure_signing(store: EvidenceStore, settings: EvidenceSigningSettings) -> Signer | None:
    """Make `store` sign checkpoints as it appends, when a key is configured."""
    signer = load_signer(settings)
    if signer is not None:
        store.enable_signing(signer, settings.sign_every_records)
    return signer
