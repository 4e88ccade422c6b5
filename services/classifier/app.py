"""Classifier service: posts -> validate -> score (batched) -> post-scores, bad input -> posts-dlq.

Media hashes are matched against the hash banks (docs/media.md): loaded from files at startup,
kept current from `hash-bank-updates` (bank_updates.py; bad updates -> dead-letters)."""

from __future__ import annotations

import asyncio
import time

import faust
from prometheus_client import Counter, Histogram

from abusewatch.common import config
from abusewatch.scoring.classify import IncomingMessage, PostClassifier
from abusewatch.ingest.contract import encode
from abusewatch.ingest.topics import create_topics
from abusewatch.scoring.media.banks import HashBanks
from abusewatch.scoring.media.settings import MediaSettings
from abusewatch.services.classifier.bank_updates import BankUpdatesFeed
from abusewatch.scoring.inference import EngineSettings, InferenceEngine
from abusewatch.scoring.language import LanguageIdentifier, LanguageSettings
from abusewatch.services.common import DeadLetterSink, ServiceContext, create_app, fail_fast, raw_topic
from abusewatch.common.settings import ClassifierStreamSettings, IngestSettings
from abusewatch.common.tracing import headers_of, traceparent

# Fine near both ends, where thresholds sit, so a drifting score distribution shows on the dashboard.
SCORE_BUCKETS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def build(ctx: ServiceContext) -> faust.App:
    app = create_app(ctx)
    stream_settings = config.load(ClassifierStreamSettings)
    engine = InferenceEngine.from_settings(config.load(EngineSettings), ctx.metrics.registry)
    ctx.readiness_checks.append(lambda: engine.ready)
    posts = raw_topic(app, ctx, "posts")
    post_scores = raw_topic(app, ctx, "post-scores")
    posts_dlq = raw_topic(app, ctx, "posts-dlq")
    banks = HashBanks.from_settings(config.load(MediaSettings))
    create_topics(ctx.kafka, ["hash-bank-updates"])
    bank_updates = BankUpdatesFeed(
        ctx, ctx.kafka.topic("hash-bank-updates"), banks,
        DeadLetterSink(ctx, raw_topic(app, ctx, "dead-letters").send, schema="dead-letters/v1"),
    )
    ctx.readiness_checks.append(bank_updates.caught_up.is_set)
    classifier = PostClassifier(
        engine.score, engine.model_info, config.load(IngestSettings), banks,
        language=LanguageIdentifier(engine.languages, config.load(LanguageSettings)),
    )
    dead_letters = DeadLetterSink(ctx, posts_dlq.send, schema="posts-dlq/v1")
    posts_name = posts.get_topic_name()
    metrics = ctx.metrics
    tracing = ctx.tracing
    targets_dropped = Counter(
        "abusewatch_targets_dropped",
        "Targets left out because a post names more than ABUSEWATCH_MAX_TARGETS_PER_POST",
        registry=metrics.registry,
    )
    post_score = Histogram(
        "abusewatch_post_score", "Calibrated score per scored post, by label (drift shows here).",
        ["label"], buckets=SCORE_BUCKETS, registry=metrics.registry,
    )

    engine_started = asyncio.Event()

    @app.task
    async def start_engine() -> None:
        await app.add_runtime_dependency(bank_updates)
        await engine.start()
        await bank_updates.caught_up.wait()  # no post is checked against banks missing live additions
        engine_started.set()

    @app.agent(posts, concurrency=stream_settings.concurrency)
    async def classify(stream: faust.StreamT) -> None:
        await engine_started.wait()
        async for events in stream.take_events(stream_settings.take_max, within=stream_settings.take_within_s):
            started = time.perf_counter()
            started_ns = time.time_ns()
            with fail_fast(ctx):
                batch = await classifier.classify([incoming(e.message, tracing.enabled) for e in events])
                for (key, message), origin in zip(batch.scores, batch.origins, strict=True):
                    if tracing.enabled:
                        # One span per post, from taking its batch to sending its scores.
                        span = tracing.start_span("classify post", origin.traceparent, start_time=started_ns,
                                                  attributes={"abusewatch.post_id": message["post_id"]})
                        await post_scores.send(key=key, value=encode(message), headers=headers_of(span))
                        span.end()
                    else:
                        await post_scores.send(key=key, value=encode(message))
                    for label, score in message["scores"].items():
                        post_score.labels(label).observe(score)
                for message, rejection in batch.dead_letters:
                    await dead_letters.send(
                        rejection, key=message.key, value=message.value, topic=posts_name,
                        partition=message.partition, offset=message.offset,
                    )
                targets_dropped.inc(batch.targets_dropped)
            metrics.messages_in.labels(posts_name).inc(len(events))
            metrics.messages_out.labels(post_scores.get_topic_name()).inc(len(batch.scores))
            metrics.batch_size.observe(len(events))
            metrics.processing_seconds.observe(time.perf_counter() - started)

    return app


def incoming(message: faust.types.tuples.Message, traced: bool) -> IncomingMessage:
    # A platform that traces its posts sends their traceparent: the post's trace continues it.
    parent = traceparent(message.headers) if traced else None
    return IncomingMessage(message.key, message.value, message.partition, message.offset, traceparent=parent)
