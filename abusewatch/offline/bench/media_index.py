"""Benchmark of the PDQ index (abusewatch.scoring.media.index): build time, memory, lookups/s on
one core and recall of near copies, for N random PDQ hashes, beside FAISS's exact flat index and its
multi-index hash (the maintained-library options) on the same hashes in the same run.

    python -m abusewatch.offline.bench.media_index --size 10000000 [--flips 8,16,24,31] [--faiss-queries 200]
    python -m abusewatch.offline.bench.media_index --bank-file 1000000   # startup from a bank file

Random hashes are a fair case for multi-index hashing (PDQ sets each bit about half the time;
clustered real hashes make some buckets longer). Queries: for each flip count, copies of indexed
hashes with that many bits flipped (they must be found), plus as many random hashes (they must
not). Lookups go one batch at a time, as the classifier sends them (one search per stream batch).
FAISS runs on one thread and gets fewer queries: its exact index compares every hash."""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from abusewatch.scoring.media.banks import HashBanks
from abusewatch.scoring.media.index import TAIL_MAX, PdqIndex
from abusewatch.scoring.media.settings import MediaSettings


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _flip(hashes: np.ndarray, flips: int, rng: np.random.Generator) -> np.ndarray:
    bits = np.unpackbits(hashes, axis=1)
    for row in bits:
        row[rng.choice(256, flips, replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def _queries(codes: np.ndarray, count: int, flips: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """count // 2 near copies (and which hash each copies) then count // 2 random hashes."""
    picks = rng.choice(len(codes), count // 2, replace=False)
    unrelated = rng.integers(0, 256, size=(count // 2, 32), dtype=np.uint8)
    return np.concatenate([_flip(codes[picks], flips, rng), unrelated]), picks


def _report(name: str, elapsed: float, queries: int, found: int, near: int, false: int) -> None:
    print(f"    {name}: {queries / elapsed:,.0f} lookups/s, recall {found / near:.3f}, "
          f"unrelated matched {false}/{queries - near}", flush=True)


def _bench_ours(index: PdqIndex, queries: np.ndarray, picks: np.ndarray, codes: np.ndarray, batch: int,
                radius: int) -> None:
    hexes = [row.tobytes().hex() for row in queries]
    warm_up = [row.tobytes().hex() for row in np.random.default_rng(1).integers(0, 256, size=(len(hexes), 32),
                                                                                  dtype=np.uint8)]
    for start in range(0, len(warm_up), batch):  # compiled on first use; caches and pages warm
        index.search(warm_up[start:start + batch], radius)
    started = time.perf_counter()
    results = []
    for start in range(0, len(hexes), batch):
        results += index.search(hexes[start:start + batch], radius)
    elapsed = time.perf_counter() - started
    near = len(picks)
    found = sum(any(hit.key[1] == codes[i].tobytes().hex() for hit in hits)
                for hits, i in zip(results[:near], picks.tolist(), strict=True))
    _report("multi-index (abusewatch)", elapsed, len(hexes), found, near, sum(bool(h) for h in results[near:]))


def _bench_faiss(name: str, faiss_index, queries: np.ndarray, picks: np.ndarray, batch: int,  # type: ignore[no-untyped-def]
                 radius: int) -> None:
    started = time.perf_counter()
    found = false = 0
    for start in range(0, len(queries), batch):
        lims, _, ids = faiss_index.range_search(queries[start:start + batch], radius + 1)  # strictly below
        for row in range(start, min(start + batch, len(queries))):
            hit_ids = ids[lims[row - start]:lims[row - start + 1]]
            if row < len(picks):
                found += int(picks[row] in hit_ids)
            else:
                false += int(len(hit_ids) > 0)
    _report(name, time.perf_counter() - started, len(queries), found, len(picks), false)


def _bench_bank_file(entries: int) -> None:
    """A classifier's start with one bank file of that many PDQ entries: read, validated, indexed."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        with open(Path(folder) / "ncii.jsonl", "w", encoding="utf-8") as bank:
            for start in range(0, entries, 100_000):
                codes = rng.integers(0, 256, size=(min(100_000, entries - start), 32), dtype=np.uint8)
                bank.writelines(json.dumps({"signal_type": "pdq", "hash": code.tobytes().hex(),
                                            "entry_id": f"case-{start + i}"}) + "\n" for i, code in enumerate(codes))
        before = _rss_mb()
        started = time.perf_counter()
        banks = HashBanks.from_settings(MediaSettings(bank_dir=folder))
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"bank file of {entries:,} PDQ entries (each with an entry id): loaded in {elapsed:.1f}s, "
              f"{len(banks):,} entries; RSS {before:,.0f}MB before, {_rss_mb():,.0f}MB after, peak {peak:,.0f}MB",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--faiss-queries", type=int, default=200, help="0: FAISS not run")
    parser.add_argument("--batch", type=int, default=64, help="lookups per search call")
    parser.add_argument("--radius", type=int, default=31)
    parser.add_argument("--flips", default="8,16,24,31")
    parser.add_argument("--bank-file", type=int, default=0, metavar="N",
                        help="instead: time loading a bank file of N entries, as the classifier starts")
    args = parser.parse_args(argv)
    if args.bank_file:
        _bench_bank_file(args.bank_file)
        return 0
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(args.size, 32), dtype=np.uint8)
    keys = [("bench", code.tobytes().hex()) for code in codes]
    before = _rss_mb()
    started = time.perf_counter()
    index = PdqIndex(keys)
    build_s = time.perf_counter() - started
    print(f"size={args.size:,} build={build_s:.1f}s arrays={index.memory_bytes() / 2**20:,.0f}MB "
          f"rss_growth={_rss_mb() - before:,.0f}MB", flush=True)
    del keys
    # Live additions as updates arrive, a message at a time: a full tail, the one after it (which
    # merges the tail), then a full tail again, which the lookups below compare in full (the worst case).
    extra = [("bench", row.tobytes().hex())
             for row in rng.integers(0, 256, size=(2 * TAIL_MAX + 1, 32), dtype=np.uint8)]
    timings = []
    for first, last in ((0, TAIL_MAX), (TAIL_MAX, TAIL_MAX + 1), (TAIL_MAX + 1, 2 * TAIL_MAX + 1)):
        started = time.perf_counter()
        for start in range(first, last, 256):
            index.add(extra[start:min(start + 256, last)])
        timings.append(time.perf_counter() - started)
    print(f"  {TAIL_MAX:,} live additions in batches of 256, into the tail: {timings[0]:.1f}s; the next one, "
          f"which merges the tail: {timings[1]:.2f}s; {TAIL_MAX:,} more fill it again for the lookups; "
          f"arrays then {index.memory_bytes() / 2**20:,.0f}MB", flush=True)
    faiss_indexes = []
    if args.faiss_queries:
        import faiss  # the baseline only (the test extra)

        faiss.omp_set_num_threads(1)
        flat = faiss.IndexBinaryFlat(256)
        flat.add(codes)
        multi = faiss.IndexBinaryMultiHash(256, 16, 16)
        multi.nflip = args.radius // 16
        started = time.perf_counter()
        multi.add(codes)
        print(f"  FAISS multi-hash build {time.perf_counter() - started:.1f}s", flush=True)
        faiss_indexes = [("FAISS IndexBinaryFlat (exact)", flat), ("FAISS IndexBinaryMultiHash", multi)]
    for flips in [int(f) for f in args.flips.split(",")]:
        print(f"  {flips} bits flipped:", flush=True)
        queries, picks = _queries(codes, args.queries, flips, rng)
        _bench_ours(index, queries, picks, codes, args.batch, args.radius)
        for name, faiss_index in faiss_indexes:
            few, few_picks = _queries(codes, args.faiss_queries, flips, rng)
            _bench_faiss(name, faiss_index, few, few_picks, args.batch, args.radius)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
