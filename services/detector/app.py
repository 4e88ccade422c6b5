"""Detector service: post-scores -> re-key by target -> pile-on detector -> target-alerts.

Two stages in one worker. The rekeyer (services/detector/rekeyer.py, a plain aiokafka consumer: a
Faust agent's per-record cost was the service's limit) fans each post out to its targets onto the
internal topic `detector-by-target`, routed by target id (Kafka's default partitioner), so all
posts about one target reach one worker and one table partition. Copies are packed: one record per
partition per batch, the copies as JSON lines (abusewatch.detection.rekey). The `detect` agent
feeds them to the pure PileOnDetector, keeps per-target state in the Faust table
`detector-targets` (memory:// in tests, rocksdb:// in production) and sends alerts keyed by
target_id. Delivery is at-least-once; alert ids are deterministic, so consumers dedupe. Workers
share the authors of their campaigns through `detector-campaign-authors`
(services/detector/campaign_authors.py), so a crowd moving to another worker's target is linked.
"""

from __future__ import annotations

import time
from typing import Any

import faust

from abusewatch import config
from abusewatch.broker import create_topics
from abusewatch.contract import decode, encode
from abusewatch.detection import DetectorSettings, PileOnDetector
from abusewatch.detection.features import epoch_seconds
from abusewatch.detection.rekey import event_time, unpack
from abusewatch.detection.watermark import PartitionClock
from abusewatch.services.common import ServiceContext, create_app, raw_topic
from abusewatch.services.detector.campaign_authors import CampaignAuthorsFeed
from abusewatch.services.detector.rekeyer import PostScoresRekeyer
from abusewatch.services.detector.settings import DetectorStreamSettings
from abusewatch.services.detector.state_store import TableStateStore

REKEYED_TOPIC = "detector-by-target"
CAMPAIGN_AUTHORS_TOPIC = "detector-campaign-authors"  # one partition: see campaign_authors.py
STATE_TABLE = "detector-targets"


def internal_topics(ctx: ServiceContext) -> list[str]:
    """Unprefixed names of the partitioned topics this service needs beyond the contract's: the
    re-keyed stream and the state table's changelog (Faust names it <app id>-<table>-changelog).
    The campaign-authors topic has one partition and is created apart."""
    app_id_unprefixed = ctx.app_id[len(ctx.kafka.topic_prefix):]
    return [REKEYED_TOPIC, f"{app_id_unprefixed}-{STATE_TABLE}-changelog"]


