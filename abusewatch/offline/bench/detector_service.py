"""Throughput of the detector service through the embedded broker:
`python -m abusewatch.offline.bench.detector_service FILE --posts 200000`.

Loads post-scores from FILE (a simulate output) onto a fresh topic first, then starts the detector
as deployed (`abusewatch serve detector`, its own process) and follows both consumer groups'
committed offsets: throughput = posts / time from the first worker being ready (both its
consumers assigned) to the moment both stages have committed everything (the re-keyed topic up to
its end offsets). Commits come every commit interval (2.8 s), which counts against the service, so
runs should last tens of seconds. Also
prints posts per CPU second of the worker processes, which a busy shared machine distorts less.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

import orjson

from abusewatch.common import config
from abusewatch.devstack.broker import EmbeddedBroker, free_port
from abusewatch.ingest.topics import create_topics
from abusewatch.offline.simulate import open_text
from abusewatch.services.detector.app import REKEYED_TOPIC, STATE_TABLE
from abusewatch.services.detector.rekeyer import GROUP_SUFFIX
from abusewatch.services.detector.settings import DetectorStreamSettings
from abusewatch.devstack.stack import Stack


def committed(admin, group: str, topic: str) -> int:
    offsets = admin.list_group_offsets({group: None}).get(group) or {}
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), so runs on a shared machine compare."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def end_offsets(consumer, topic: str) -> int:
    from kafka import TopicPartition

    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    return sum(consumer.end_offsets(partitions).values())


def load_posts(bootstrap: str, topic: str, file: Path, posts: int | None, rate: float | None = None) -> tuple[int, int]:
    """Produce the first `posts` post-scores messages of FILE (all with None) to `topic`, keyed by
    post id as the classifier does, at most `rate` per second if given; returns how many were sent
    and the target copies they fan out to."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, batch_size=512 * 1024)
    sent = fanned_out = 0
    started = time.perf_counter()
    with open_text(file, "r") as lines:
        for line in islice(lines, posts):
            message = orjson.loads(line)
            sent += 1
            fanned_out += len(message["targets"])
            producer.send(topic, key=message["post_id"].encode(), value=line.rstrip(b"\n"))
            if rate and sent % 100 == 0:
                ahead_s = sent / rate - (time.perf_counter() - started)
                if ahead_s > 0:
                    time.sleep(ahead_s)
    producer.flush()
    producer.close()
    print(f"loaded {sent} posts ({fanned_out} target copies) in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return sent, fanned_out


@dataclasses.dataclass
class ServiceRun:
    posts: int
    target_copies: int
    seconds: float  # from the first worker's readiness to both stages committed
    worker_cpu_s: float
    packed_records: int
    changelog_records: int
    alerts: list[dict]  # everything on target-alerts, in partition order


def run_service(file: Path, posts: int | None, workers: int = 1, env_names: Iterable[str] = (),
                timeout_s: float = 400, rate: float | None = None) -> ServiceRun:
    """Load FILE's first `posts` post-scores messages (all with None) into a fresh embedded broker,
    run the detector service as deployed with `workers` worker processes until both stages have
    committed everything, and collect the alerts it sent. Raises TimeoutError with the log tail.

    Without `rate` the posts are loaded before the service starts (a backlog: the throughput
    measurement). A backlog is consumed unevenly across partitions, so a target's posts reach the
    detector up to an hour of event time out of order; with `rate` (posts/s) they are produced
    while the service runs, as live traffic is, and arrive within a batch of their order."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient

    frontier_interval_s = config.load(DetectorStreamSettings).frontier_interval_s
    with EmbeddedBroker(port=free_port()) as broker, tempfile.TemporaryDirectory() as data_dir:
        prefix = f"bench{uuid.uuid4().hex[:8]}-"
        env = {
            "KAFKA_BOOTSTRAP": broker.bootstrap, "ABUSEWATCH_TOPIC_PREFIX": prefix, "ABUSEWATCH_DATA_DIR": data_dir,
            "ABUSEWATCH_KAFKA_SESSION_TIMEOUT_S": "6", "ABUSEWATCH_KAFKA_HEARTBEAT_S": "2",
            "ABUSEWATCH_LOG_LEVEL": "warning", **{name: os.environ[name] for name in env_names if name in os.environ},
        }
        # One Stack per worker: each its own port, state directory and logs, all in one consumer group.
        stacks = [
            Stack(roles=("detector",), env={**env, "ABUSEWATCH_DETECTOR_PORT": str(free_port()),
                                            "ABUSEWATCH_DATA_DIR": f"{data_dir}/worker{n}"},
                  embedded_broker=False, log_dir=Path(data_dir) / f"logs{n}")
            for n in range(workers)
        ]
        for n in range(workers):
            Path(data_dir, f"worker{n}").mkdir()
        stack = stacks[0]
        create_topics(stack.kafka)
        source = stack.kafka.topic("post-scores")
        if rate is None:
            posts, fanned_out = load_posts(broker.bootstrap, source, file, posts)

        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        offsets = KafkaConsumer(bootstrap_servers=broker.bootstrap)
        group = stack.kafka.topic("abusewatch-detector")
        rekeyed = stack.kafka.topic(REKEYED_TOPIC)
        changelog = stack.kafka.topic(f"abusewatch-detector-{STATE_TABLE}-changelog")
        alerts_topic = stack.kafka.topic("target-alerts")
        try:
            # Timed from the moment the first worker is ready (its consumers assigned) to the moment
            # both stages have committed everything: the last commit interval counts against it.
            stacks[0].start(ready_timeout_s=120)
            started = time.perf_counter()
            cpu_at_ready = {}
            for n, worker in enumerate(stacks):
                if n:
                    worker.start(ready_timeout_s=120)
                pid = worker.processes["detector"].pid
                cpu_at_ready[pid] = cpu_seconds(pid)
            if rate is not None:
                posts, fanned_out = load_posts(broker.bootstrap, source, file, posts, rate)
            deadline = time.monotonic() + timeout_s
            seconds = settled_at = None
            while True:
                done = committed(admin, group + GROUP_SUFFIX, source)
                if done >= posts and committed(admin, group, rekeyed) >= end_offsets(offsets, rekeyed):
                    if seconds is None:
                        seconds = time.perf_counter() - started
                        worker_cpu_s = sum(cpu_seconds(pid) - at_ready for pid, at_ready in cpu_at_ready.items())
                    if settled_at is None:
                        # The rekeyer's last frontier markers (they let quiet partitions cool and
                        # close) may follow its last posts by a marker interval: wait them out.
                        settled_at = time.monotonic() + frontier_interval_s + 1.0
                    elif time.monotonic() >= settled_at:
                        break
                else:
                    settled_at = None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not finished: {done} of {posts} posts committed\n{stack.log_tail('detector')}")
                time.sleep(0.2)
            # Alerts are flushed before the offsets that caused them are committed: all are there.
            partitions = [TopicPartition(alerts_topic, p) for p in offsets.partitions_for_topic(alerts_topic) or ()]
            offsets.assign(partitions)
            offsets.seek_to_beginning()
            alerts, alerts_end = [], end_offsets(offsets, alerts_topic)
            while sum(offsets.position(tp) for tp in partitions) < alerts_end:
                for records in offsets.poll(timeout_ms=500).values():
                    alerts.extend(orjson.loads(record.value) for record in records)
            return ServiceRun(posts, fanned_out, seconds, worker_cpu_s, end_offsets(offsets, rekeyed),
                              end_offsets(offsets, changelog), alerts)
        finally:
            offsets.close()
            admin.close()
            for worker in stacks:
                worker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--timeout-s", type=float, default=400)
    parser.add_argument("--workers", type=int, default=1, help="detector worker processes (one consumer group)")
    parser.add_argument("--env", nargs="*", default=[], help="environment variables to pass to the service")
    args = parser.parse_args(argv)
    try:
        run = run_service(args.file, args.posts, args.workers, args.env, args.timeout_s)
    except TimeoutError as error:
        print(error)
        return 1
    rate = run.posts / run.seconds
    print(f"detector service, {args.workers} worker(s): {rate:,.0f} posts/s "
          f"({rate * run.target_copies / run.posts:,.0f} target copies/s) over {run.seconds:.1f}s; "
          f"{run.posts / run.worker_cpu_s:,.0f} posts per worker CPU second; "
          f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    print(f"records: {run.packed_records:,} on the re-keyed topic (packed posts and frontier markers), {run.changelog_records:,} state changelog, "
          f"{len(run.alerts):,} alerts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
