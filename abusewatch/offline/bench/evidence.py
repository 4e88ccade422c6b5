"""What signed checkpoints cost (docs/benchmarks.md, "Evidence checkpoint signing").

  python -m abusewatch.offline.bench.evidence [--segment 1000] [--repeat 2000] [--records 20000] [--runs 3]

Times one Ed25519 checkpoint signature and its verification over 1 and over `--segment` record
hashes, one whole checkpoint in the store (`sign_pending` over `--segment` unsigned records), then
appends `--records` records in batches of 100 to fresh temporary SQLite lockers with
and without signing (every `--segment` records), `--runs` times each, round-robin, and reports the
median rates and the per-record overhead.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from abusewatch.evidence.signing import Signer, checkpoint_problem, public_keys_by_id
from abusewatch.evidence.store import NewRecord, open_store

_BATCH = 100


def _median_us(work, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


def _batch() -> list[NewRecord]:
    return [
        NewRecord("post", "2026-01-01T00:00:00.000Z", {"n": n, "text": "x" * 400}, (f"post:p{n}", "target:t"))
        for n in range(_BATCH)
    ]


def _sign_pending_ms(dsn: str, signer: Signer, segment: int) -> tuple[float, float]:
    """One whole checkpoint in the store (read the segment's hashes, check links, sign, insert):
    (inside the transaction, the part an append that signs pays on top of its own commit; and
    sign_pending as the timer runs it, with its own transaction and commit)."""
    store = open_store(dsn)
    for _ in range(max(1, segment // _BATCH)):
        store.append(_batch())
    store.enable_signing(signer, segment)
    inside: list[float] = []

    def work() -> None:
        store._lock_head()  # noqa: SLF001 - timing the step append runs under the head lock
        started = time.perf_counter()
        store._sign_locked()  # noqa: SLF001
        inside.append(time.perf_counter() - started)
        raise _Rollback

    try:
        store._write(work)  # noqa: SLF001
    except _Rollback:
        pass
    started = time.perf_counter()
    store.sign_pending()
    elapsed = time.perf_counter() - started
    store.close()
    return inside[0] * 1e3, elapsed * 1e3


class _Rollback(Exception):
    """Undo the timed in-transaction signing so sign_pending signs the same segment again."""


def _append_seconds(dsn: str, records: int, signer: Signer | None, every: int) -> float:
    store = open_store(dsn)
    if signer is not None:
        store.enable_signing(signer, every)
    batch = _batch()
    started = time.perf_counter()
    for _ in range(records // _BATCH):
        store.append(batch)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segment", type=int, default=1000, help="hashes per checkpoint")
    parser.add_argument("--repeat", type=int, default=2000, help="signatures timed")
    parser.add_argument("--records", type=int, default=20000, help="records appended per run")
    parser.add_argument("--runs", type=int, default=3, help="append runs per variant, taken round-robin")
    args = parser.parse_args(argv)
    signer = Signer(Ed25519PrivateKey.generate())
    keys = public_keys_by_id([signer.public_key])
    for size in sorted({1, args.segment}):
        hashes = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(size)]
        checkpoint = signer.sign(1, "0" * 64, hashes, "2026-01-01T00:00:00.000Z")
        sign_us = _median_us(lambda: signer.sign(1, "0" * 64, hashes, "2026-01-01T00:00:00.000Z"), args.repeat)
        verify_us = _median_us(lambda: checkpoint_problem(checkpoint, keys), args.repeat)
        print(f"checkpoint over {size} hash(es): sign {sign_us:.0f} us, verify {verify_us:.0f} us"
              f" (median of {args.repeat})")
    rates: dict[str, list[float]] = {"unsigned": [], "signed": []}
    with tempfile.TemporaryDirectory() as tmp:
        timings = [
            _sign_pending_ms(f"sqlite:///{Path(tmp) / f'pending-{n}.sqlite3'}", signer, args.segment)
            for n in range(args.runs * 3)
        ]
        inside, pending = (statistics.median(t[i] for t in timings) for i in (0, 1))
        print(
            f"one checkpoint over {args.segment} records in the store (SQLite, median of {len(timings)}):"
            f" {inside:.1f} ms inside an append's transaction ({inside * 1e3 / args.segment:.1f} us per record),"
            f" {pending:.1f} ms as sign_pending with its own commit"
        )
        for run in range(args.runs):
            for variant, run_signer in (("unsigned", None), ("signed", signer)):
                dsn = f"sqlite:///{Path(tmp) / f'{variant}-{run}.sqlite3'}"
                rates[variant].append(args.records / _append_seconds(dsn, args.records, run_signer, args.segment))
    plain, signed = statistics.median(rates["unsigned"]), statistics.median(rates["signed"])
    print(
        f"append {args.records} records in batches of {_BATCH} (SQLite, median of {args.runs}):"
        f" {plain:.0f} records/s unsigned {[round(r) for r in rates['unsigned']]},"
        f" {signed:.0f} records/s signing every {args.segment} {[round(r) for r in rates['signed']]}"
        f" ({(1 / signed - 1 / plain) * 1e6:+.1f} us per record)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
