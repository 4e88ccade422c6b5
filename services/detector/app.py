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

import contextlib
import logging
import time

import faust
from prometheus_client import Gauge

from abusewatch.common import config
from abusewatch.ingest.topics import create_topics
from abusewatch.ingest.contract import Rejection, encode, validate_message_times
from abusewatch.detection import DetectorSettings, PileOnDetector
from abusewatch.detection.rekey import FRONTIER_HEADER, decode_frontier, unpack
from abusewatch.detection.watermark import SourceFrontier
from abusewatch.services.common import DeadLetterSink, ServiceContext, create_app, fail_fast, raw_topic
from abusewatch.services.detector.campaign_authors import CampaignAuthorsFeed
from abusewatch.services.detector.rekeyer import PACKED_RECORD_FRAMING_BYTES, PostScoresRekeyer
from abusewatch.services.detector.settings import DetectorStreamSettings
from abusewatch.services.detector.state_store import TableStateStore
from abusewatch.services.faust_overrides import event_setter
from abusewatch.common.settings import IngestSettings
from abusewatch.common.tracing import headers_of

log = logging.getLogger(__name__)

REKEYED_TOPIC = "detector-by-target"
CAMPAIGN_AUTHORS_TOPIC = "detector-campaign-authors"  # one partition: see campaign_authors.py
STATE_TABLE = "detector-targets"


def internal_topics(ctx: ServiceContext) -> list[str]:
    """Unprefixed names of the partitioned topics this service needs beyond the contract's: the
    re-keyed stream and the state table's changelog (Faust names it <app id>-<table>-changelog).
    The campaign-authors topic has one partition and is created apart."""
    app_id_unprefixed = ctx.app_id[len(ctx.kafka.topic_prefix):]
    return [REKEYED_TOPIC, f"{app_id_unprefixed}-{STATE_TABLE}-changelog"]


def check_packed_record_limit(max_message_bytes: int, packed_record_bytes: int) -> None:
    """A packed record on the re-keyed topic (plus its framing) must fit under the Kafka record
    limit, or every send of a full one fails. Raises ConfigError otherwise."""
    if packed_record_bytes + PACKED_RECORD_FRAMING_BYTES > max_message_bytes:
        raise config.ConfigError(
            f"ABUSEWATCH_DETECTOR_PACKED_RECORD_BYTES={packed_record_bytes} does not fit under "
            f"ABUSEWATCH_KAFKA_MAX_MESSAGE_BYTES={max_message_bytes} (with {PACKED_RECORD_FRAMING_BYTES} bytes "
            "of record framing)"
        )


