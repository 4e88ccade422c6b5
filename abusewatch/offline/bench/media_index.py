"""Benchmark of the PDQ index (abusewatch.scoring.media.index): build time, memory, lookups/s on
one core, and recall of near copies, for N random PDQ hashes.

    python -m abusewatch.offline.bench.media_index --size 1000000 [--nprobe 16] [--flips 8,16,24,31]

Random hashes are the index's worst case for the IVF (no clusters to exploit) and a fair one for
the exact flat index. Queries: for each flip count, copies of indexed hashes with that many bits
flipped (they must be found), plus as many random hashes (they must not). Lookups go one batch
at a time, as the classifier sends them (one search per stream batch)."""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from abusewatch.scoring.media.index import PdqIndex


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _flip(hashes: np.ndarray, flips: int, rng: np.random.Generator) -> np.ndarray:
    bits = np.unpackbits(hashes, axis=1)
    for row in bits:
        row[rng.choice(256, flips, replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--ivf-min-size", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=64, help="lookups per search call")
    parser.add_argument("--flips", default="8,16,24,31")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(args.size, 32), dtype=np.uint8)
    keys = [("bench", code.tobytes().hex()) for code in codes]
    before = _rss_mb()
    started = time.perf_counter()
    index = PdqIndex(keys, ivf_min_size=args.ivf_min_size, nprobe=args.nprobe)
    build_s = time.perf_counter() - started
    del keys
    print(f"size={args.size} kind={'IVF' if index.approximate else 'flat'} nprobe={args.nprobe} "
          f"build={build_s:.1f}s rss_growth_incl_key_maps={_rss_mb() - before:.0f}MB")
    for flips in [int(f) for f in args.flips.split(",")]:
        picks = rng.choice(args.size, args.queries // 2, replace=False)
        near = [code.tobytes().hex() for code in _flip(codes[picks], flips, rng)]
        unrelated = [rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in range(args.queries // 2)]
        queries = near + unrelated
        started = time.perf_counter()
        results = []
        for start in range(0, len(queries), args.batch):
            results += index.search(queries[start:start + args.batch], 31)
        elapsed = time.perf_counter() - started
        expected = [codes[i].tobytes().hex() for i in picks]
        found = sum(any(hit.key[1] == want for hit in hits) for hits, want in zip(results, expected, strict=False))
        false = sum(bool(hits) for hits in results[len(near):])
        print(f"  flips={flips}: {len(queries) / elapsed:,.0f} lookups/s, recall {found / len(near):.3f}, "
              f"unrelated matched {false}/{len(unrelated)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
