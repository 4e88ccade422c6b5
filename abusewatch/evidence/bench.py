"""What signed checkpoints cost (docs/benchmarks.md, "Evidence checkpoint signing").

  python -m abusewatch.evidence.bench [--segment 1000] [--repeat 2000] [--records 20000]

Times one Ed25519 checkpoint signature and its verification over a segment of `--segment` record
hashes, then appends `--records` records in batches of 100 to a fresh locker with and without
signing (every `--segment` records), each in a fresh temporary SQLite file, and reports the
per-record overhead.
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


def _append_seconds(dsn: str, records: int, signer: Signer | None, every: int) -> float:
    store = open_store(dsn)
    if signer is not None:
        store.enable_signing(signer, every)
    batch = [
        NewRecord("post", "2026-01-01T00:00:00.000Z", {"n": n, "text": "x" * 400}, (f"post:p{n}", "target:t"))
        for n in range(_BATCH)
    ]
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
    parser.add_argument("--records", type=int, default=20000, help="records appended per variant")
    args = parser.parse_args(argv)
    signer = Signer(Ed25519PrivateKey.generate())
    hashes = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(args.segment)]
    checkpoint = signer.sign(1, "0" * 64, hashes, "2026-01-01T00:00:00.000Z")
    keys = public_keys_by_id([signer.public_key])
    sign_us = _median_us(lambda: signer.sign(1, "0" * 64, hashes, "2026-01-01T00:00:00.000Z"), args.repeat)
    verify_us = _median_us(lambda: checkpoint_problem(checkpoint, keys), args.repeat)
    print(f"checkpoint over {args.segment} hashes: sign {sign_us:.0f} us, verify {verify_us:.0f} us (median of {args.repeat})")
    with tempfile.TemporaryDirectory() as tmp:
        plain = _append_seconds(f"sqlite:///{Path(tmp) / 'plain.sqlite3'}", args.records, None, args.segment)
        signed = _append_seconds(f"sqlite:///{Path(tmp) / 'signed.sqlite3'}", args.records, signer, args.segment)
    per_record_us = (signed - plain) / args.records * 1e6
    print(
        f"append {args.records} records in batches of {_BATCH}: {args.records / plain:.0f} records/s unsigned,"
        f" {args.records / signed:.0f} records/s signing every {args.segment} ({per_record_us:+.1f} us per record)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