def build(ctx: ServiceContext) -> faust.App:
    app = create_app(ctx)
    settings = config.load(DetectorSettings)
    stream_settings = config.load(DetectorStreamSettings)
    check_packed_record_limit(ctx.kafka.max_message_bytes, stream_settings.packed_record_bytes)
    # Faust must not auto-create topics on this broker (wrong partition counts): create ours.
    create_topics(ctx.kafka, internal_topics(ctx))
    create_topics(ctx.kafka, [CAMPAIGN_AUTHORS_TOPIC], partitions=1)
    source_name = ctx.kafka.topic("post-scores")
    by_target = raw_topic(app, ctx, REKEYED_TOPIC)
    target_alerts = raw_topic(app, ctx, "target-alerts")
    campaign_authors = raw_topic(app, ctx, CAMPAIGN_AUTHORS_TOPIC)
    dead_letter_topic = raw_topic(app, ctx, "dead-letters")
    dead_letters = DeadLetterSink(ctx, dead_letter_topic.send, schema="dead-letters/v1")
    # bytes keys and values: Faust stores them raw; TargetState encodes itself.
    table = app.Table(STATE_TABLE, key_type=bytes, value_type=bytes, partitions=ctx.kafka.partitions)
    metrics = ctx.metrics
    # What the uncoordinated binomial test compares with (docs/detection.md); a model or a community
    # that flags more shows here first.
    platform_share = Gauge(
        "abusewatch_detector_platform_abusive_share",
        "Share of the scored posts to targets flagged abusive, as the detector of each re-keyed partition measures it",
        ["partition"], registry=metrics.registry,
    )
    rekeyed_name, alerts_name = by_target.get_topic_name(), target_alerts.get_topic_name()
    tracing = ctx.tracing

    def traced_process(detector: PileOnDetector, message: dict, ts: float, parent: bytes) -> list[tuple[dict, list]]:
        """detector.process in a span continuing the post's trace; an alert it raises carries it on."""
        with tracing.span("detect post", parent, **{"abusewatch.post_id": message["post_id"],
                                                    "abusewatch.target_id": message["targets"][0]}) as span:
            raised = detector.process(message, ts=ts)
            headers = headers_of(span)
            for alert in raised:
                span.add_event("alert", {"abusewatch.alert_id": alert["alert_id"]})
            return [(alert, headers) for alert in raised]

    ingest = config.load(IngestSettings)
    rekeyer = PostScoresRekeyer(ctx, stream_settings, source=source_name, destination=rekeyed_name,
                                commit_interval_s=app.conf.broker_commit_interval,
                                dead_letter_topic=dead_letter_topic.get_topic_name(), ingest=ingest)
    ctx.readiness_checks.append(lambda: bool(rekeyer.consumer and rekeyer.consumer.assignment()))
    authors_feed = CampaignAuthorsFeed(ctx, campaign_authors.get_topic_name(), settings.author_index_size,
                                       dead_letters=dead_letters)

    @app.task
    async def start_plain_consumers() -> None:
        # Runtime dependencies start now and stop with the app (before the agents' producer).
        await app.add_runtime_dependency(rekeyer)
        await app.add_runtime_dependency(authors_feed)

    @app.agent(by_target)
    async def detect(stream: faust.StreamT) -> None:
        # The stream's own setter: table writes are routed by the "current event" (see state_store).
        store = TableStateStore(table, event_setter(stream), stream_settings.state_cache_targets)
        # One detector per re-keyed partition. The rekeyer forwards posts in event-time order, so
        # each partition's own newest event time is a safe watermark for the lifecycle of its
        # targets' campaigns even while another partition is an hour of event time behind (catching
        # up on a backlog); a shared watermark would close those campaigns while their posts are
        # still unread. The detectors share the state store (each expiring only its partition's
        # targets) and the author index.
        detectors: dict[int, PileOnDetector] = {}
        # Per re-keyed partition, how far the rekeyers have said its input is complete (in band:
        # see abusewatch.detection.watermark): a quiet partition's detector follows it there.
        frontiers: dict[int, SourceFrontier] = {}

        def detector_for(partition: int) -> PileOnDetector:
            detector = detectors.get(partition)
            if detector is None:
                detector = detectors[partition] = PileOnDetector(settings, store=store.partition(partition),
                                                                 authors=authors_feed.authors)
            return detector

        @app.on_partitions_revoked.connect
        async def forget_revoked(sender: faust.App, revoked: set, **kwargs: object) -> None:
            # Another worker owns these targets now; its table partition is the truth.
            partitions = {tp.partition for tp in revoked if tp.topic == rekeyed_name}
            store.drop_partitions(partitions)
            for partition in partitions:
                if detectors.pop(partition, None) is not None:
                    with contextlib.suppress(KeyError):  # no take finished since it was created
                        platform_share.remove(str(partition))
                frontiers.pop(partition, None)
        async for events in stream.take_events(stream_settings.detect_take_max, within=stream_settings.take_within_s):
            started = time.perf_counter()
            alerts = []
            copies = 0
            with fail_fast(ctx):  # input faults are dead-lettered below; anything else is the service's
                told = set()  # partitions whose frontier a record of this take carried
                for event in events:
                    store.begin(event)
                    partition = event.message.partition
                    detector = detector_for(partition)
                    frontier = event.headers.get(FRONTIER_HEADER)
                    decoded = (decode_frontier(frontier, not_after=time.time() + ingest.max_ahead_s)
                               if frontier is not None else None)
                    if decoded is not None:
                        frontiers.setdefault(partition, SourceFrontier()).update(*decoded)
                        told.add(partition)
                        if not event.value:  # a marker: nothing else in it
                            continue
                    # Anything else empty or undecodable is dead-lettered as any bad input is.
                    for index, (line, parent) in enumerate(unpack(event.value or b"")):
                        copies += 1
                        validated = validate_message_times("post-scores", line)
                        rejection = validated if isinstance(validated, Rejection) else None
                        if rejection is None:
                            message, (created_at, *_) = validated
                            ts = created_at.timestamp()  # validation parsed it: not again in the detector
                            try:
                                # Swept as it goes (as in an in-process replay): state is written once per take anyway.
                                if tracing.enabled and parent is not None:
                                    alerts.extend(traced_process(detector, message, ts, parent))
                                else:
                                    alerts.extend((alert, None) for alert in detector.process(message, ts=ts))
                            except Exception as exc:  # noqa: BLE001 - a detector bug on one post must not stop the stream
                                log.exception("detector failed on copy %d of %s", index, event.message.offset)
                                rejection = Rejection("processing_error", f"{type(exc).__name__}: {exc}",
                                                      message.get("post_id"))
                        if rejection is not None:
                            await dead_letters.send(
                                rejection, key=event.key, value=line, topic=rekeyed_name,
                                partition=partition, offset=event.message.offset,
                            )
                # Alerts raised by event time moving on, not by a post: no trace to continue.
                for partition in told:
                    complete_to = frontiers[partition].complete_to()
                    alerts.extend((alert, None) for alert in detector_for(partition).follow(complete_to - settings.grace_s))
                store.flush()
                for alert, headers in alerts:
                    target_alerts.send_soon(key=alert["target_id"].encode(), value=encode(alert), headers=headers)
                for record in authors_feed.drain():
                    campaign_authors.send_soon(value=record)
            for partition, detector in detectors.items():
                platform_share.labels(str(partition)).set(detector.platform_abusive_share())
            metrics.messages_in.labels(rekeyed_name).inc(copies)
            metrics.messages_out.labels(alerts_name).inc(len(alerts))
            metrics.batch_size.observe(copies)
            metrics.processing_seconds.observe(time.perf_counter() - started)

    return app

