"""`abusewatch replay FILE`: run the pile-on detector over a JSONL file and score it.

FILE holds post-scores/v1 messages (their `scores` are used as they are: see the `model` field for
who produced them), or posts/v1 messages with `--scorer model` (the real classifier scores each
post first; slow). With `--truth` it prints campaign precision and recall, detection delay (event
time from an episode's first post to its first alert) and false alerts per million benign posts;
always the detector's throughput on this process's one core. With `--broker` the same file goes
through the detector service as deployed (embedded Kafka broker, Faust worker processes) instead,
and the alerts it sends are scored the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import resource
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from abusewatch.common import config
from abusewatch.common.settings import IngestSettings
from abusewatch.ingest.contract import Post, Rejection, validate, validate_post
from abusewatch.scoring.classify import post_scores_message, rule_findings
from abusewatch.detection.detector import PileOnDetector
from abusewatch.offline.evaluate_detection import BURST_KINDS, PILE_ON_KINDS, Episode, TruthError, score_alerts
from abusewatch.detection.features import epoch_seconds
from abusewatch.detection.settings import DetectorSettings
from abusewatch.offline.simulate import open_text


class EventClock:
    """detected_at for replays: the event time of the message being processed, so a replay's
    output is byte-for-byte reproducible (there is no meaningful wall-clock time in a replay)."""

    def __init__(self) -> None:
        self.now = datetime.fromtimestamp(0, tz=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@dataclasses.dataclass
class ReplayResult:
    posts: int
    alerts: list[dict[str, Any]]
    detector_s: float
    total_s: float
    total_cpu_s: float  # this process's CPU time: on a shared machine wall time includes waiting
    stats: dict[str, Any]


def read_messages(path: Path, scorer: str | None) -> Iterator[dict[str, Any]]:
    """post-scores/v1 messages from a post-scores file, or from a posts/v1 file scored with
    `scorer` ("model"). A file of the other kind, or a post the contract refuses, stops the replay
    with a one-line SystemExit that says what to pass."""
    with open_text(path, "r") as lines:
        if scorer != "model":
            for number, line in enumerate(lines, start=1):
                message = orjson.loads(line)
                if not isinstance(message, dict) or "post" not in message:
                    raise SystemExit(
                        f"{path}:{number}: not a post-scores/v1 message; for a posts/v1 file pass --scorer model"
                    )
                yield message
            return
        ingest = config.load(IngestSettings)
        posts = [_post(path, number, line, ingest) for number, line in enumerate(lines, start=1)]
    from abusewatch.offline.corpus import model_scores

    scores, model = model_scores([post.text for post in posts])
    for post, post_scores in zip(posts, scores):
        yield post_scores_message(post.raw, post.targets, post_scores, model, scored_at=post.raw["created_at"],
                                  latency_ms=0.0, rules=rule_findings(post.text, post.targets))


def _post(path: Path, number: int, line: bytes, ingest: IngestSettings) -> Post:
    """A posts/v1 line, validated as the classifier validates it."""
    post = validate_post(line.rstrip(b"\n"), max_text_chars=ingest.max_text_chars,
                         max_message_bytes=ingest.max_message_bytes, max_targets=ingest.max_targets)
    if isinstance(post, Rejection):
        hint = " (already scored: drop --scorer)" if b'"post-scores/v1"' in line else ""
        raise SystemExit(f"{path}:{number}: not a valid posts/v1 message: {post.code}: {post.message}{hint}")
    return post


def replay(messages: Iterator[dict[str, Any]], settings: DetectorSettings) -> ReplayResult:
    clock = EventClock()
    detector = PileOnDetector(settings, clock=clock)
    alerts: list[dict[str, Any]] = []
    detector_s = 0.0
    posts = 0
    perf = time.perf_counter
    started, started_cpu = perf(), time.process_time()
    for message in messages:
        posts += 1
        clock.now = datetime.fromisoformat(message["post"]["created_at"])
        t = perf()
        alerts.extend(detector.process(message))
        detector_s += perf() - t
    t = perf()
    alerts.extend(detector.flush())
    detector_s += perf() - t
    total_s = perf() - started
    total_cpu_s = time.process_time() - started_cpu
    stats = dataclasses.asdict(detector.stats)
    stats["alerts"] = dict(detector.stats.alerts)
    stats["platform_abusive_share"] = round(detector.platform_abusive_share(), 5)
    stats["platform_new_account_share"] = round(detector.platform_new_account_share(), 5)
    stats["targets_in_memory_at_end"] = len(detector.store)  # type: ignore[arg-type]
    return ReplayResult(posts, alerts, detector_s, total_s, total_cpu_s, stats)


def benign_post_count(path: Path, truth: list[Episode]) -> int:
    """Posts outside every pile-on episode (by target and time): the false-alert denominator."""
    return scan_truth(path, truth)[0]


def scan_truth(path: Path, truth: list[Episode], slack_s: float = 0.0) -> tuple[int, dict[Episode, list[float]]]:
    """One pass over the stream: the benign posts (outside every pile-on episode, by target and
    time: the false-alert denominator) and, per pile-on episode, the event times of its target's
    posts from authors not following it between its start and its end + slack_s (its crowd's
    posts, for the delay in posts)."""
    windows: dict[str, list[Episode]] = {}
    for episode in truth:
        if episode.kind in PILE_ON_KINDS:
            windows.setdefault(episode.target, []).append(episode)
    count = 0
    crowd: dict[Episode, list[float]] = {e: [] for es in windows.values() for e in es}
    with open_text(path, "r") as lines:
        for line in lines:
            message = orjson.loads(line)
            post = message.get("post", message)
            first_target = (message.get("targets") or [post.get("reply_to_user_id")])[0]
            episodes = windows.get(first_target)
            if episodes:
                ts = epoch_seconds(post["created_at"])
                inside = False
                for e in episodes:
                    if e.start <= ts <= e.end + slack_s:
                        inside = inside or ts <= e.end
                        if post.get("author_follows_target") is not True:
                            crowd[e].append(ts)
                if inside:
                    continue
            count += 1
    for times in crowd.values():
        times.sort()
    return count, crowd


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="post-scores/v1 JSONL (or posts/v1 with --scorer model); .gz ok")
    parser.add_argument("--truth", type=Path, help="ground truth JSONL: target, start, end[, kind, episode]")
    parser.add_argument("--out", type=Path, help="write alerts (target-alerts/v1 JSONL) here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--scorer", choices=["model"], help="score posts/v1 input with the real classifier")
    parser.add_argument("--match-slack-s", type=float, default=600.0,
                        help="an alert this long after an episode's last post still counts as detecting it")
    parser.add_argument("--broker", action="store_true",
                        help="run the detector service as deployed over an embedded Kafka broker instead of "
                             "in-process (post-scores input only)")
    parser.add_argument("--workers", type=int, default=1, help="with --broker: detector worker processes")
    parser.add_argument("--rate", type=float, default=2000.0,
                        help="with --broker: posts/s produced while the service runs (0: load the whole file "
                             "first, a backlog, which reaches the detector far out of event-time order)")


def read_truth(path: Path) -> list[Episode]:
    """Ground-truth episodes; SystemExit with a one-line message on a row that cannot be scored."""
    episodes = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if line.strip():
            try:
                episodes.append(Episode.from_row(orjson.loads(line)))
            except TruthError as error:
                raise SystemExit(f"{path}:{number}: {error}") from None
    return episodes


def run(args: argparse.Namespace) -> int:
    truth = read_truth(args.truth) if args.truth else None  # before a long replay, not after it
    if args.broker:
        if args.scorer:
            raise SystemExit("--broker replays post-scores files; score posts first (abusewatch simulate --scorer model)")
        alerts, report = _through_broker(args.file, args.workers, args.rate or None)
    else:
        result = replay(read_messages(args.file, args.scorer), config.load(DetectorSettings))
        alerts, report = result.alerts, {
            "file": str(args.file),
            "posts": result.posts,
            "alerts": len(result.alerts),
            "detector_seconds": round(result.detector_s, 3),
            "detector_posts_per_s": round(result.posts / result.detector_s) if result.detector_s else None,
            "end_to_end_posts_per_s_incl_json_decode": round(result.posts / result.total_s) if result.total_s else None,
            "end_to_end_posts_per_cpu_s_incl_json_decode": (
                round(result.posts / result.total_cpu_s) if result.total_cpu_s else None
            ),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "detector": result.stats,
        }
    for alert in alerts:
        validate("target-alerts", alert)
    if truth is not None:
        benign, crowd = scan_truth(args.file, truth, args.match_slack_s)
        report["evaluation"] = score_alerts(alerts, truth, benign, args.match_slack_s, crowd)
    if args.out:
        with open(args.out, "wb") as out:
            for alert in alerts:
                out.write(orjson.dumps(alert, option=orjson.OPT_APPEND_NEWLINE))
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print_report(report)
    return 0


def _through_broker(file: Path, workers: int, rate: float | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The detector service as deployed (its own processes, Faust tables, the embedded broker) over
    the whole file; it ends when both stages have committed every post. Alerts keep wall-clock
    detected_at, and campaigns still open at the end get no closing alert (no flush)."""
    from abusewatch.offline.bench.detector_service import run_service

    logging.getLogger("kafka").setLevel(logging.WARNING)  # the broker clients' connection chatter
    service = run_service(file, None, workers, env_names=[name for name in os.environ if name.startswith("ABUSEWATCH_")],
                          timeout_s=3600, rate=rate)
    return service.alerts, {
        "file": str(file),
        "posts": service.posts,
        "alerts": len(service.alerts),
        "through_broker": {"workers": workers, "offered_posts_per_s": rate, "seconds": round(service.seconds, 3),
                           "posts_per_s": round(service.posts / service.seconds),
                           "posts_per_worker_cpu_s": round(service.posts / service.worker_cpu_s)},
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def _print_report(report: dict[str, Any]) -> None:
    if "through_broker" in report:
        service = report["through_broker"]
        print(f"posts {report['posts']}, alerts {report['alerts']}, detector service through the broker with "
              f"{service['workers']} worker(s): {service['posts_per_s']} posts/s "
              f"({service['posts_per_worker_cpu_s']} per worker CPU second), load average {report['load_average_1min']}")
    else:
        print(f"posts {report['posts']}, alerts {report['alerts']}, detector {report['detector_posts_per_s']} posts/s "
              f"(end to end incl. JSON decode {report['end_to_end_posts_per_s_incl_json_decode']} posts/s, "
              f"{report['end_to_end_posts_per_cpu_s_incl_json_decode']} per CPU second), "
              f"peak RSS {report['peak_rss_mib']} MiB, load average {report['load_average_1min']}")
    evaluation = report.get("evaluation")
    if not evaluation:
        return
    print(f"campaigns {evaluation['campaigns']}: precision {evaluation['precision']}, recall {evaluation['recall']}, "
          f"delay median {evaluation['delay_s_median']} s, p95 {evaluation['delay_s_p95']} s "
          f"({evaluation['delay_posts_median']} / {evaluation['delay_posts_p95']} crowd posts), "
          f"false alerts per million benign posts {evaluation['false_alerts_per_million_benign_posts']} "
          f"({evaluation['false_campaigns']} in {evaluation['benign_posts']})")
    bursts = evaluation["bursts"]
    print(f"  pile-ons lasting minutes ({', '.join(sorted(BURST_KINDS))}): {bursts['detected']} of "
          f"{bursts['episodes']}, delay median {bursts['delay_s_median']} s, p95 {bursts['delay_s_p95']} s "
          f"({bursts.get('delay_posts_median')} / {bursts.get('delay_posts_p95')} crowd posts)")
    for kind, row in evaluation["per_kind"].items():
        print(f"  {kind}: {row}")
    print(f"  later hops detected {evaluation['later_hops_detected']}, linked {evaluation['later_hops_linked']}")
    for example in evaluation["false_campaign_examples"]:
        print(f"  false: {example}")
