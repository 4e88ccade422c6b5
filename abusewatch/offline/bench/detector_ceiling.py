"""The stream framework's own ceiling: how many post-scores records per second a Faust agent that
does nothing with them consumes on this machine, against a plain aiokafka consumer group doing the
same nothing on the same records. `python -m abusewatch.offline.bench.detector_ceiling FILE --posts 200000`.

The Faust agent has the services' app settings (`create_app`, fetch wait included) and the
`stream.take` batching the detector's first stage had while it was an agent. This ceiling (6,800-13,000
records/s on the 2-core machines) is why that stage is now a plain aiokafka consumer
(services/detector/rekeyer.py); docs/benchmarks.md compares them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from abusewatch.common import config
from abusewatch.devstack.broker import EmbeddedBroker, free_port
from abusewatch.ingest.topics import create_topics
from abusewatch.offline.bench.detector_service import load_posts
from abusewatch.common.settings import KafkaSettings


def consume(posts: int) -> None:
    """Child process: a Faust worker whose one agent counts records, prints the rates, and exits."""
    import faust

    from abusewatch.services.common import ServiceContext, create_app, raw_topic
    from abusewatch.services.detector.settings import DetectorStreamSettings

    ctx = ServiceContext.from_env("detector")
    app = create_app(ctx)
    stream_settings = config.load(DetectorStreamSettings)
    post_scores = raw_topic(app, ctx, "post-scores")

    @app.agent(post_scores)
    async def count(stream: faust.StreamT) -> None:
        seen, started, cpu_started = 0, 0.0, 0.0
        async for values in stream.take(stream_settings.take_max, within=stream_settings.take_within_s):
            if not seen:  # timed from the first batch: startup and group join are not the framework's rate
                started, cpu_started = time.perf_counter(), time.process_time()
            seen += len(values)
            if seen >= posts:
                seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
                print(f"faust agent doing nothing: {seen:,} records in {seconds:.1f}s = {seen / seconds:,.0f} records/s "
                      f"({seen / cpu_s:,.0f} per CPU second of the worker)", flush=True)
                os._exit(0)

    faust.Worker(app, loglevel=logging.WARNING, override_logging=False).execute_from_commandline()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--timeout-s", type=float, default=300)
    parser.add_argument("--consume", action="store_true", help=argparse.SUPPRESS)  # the child's role
    args = parser.parse_args(argv)
    if args.consume:
        consume(args.posts)
        return 1  # consume exits the process once it has counted every record

    with EmbeddedBroker(port=free_port()) as broker, tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap, "ABUSEWATCH_DATA_DIR": data_dir, "ABUSEWATCH_TOPIC_PREFIX": f"ceiling{uuid.uuid4().hex[:8]}-",
               "ABUSEWATCH_DETECTOR_PORT": str(free_port()), "ABUSEWATCH_LOG_LEVEL": "warning"}
        kafka = config.load(KafkaSettings, env=env)  # the child's settings: same topic prefix
        create_topics(kafka)
        load_posts(broker.bootstrap, kafka.topic("post-scores"), args.file, args.posts)
        child = subprocess.run([sys.executable, "-m", "abusewatch.offline.bench.detector_ceiling", str(args.file),
                                "--posts", str(args.posts), "--consume"], env=env, timeout=args.timeout_s, check=False)
        if child.returncode == 0:
            asyncio.run(asyncio.wait_for(consume_plain(kafka, args.posts), args.timeout_s))
    return child.returncode


async def consume_plain(kafka: KafkaSettings, posts: int) -> None:
    """The same records through a plain aiokafka consumer group (its own group: from the start)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        kafka.topic("post-scores"), bootstrap_servers=kafka.bootstrap, group_id=kafka.topic("ceiling-plain"),
        enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=kafka.fetch_max_wait_ms,
    )
    await consumer.start()
    try:
        seen, started, cpu_started = 0, 0.0, 0.0
        while seen < posts:
            batches = await consumer.getmany(timeout_ms=50, max_records=1000)
            if batches and not seen:
                started, cpu_started = time.perf_counter(), time.process_time()
            seen += sum(len(records) for records in batches.values())
        seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
        print(f"aiokafka consumer doing nothing: {seen:,} records in {seconds:.1f}s = {seen / seconds:,.0f} records/s "
              f"({seen / cpu_s:,.0f} per CPU second)", flush=True)
    finally:
        await consumer.stop()


if __name__ == "__main__":
    sys.exit(main())
