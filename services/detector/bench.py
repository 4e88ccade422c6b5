"""Throughput of the detector service through the embedded broker:
`python -m abusewatch.services.detector.bench FILE --posts 200000`.

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
import os
import sys
import tempfile
import time
import uuid
from itertools import islice
from pathlib import Path

import orjson

from abusewatch.broker import EmbeddedBroker, create_topics, free_port
from abusewatch.detection.simulate import open_text
from abusewatch.services.detector.app import REKEYED_TOPIC, STATE_TABLE
from abusewatch.services.detector.rekeyer import GROUP_SUFFIX
from abusewatch.stack import Stack


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


def load_posts(bootstrap: str, topic: str, file: Path, posts: int) -> int:
    """Produce the first `posts` post-scores messages of FILE to `topic`, keyed by post id as the
    classifier does; returns how many target copies they fan out to."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, batch_size=512 * 1024)
    fanned_out = 0
    started = time.perf_counter()
    with open_text(file, "r") as lines:
        for line in islice(lines, posts):
            message = orjson.loads(line)
            fanned_out += len(message["targets"])
            producer.send(topic, key=message["post_id"].encode(), value=line.rstrip(b"\n"))
    producer.flush()
    producer.close()
    print(f"loaded {posts} posts ({fanned_out} target copies) in {time.perf_counter() - started:.1f}s")
    return fanned_out


def main(argv: list[str] | None = None) -> int:
    from kafka import KafkaConsumer
    from kafka.admin import KafkaAdminClient

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--timeout-s", type=float, default=400)
    parser.add_argument("--workers", type=int, default=1, help="detector worker processes (one consumer group)")
    parser.add_argument("--env", nargs="*", default=[], help="environment variables to pass to the service")
    args = parser.parse_args(argv)

    with EmbeddedBroker(port=free_port()) as broker, tempfile.TemporaryDirectory() as data_dir:
        prefix = f"bench{uuid.uuid4().hex[:8]}-"
        env = {
            "KAFKA_BOOTSTRAP": broker.bootstrap, "ABUSEWATCH_TOPIC_PREFIX": prefix, "ABUSEWATCH_DATA_DIR": data_dir,
            "ABUSEWATCH_KAFKA_SESSION_TIMEOUT_S": "6", "ABUSEWATCH_KAFKA_HEARTBEAT_S": "2",
            "ABUSEWATCH_LOG_LEVEL": "warning", **{name: os.environ[name] for name in args.env if name in os.environ},
        }
        # One Stack per worker: each its own port, state directory and logs, all in one consumer group.
        workers = [
            Stack(roles=("detector",), env={**env, "ABUSEWATCH_DETECTOR_PORT": str(free_port()),
                                            "ABUSEWATCH_DATA_DIR": f"{data_dir}/worker{n}"},
                  embedded_broker=False, log_dir=Path(data_dir) / f"logs{n}")
            for n in range(args.workers)
        ]
        for n in range(args.workers):
            Path(data_dir, f"worker{n}").mkdir()
        stack = workers[0]
        create_topics(stack.kafka)
        source = stack.kafka.topic("post-scores")
        fanned_out = load_posts(broker.bootstrap, source, args.file, args.posts)

        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        offsets = KafkaConsumer(bootstrap_servers=broker.bootstrap)
        group = stack.kafka.topic("abusewatch-detector")
        rekeyed = stack.kafka.topic(REKEYED_TOPIC)
        changelog = stack.kafka.topic(f"abusewatch-detector-{STATE_TABLE}-changelog")
        try:
            # Timed from the moment the first worker is ready (its consumers assigned) to the moment
            # both stages have committed everything: the last commit interval counts against it.
            workers[0].start(ready_timeout_s=120)
            started = time.perf_counter()
            cpu_at_ready = {}
            for n, worker in enumerate(workers):
                if n:
                    worker.start(ready_timeout_s=120)
                pid = worker.processes["detector"].pid
                cpu_at_ready[pid] = cpu_seconds(pid)
            deadline = time.monotonic() + args.timeout_s
            done = 0
            while time.monotonic() < deadline:
                done = committed(admin, group + GROUP_SUFFIX, source)
                if done >= args.posts and committed(admin, group, rekeyed) >= end_offsets(offsets, rekeyed):
                    break
                time.sleep(0.2)
            else:
                print(f"not finished: {done} of {args.posts} posts committed")
                print(stack.log_tail("detector"))
                return 1
            seconds = time.perf_counter() - started
            used_cpu_s = sum(cpu_seconds(pid) - at_ready for pid, at_ready in cpu_at_ready.items())
            rate = args.posts / seconds
            print(f"detector service, {args.workers} worker(s): {rate:,.0f} posts/s "
                  f"({rate * fanned_out / args.posts:,.0f} target copies/s) over {seconds:.1f}s; "
                  f"{args.posts / used_cpu_s:,.0f} posts per worker CPU second; "
                  f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
            print(f"records: {end_offsets(offsets, rekeyed):,} packed on {rekeyed}, "
                  f"{end_offsets(offsets, changelog):,} state changelog")
        finally:
            offsets.close()
            admin.close()
            for worker in workers:
                worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
