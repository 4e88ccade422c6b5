"""The stream framework's own ceiling: how many post-scores records per second a Faust agent that
does nothing with them consumes on this machine.
`python -m abusewatch.services.detector.ceiling FILE --posts 200000`.

Same broker, topic, app settings (`create_app`, fetch wait included) and `stream.take` batching as
the detector's first stage, with no work per record. The detector service cannot consume post-scores
faster than this; docs/benchmarks.md compares the two.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from abusewatch import config
from abusewatch.broker import EmbeddedBroker, create_topics, free_port
from abusewatch.services.detector.bench import load_posts
from abusewatch.settings import KafkaSettings


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
        child = subprocess.run([sys.executable, "-m", "abusewatch.services.detector.ceiling", str(args.file),
                                "--posts", str(args.posts), "--consume"], env=env, timeout=args.timeout_s, check=False)
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
