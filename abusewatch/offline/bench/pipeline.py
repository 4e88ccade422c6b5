"""Full-pipeline benchmark: broker -> classifier service -> post-scores, as deployed.

Measures (1) throughput: a backlog of N posts produced at once, timed from the first score to the
last, against the inference engine alone (same settings, same posts, this process, measured right
before and right after the pipeline so machine drift shows); (2) latency at a steady offered load:
posts produced at a fixed rate below capacity, each latency = the score record's broker timestamp
minus the post record's (both CreateTime, same host clock). Used by `abusewatch bench --pipeline`.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import orjson

from abusewatch.common.stats import percentile
from abusewatch.ingest.contract import format_time


def _posts(texts: Sequence[str], count: int, tag: str) -> list[dict[str, Any]]:
    now = format_time(datetime.now(timezone.utc))
    return [
        {
            "post_id": f"{tag}-{i}",
            "author_id": f"u-{i % 997}",
            "text": texts[i % len(texts)],
            "created_at": now,
            "reply_to_user_id": f"u-t{i % 101}",
        }
        for i in range(count)
    ]


def engine_alone_posts_per_s(texts: Sequence[str], settings_env: dict[str, str] | None = None) -> float:
    """The classifier's engine at the deployed settings scoring `texts` in one call, after scoring them
    once to warm up (oneDNN and inductor do first-use work per batch shape, as in the pipeline)."""
    import asyncio

    from prometheus_client import CollectorRegistry

    from abusewatch.common import config
    from abusewatch.scoring.inference import EngineSettings, InferenceEngine

    async def measure() -> float:
        engine = InferenceEngine.from_settings(config.load(EngineSettings, env={**os.environ, **(settings_env or {})}), CollectorRegistry())
        await engine.start()
        try:
            await engine.score(list(texts))
            started = time.perf_counter()
            await engine.score(list(texts))
            return len(texts) / (time.perf_counter() - started)
        finally:
            await engine.stop()

    return asyncio.run(measure())


def run_pipeline_benchmark(
    texts: Sequence[str], backlog_posts: int = 4000, steady_rate: float = 100.0, steady_seconds: float = 20.0,
    settings_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from abusewatch.devstack.broker import free_port
    from abusewatch.devstack.stack import Stack

    env = {
        "ABUSEWATCH_TOPIC_PREFIX": f"bench{uuid.uuid4().hex[:6]}-",
        "KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "ABUSEWATCH_CLASSIFIER_PORT": str(free_port()),
        **(settings_env or {}),
    }
    backlog = _posts(texts, backlog_posts, "bl")
    backlog_texts = [post["text"] for post in backlog]
    engine_before = engine_alone_posts_per_s(backlog_texts, settings_env)
    stack = Stack(roles=("classifier",), env=env, embedded_broker=True)
    with stack:
        bootstrap = stack.kafka.bootstrap
        posts_topic, scores_topic = stack.kafka.topic("posts"), stack.kafka.topic("post-scores")
        producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, batch_size=512 * 1024)
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        partitions = consumer.partitions_for_topic(scores_topic)
        consumer.assign([TopicPartition(scores_topic, p) for p in partitions])
        consumer.seek_to_beginning()

        def send(batch: list[dict[str, Any]]) -> None:
            for post in batch:
                producer.send(posts_topic, key=post["post_id"].encode(), value=orjson.dumps(post))

        def collect(tag: str, expected: int, timeout_s: float) -> dict[str, tuple[float, int]]:
            seen: dict[str, tuple[float, int]] = {}
            deadline = time.monotonic() + timeout_s
            while len(seen) < expected and time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=100).values():
                    for record in records:
                        message = orjson.loads(record.value)
                        if message["post_id"].startswith(tag) and message["post_id"] not in seen:
                            seen[message["post_id"]] = (time.monotonic(), record.timestamp)
            return seen

        # Warm-up on the backlog's texts, so model load, group join and first-use work per batch
        # shape are not timed (the engine-alone runs warm up the same way).
        send(_posts(texts, backlog_posts, "warm"))
        producer.flush()
        collect("warm-", backlog_posts, 600)

        send(backlog)
        producer.flush()
        seen = collect("bl-", backlog_posts, 600)
        arrivals = sorted(t for t, _ in seen.values())
        throughput = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0.0

        steady = _posts(texts, int(steady_rate * steady_seconds), "st")
        sent_at: dict[str, int] = {}
        started = time.monotonic()
        for i, post in enumerate(steady):
            while time.monotonic() - started < i / steady_rate:
                time.sleep(0.0005)
            sent_at[post["post_id"]] = int(time.time() * 1000)
            producer.send(posts_topic, key=post["post_id"].encode(), value=orjson.dumps(post))
            if i % 10 == 0:
                producer.flush()
        producer.flush()
        steady_seen = collect("st-", len(steady), 120)
        latencies = [score_ts - sent_at[pid] for pid, (_, score_ts) in steady_seen.items()]
        producer.close()
        consumer.close()
    engine_after = engine_alone_posts_per_s(backlog_texts, settings_env)
    engine_rate = statistics.mean([engine_before, engine_after])
    return {
        "settings_env": dict(settings_env or {}),
        "backlog_posts": backlog_posts,
        "backlog_scored": len(seen),
        "throughput_posts_per_s": round(throughput, 1),
        "engine_alone_posts_per_s": {"before": round(engine_before, 1), "after": round(engine_after, 1)},
        "throughput_share_of_engine": round(throughput / engine_rate, 3),
        "steady_rate_posts_per_s": steady_rate,
        "steady_scored": len(steady_seen),
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "latency_ms_p99": round(percentile(latencies, 99), 1) if latencies else None,
    }
