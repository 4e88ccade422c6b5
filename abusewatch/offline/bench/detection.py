"""Memory per active target: `python -m abusewatch.offline.bench.detection --targets 200000`.

Feeds N synthetic targets a few posts each through the real detector (as an hour of quiet traffic
looks: 1-3 friendly posts per target, every 20th target also one abusive post, so it carries
evidence and a MinHash signature), then reports tracemalloc bytes and RSS growth per target and
the extrapolation to 1,000,000 active targets.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

from abusewatch.common import config
from abusewatch.detection.detector import PileOnDetector
from abusewatch.detection.settings import DetectorSettings
from abusewatch.scoring.classify import post_scores_message

_ABUSIVE = {"toxicity": 0.93, "threat": 0.1, "insult": 0.85, "identity_attack": 0.05, "sexual_harassment": 0.0,
            "obscene": 0.2}
_BENIGN = {"toxicity": 0.02, "threat": 0.0, "insult": 0.01, "identity_attack": 0.0, "sexual_harassment": 0.0,
           "obscene": 0.0}
_START = 1_793_000_000.0  # an arbitrary epoch second in 2026


def synthetic_messages(targets: int, span_s: float = 3600.0) -> Iterator[dict[str, Any]]:
    from datetime import datetime, timezone

    for index in range(targets * 2):
        target = index % targets
        abusive = index < targets and target % 20 == 0
        ts = _START + span_s * index / (targets * 2)
        created_at = datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")
        post = {
            "post_id": f"p{index}", "author_id": f"a{index * 7919 % 1_000_003}",
            "text": f"reply number {index} with some ordinary words in it",
            "created_at": created_at, "reply_to_user_id": f"target-{target}", "mentioned_user_ids": [],
            "author_created_at": "2021-01-01T00:00:00.000+00:00", "author_follows_target": bool(index % 2),
        }
        yield post_scores_message(post, [post["reply_to_user_id"]], _ABUSIVE if abusive else _BENIGN,
                                  {"name": "bench", "version": "1"}, scored_at=created_at, latency_ms=0.0)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _fill(targets: int) -> PileOnDetector:
    detector = PileOnDetector(config.load(DetectorSettings))
    for message in synthetic_messages(targets):
        detector.process(message)
    return detector


def measure(targets: int, tracemalloc_pass: bool = True) -> dict[str, Any]:
    """Python heap held by the detector (tracemalloc) and the process's RSS growth (measured in a
    separate pass: tracemalloc's own bookkeeping would inflate RSS)."""
    gc.collect()
    rss_before = _rss_bytes()
    started = time.perf_counter()
    detector = _fill(targets)
    elapsed = time.perf_counter() - started
    gc.collect()
    rss_growth = _rss_bytes() - rss_before
    held = len(detector.store)  # type: ignore[arg-type]
    del detector
    result: dict[str, Any] = {
        "targets": held,
        "rss_growth_bytes_per_target": round(rss_growth / held),
        "extrapolated_gib_per_million_targets_rss": round(rss_growth / held * 1_000_000 / 2**30, 2),
        "posts": targets * 2,
        "posts_per_s": round(targets * 2 / elapsed),
    }
    if not tracemalloc_pass:
        return result
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    detector = _fill(targets)  # kept alive until its memory has been measured
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del detector
    per_target = (after - before) / held
    result["bytes_per_target_tracemalloc"] = round(per_target)
    result["extrapolated_gib_per_million_targets_tracemalloc"] = round(per_target * 1_000_000 / 2**30, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=200_000)
    parser.add_argument("--rss-only", action="store_true", help="skip the (slow) tracemalloc pass")
    args = parser.parse_args(argv)
    for key, value in measure(args.targets, tracemalloc_pass=not args.rss_only).items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