def build(ctx: ServiceContext) -> faust.App:
    app = create_app(ctx)
    settings = config.load(DetectorSettings)
    stream_settings = config.load(DetectorStreamSettings)
    # Faust must not auto-create topics on this broker (wrong partition counts): create ours.
    create_topics(ctx.kafka, internal_topics(ctx))
    create_topics(ctx.kafka, [CAMPAIGN_AUTHORS_TOPIC], partitions=1)
    source_name = ctx.kafka.topic("post-scores")
    by_target = raw_topic(app, ctx, REKEYED_TOPIC)
    target_alerts = raw_topic(app, ctx, "target-alerts")
    campaign_authors = raw_topic(app, ctx, CAMPAIGN_AUTHORS_TOPIC)
    # bytes keys and values: Faust stores them raw; TargetState encodes itself.
    table = app.Table(STATE_TABLE, key_type=bytes, value_type=bytes, partitions=ctx.kafka.partitions)
    metrics = ctx.metrics
    rekeyed_name, alerts_name = by_target.get_topic_name(), target_alerts.get_topic_name()

    rekeyer = PostScoresRekeyer(ctx, stream_settings, source=source_name, destination=rekeyed_name,
                                commit_interval_s=app.conf.broker_commit_interval)
    ctx.readiness_checks.append(lambda: bool(rekeyer.consumer and rekeyer.consumer.assignment()))
    authors_feed = CampaignAuthorsFeed(ctx, campaign_authors.get_topic_name(), settings.author_index_size)

    @app.task
    async def start_plain_consumers() -> None:
        # Runtime dependencies start now and stop with the app (before the agents' producer).
        await app.add_runtime_dependency(rekeyer)
        await app.add_runtime_dependency(authors_feed)

    @app.agent(by_target)
    async def detect(stream: faust.StreamT) -> None:
        # The stream's own setter: table writes are routed by the "current event" (see state_store).
        store = TableStateStore(table, stream._set_current_event, stream_settings.state_cache_targets)
        detector = PileOnDetector(settings, store=store, authors=authors_feed.authors)
        # Event time each re-keyed partition has delivered up to: the lifecycle watermark may not
        # pass the least of them while a partition still has unread records (catching up).
        frontiers = PartitionClock(stream_settings.partition_idle_s)
        read_up_to: dict[int, int] = {}  # partition -> next offset after the newest record taken

        @app.on_partitions_revoked.connect
        async def forget_revoked(sender: faust.App, revoked: set, **kwargs: object) -> None:
            # Another worker owns these targets now; its table partition is the truth.
            store.drop_partitions({tp.partition for tp in revoked if tp.topic == rekeyed_name})
        async for events in stream.take_events(stream_settings.detect_take_max, within=stream_settings.take_within_s):
            started = time.perf_counter()
            alerts = []
            copies = []
            for event in events:
                message = event.message
                read_up_to[message.partition] = message.offset + 1
                ts = event_time(message.headers)
                if ts is not None:
                    frontiers.delivered(message.partition, ts, time.monotonic())
                for line in unpack(event.value):
                    try:
                        post_scores = decode(line)
                        copies.append((epoch_seconds(post_scores["post"]["created_at"]), event, post_scores))
                    except (ValueError, KeyError, TypeError):
                        metrics.dead_lettered.labels(rekeyed_name, "invalid_post_scores").inc()
            complete_until = _complete_until(app, rekeyed_name, frontiers, read_up_to)
            # The take's partitions interleaved in event-time order (one target's copies keep theirs)
            # and the lifecycle swept after each copy, as in an in-process replay of the same stream.
            copies.sort(key=_event_time)
            for _, event, post_scores in copies:
                store.begin(event)
                try:
                    alerts.extend(detector.process(post_scores, sweep=False))
                except (ValueError, KeyError, TypeError):
                    metrics.dead_lettered.labels(rekeyed_name, "invalid_post_scores").inc()
                alerts.extend(detector.sweep(complete_until))
            store.flush()
            for alert in alerts:
                target_alerts.send_soon(key=alert["target_id"].encode(), value=encode(alert))
            for record in authors_feed.drain():
                campaign_authors.send_soon(value=record)
            metrics.messages_in.labels(rekeyed_name).inc(len(copies))
            metrics.messages_out.labels(alerts_name).inc(len(alerts))
            metrics.batch_size.observe(len(copies))
            metrics.processing_seconds.observe(time.perf_counter() - started)

    return app


def _complete_until(app: faust.App, topic: str, frontiers: PartitionClock, read_up_to: dict[int, int]) -> float:
    """The event time up to which every assigned re-keyed partition has delivered what it holds: a
    partition is caught up when the records taken reach its high watermark (the broker's next
    offset; unknown until fetched counts as not caught up)."""
    now = time.monotonic()
    assigned = [tp for tp in app.consumer.assignment() if tp.topic == topic]
    frontiers.track([tp.partition for tp in assigned], now)
    for tp in assigned:
        try:
            highwater = app.consumer.highwater(tp)
        except AssertionError:  # revoked meanwhile
            continue
        taken = read_up_to.get(tp.partition)
        frontiers.set_unread(tp.partition, highwater is None or taken is None and highwater > 0
                             or taken is not None and taken < highwater)
    return frontiers.low(now)


def _event_time(copy: tuple[float, Any, dict]) -> float:
    return copy[0]
