"""Throughput of the detector service through the embedded broker:
`python -m abusewatch.services.detector.bench FILE --posts 200000`.

Loads post-scores from FILE (a simulate output) onto a fresh topic first, then starts the detector
as deployed (`abusewatch serve detector`, its own process) and follows the consumer group's
committed offsets: throughput = posts consumed between the first and the last commit / the time
between them (commits come every Faust commit interval, so runs should last tens of seconds).
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
from abusewatch.services.detector.app import REKEYED_TOPIC
from abusewatch.stack import Stack


def committed(admin, group: str, topic: str) -> int:
    offsets = admin.list_group_offsets({group: None}).get(group) or {}
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


def main(argv: list[str] | None = None) -> int:
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--timeout-s", type=float, default=400)
    parser.add_argument("--env", nargs="*", default=[], help="environment variables to pass to the service")
    args = parser.parse_args(argv)

    with EmbeddedBroker(port=free_port()) as broker, tempfile.TemporaryDirectory() as data_dir:
        prefix = f"bench{uuid.uuid4().hex[:8]}-"
        env = {
            "KAFKA_BOOTSTRAP": broker.bootstrap, "ABUSEWATCH_TOPIC_PREFIX": prefix, "ABUSEWATCH_DATA_DIR": data_dir,
            "ABUSEWATCH_KAFKA_SESSION_TIMEOUT_S": "6", "ABUSEWATCH_KAFKA_HEARTBEAT_S": "2",
            "ABUSEWATCH_DETECTOR_PORT": str(free_port()), "ABUSEWATCH_LOG_LEVEL": "warning",
            **{name: os.environ[name] for name in args.env if name in os.environ},
        }
        stack = Stack(roles=("detector",), env=env, embedded_broker=False, log_dir=Path(data_dir) / "logs")
        create_topics(stack.kafka)
        source = stack.kafka.topic("post-scores")
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=50, batch_size=512 * 1024)
        fanned_out = 0
        started = time.perf_counter()
        with open_text(args.file, "r") as lines:
            for line in islice(lines, args.posts):
                message = orjson.loads(line)
                fanned_out += len(message["targets"])
                producer.send(source, key=message["post_id"].encode(), value=line.rstrip(b"\n"))
        producer.flush()
        producer.close()
        print(f"loaded {args.posts} posts ({fanned_out} target copies) in {time.perf_counter() - started:.1f}s")

        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        group = stack.kafka.topic("abusewatch-detector")
        rekeyed = stack.kafka.topic(REKEYED_TOPIC)
        stack.start(ready_timeout_s=120)
        try:
            first: tuple[float, int] | None = None
            deadline = time.monotonic() + args.timeout_s
            while time.monotonic() < deadline:
                done = committed(admin, group, rekeyed)
                if done and first is None:
                    first = (time.perf_counter(), done)
                if done >= fanned_out:
                    break
                time.sleep(0.2)
            finished = time.perf_counter()
            if first is None or done < fanned_out:
                print(f"not finished: {done} of {fanned_out} committed")
                print(stack.log_tail("detector"))
                return 1
            seconds = finished - first[0]
            posts_per_copy = args.posts / fanned_out
            rate = (done - first[1]) * posts_per_copy / seconds
            print(f"detector service: {rate:,.0f} posts/s ({(done - first[1]) / seconds:,.0f} target copies/s) "
                  f"over {seconds:.1f}s, cpu count {os.cpu_count()}")
        finally:
            admin.close()
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
