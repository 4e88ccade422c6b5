"""The detector's first stage: post-scores -> packed per-target records on `detector-by-target`.

A plain aiokafka consumer group inside the detector's Faust worker, not a Faust agent. The stage is
stateless (no table, nothing to recover), and Faust's per-record consume path capped the whole
service: a Faust agent that does nothing at all consumes 6,800-13,000 records/s on the 2-core test
machines, a plain aiokafka consumer 262,000/s (docs/benchmarks.md). Re-keyed records are few (one
per partition per batch), so the stateful stage stays a Faust agent with its table, changelog and
rebalancing.

Catching up: posts are forwarded in event-time order across the partitions this rekeyer reads
(abusewatch.detection.watermark.EventTimeMerge). A backlog's partitions are fetched at very
different event-time rates; a post from a partition that is ahead waits (and that partition is
paused once take_max of its posts wait) until every partition with unread posts has been read up
to its event time, so each target's posts reach the detector in the order they were written, and each re-keyed
partition is in event-time order (the detect agent's per-partition watermark relies on it). With
them goes the frontier: the event time up to which this rekeyer's partitions are complete, as a
header on the last record of a batch per re-keyed partition and, at most every
ABUSEWATCH_DETECTOR_FRONTIER_INTERVAL_S, as an empty marker record to partitions that got none.

Delivery is at-least-once, as for the agents: a partition's offset is committed only after every
packed record built from the posts before it is acknowledged by the broker, on the commit interval
and before partitions are revoked; a crash or rebalance re-reads at most what came after. Posts
still waiting in the merge are not committed; a revoked partition's are dropped (its new owner
re-reads them).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from mode import Service

from abusewatch.ingest.contract import Rejection, event_time_rejection, utcnow, validate_message_times
from abusewatch.detection.rekey import (
    FRONTIER_HEADER,
    collect_released,
    copies_to_pack,
    encode_frontier,
    pack,
    with_frontier,
)
from abusewatch.detection.watermark import EventTimeMerge
from abusewatch.services.common import (
    LAG_INTERVAL_S,
    DeadLetterSink,
    ServiceContext,
    fail_fast,
    record_consumer_lag,
)
from abusewatch.services.detector.settings import DetectorStreamSettings
from abusewatch.common.settings import IngestSettings
from abusewatch.common.tracing import traceparent

log = logging.getLogger(__name__)
GROUP_SUFFIX = "-rekey"  # the consumer group is the detector app id + this
PACKED_RECORD_FRAMING_BYTES = 1024  # headroom over a packed value for the record around it


class PostScoresRekeyer(Service):
    """Consumes post-scores (group: the detector app id + GROUP_SUFFIX) and sends each batch's
    target copies, packed per destination partition, to the re-keyed topic."""

    def __init__(self, ctx: ServiceContext, settings: DetectorStreamSettings, source: str, destination: str,
                 commit_interval_s: float, dead_letter_topic: str, ingest: IngestSettings,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self.settings = settings
        self.ingest = ingest
        self.source = source
        self.destination = destination
        self.dead_letter_topic = dead_letter_topic
        self.dead_letters = DeadLetterSink(ctx, self._send_dead_letter, schema="dead-letters/v1")
        self.commit_interval_s = commit_interval_s
        self.consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._sent: list[asyncio.Future] = []  # broker acknowledgements still to check before a commit
        self._next_offsets: dict[TopicPartition, int] = {}  # per partition: all before it is sent
        # Posts taken but not forwarded yet, each as (offset, its target copies, its traceparent).
        self._merge: EventTimeMerge[tuple[int, list, bytes | None]] = EventTimeMerge(settings.partition_idle_s)
        self._loop_exited = asyncio.Event()
        self._told: dict[int, bytes] = {}  # re-keyed partition -> the frontier header it was last sent
        self._markers_sent_at = -math.inf

    @property
    def group_id(self) -> str:
        return self.ctx.app_id + GROUP_SUFFIX

    async def on_start(self) -> None:
        kafka = self.ctx.kafka
        self._producer = AIOKafkaProducer(
            # A batch already is one record per partition: no need to linger for more. A packed
            # record must fit in one producer batch (plus headroom for the record framing).
            bootstrap_servers=kafka.bootstrap, acks="all", linger_ms=0,
            max_batch_size=self.settings.packed_record_bytes + PACKED_RECORD_FRAMING_BYTES, max_request_size=kafka.max_message_bytes,
        )
        await self._producer.start()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap, group_id=self.group_id, client_id=self.group_id,
            enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=kafka.fetch_max_wait_ms,
            max_partition_fetch_bytes=kafka.max_message_bytes,
            session_timeout_ms=int(kafka.session_timeout_s * 1000),
            heartbeat_interval_ms=int(kafka.heartbeat_interval_s * 1000),
        )
        self.consumer.subscribe([self.source], listener=_CommitBeforeRevoke(self))
        await self.consumer.start()

    async def on_stop(self) -> None:
        # should_stop is already set: the loop ends after its current batch.
        try:
            await asyncio.wait_for(self._loop_exited.wait(), timeout=10)
            await self.commit()
        finally:
            if self.consumer is not None:
                await self.consumer.stop()
            if self._producer is not None:
                await self._producer.stop()

    @Service.task
    async def _rekey(self) -> None:
        assert self.consumer is not None
        wait_ms = int(self.settings.take_within_s * 1000)
        next_commit = time.monotonic() + self.commit_interval_s
        try:
            while not self.should_stop:
                batches = await self.consumer.getmany(timeout_ms=wait_ms, max_records=self.settings.take_max)
                with fail_fast(self.ctx):
                    # Also without new posts: waiting ones go once the partitions holding them catch up.
                    await self._forward(batches)
                    if time.monotonic() >= next_commit:
                        await self.commit()
                        next_commit = time.monotonic() + self.commit_interval_s
        finally:
            self._loop_exited.set()

    async def _forward(self, batches: dict[TopicPartition, list]) -> None:
        metrics = self.ctx.metrics
        now = time.monotonic()
        posts = 0
        wall_clock = utcnow().timestamp()
        traced = self.ctx.tracing.enabled
        for tp, records in batches.items():
            posts += len(records)
            taken = []
            for record in records:
                validated = self._validated(record.value, wall_clock)
                if isinstance(validated, Rejection):
                    await self.dead_letters.send(validated, key=record.key, value=record.value, topic=tp.topic,
                                                 partition=tp.partition, offset=record.offset)
                    taken.append((None, (record.offset, [], None)))  # its offset still moves on with its neighbours
                    continue
                message, event_ts = validated
                taken.append((event_ts,
                              (record.offset, copies_to_pack(message, record.value, self.ingest.max_targets),
                               traceparent(record.headers) if traced else None)))
            self._merge.add(tp, taken, now)
        await self._update_unread()
        # One assignment for the release and its frontier, with no await between them: a rebalance
        # while _update_unread waited may have revoked and given back partitions meanwhile.
        assigned = self.consumer.assignment()
        self._merge.clock.track(assigned, now)
        copies, traceparents, next_offsets = collect_released(self._merge.release(now), traced)
        frontier = self._frontier(assigned)
        records = pack(copies, self.ctx.kafka.partitions, self.settings.packed_record_bytes, traceparents)
        for partition, packed, headers in with_frontier(records, frontier):
            if headers is not None:
                self._told[partition] = frontier
            self._sent.append(await self._producer.send(self.destination, value=packed, partition=partition,
                                                        headers=headers))
        if frontier is not None and now - self._markers_sent_at >= self.settings.frontier_interval_s:
            await self._send_markers(frontier, now)
        # Only now, with every copy's send in `_sent`: a commit run meanwhile (a rebalance's revoke
        # callback, while a send above waited) must not commit posts whose copies were not sent yet.
        for tp, offset in next_offsets.items():
            self._next_offsets[tp] = max(self._next_offsets.get(tp, 0), offset)
        metrics.messages_in.labels(self.source).inc(posts)
        metrics.messages_out.labels(self.destination).inc(len(copies))

    def _frontier(self, assigned: set[TopicPartition]) -> bytes | None:
        """The frontier header for this rekeyer's source partitions, None while nothing is complete."""
        sources = self.consumer.partitions_for_topic(self.source)
        owned = [tp.partition for tp in assigned if tp.topic == self.source]
        if not sources or not owned or self._merge.complete_to == -math.inf:
            return None
        return encode_frontier(len(sources), owned, self._merge.complete_to)

    async def _send_markers(self, frontier: bytes, now: float) -> None:
        """A marker (empty record, frontier header) to each re-keyed partition not told this
        frontier yet (a new event time, or a change in the partitions this rekeyer owns)."""
        for partition in range(self.ctx.kafka.partitions):
            if self._told.get(partition) != frontier:
                self._sent.append(await self._producer.send(self.destination, value=b"", partition=partition,
                                                            headers=[(FRONTIER_HEADER, frontier)]))
                self._told[partition] = frontier
        self._markers_sent_at = now

    def _validated(self, raw: bytes | None, now: float) -> tuple[dict[str, Any], float] | Rejection:
        """A post-scores message from any producer is untrusted: schema, timestamps, and no event time
        from the future (it would move the detector's watermark). The message and its event time."""
        validated = validate_message_times("post-scores", raw)
        if isinstance(validated, Rejection):
            return validated
        message, (created_at, *_) = validated
        rejection = event_time_rejection(created_at, now=now, max_ahead_s=self.ingest.max_ahead_s,
                                         post_id=message["post_id"])
        return rejection or (message, created_at.timestamp())

    async def _send_dead_letter(self, *, key: bytes | None, value: bytes) -> None:
        # Awaited to the broker's acknowledgement: a dead letter is rare, and its failure must surface
        # here (DeadLetterSink counts it) rather than in the commit barrier of the forwarded copies.
        await (await self._producer.send(self.dead_letter_topic, key=key, value=value))

    async def _update_unread(self) -> None:
        """Which assigned partitions still have posts on the broker that were not taken yet, and
        pause those that are ahead (enough of their posts wait in the merge)."""
        consumer = self.consumer
        assigned = consumer.assignment()
        self._merge.clock.track(assigned, time.monotonic())
        paused = consumer.paused()
        for tp in assigned:
            try:
                highwater = consumer.highwater(tp)  # None until a fetch for the partition returned
                self._merge.clock.set_unread(tp, highwater is None or await consumer.position(tp) < highwater)
                ahead = self._merge.pending(tp) >= self.settings.take_max
                if ahead and tp not in paused:
                    consumer.pause(tp)
                elif not ahead and tp in paused:
                    consumer.resume(tp)
            except (AssertionError, IllegalStateError):  # revoked while position() waited: not ours now
                continue

    async def commit(self) -> None:
        """Commit what has been forwarded and acknowledged, for the partitions still assigned."""
        if not self._next_offsets and not self._sent:
            return
        sent, self._sent = self._sent, []
        offsets, self._next_offsets = self._next_offsets, {}
        await asyncio.gather(*sent)  # a failed send raises: nothing after it may be committed
        assigned = self.consumer.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except CommitFailedError:
            # The group rebalanced meanwhile: the partitions' new owners re-read from the last commit.
            log.warning("rekey commit failed in a rebalance; %d partitions will be re-read", len(offsets))

    @Service.timer(LAG_INTERVAL_S)
    async def _record_lag(self) -> None:
        if self.consumer is not None:
            await record_consumer_lag(self.consumer, self.ctx.metrics)


class _CommitBeforeRevoke(ConsumerRebalanceListener):
    def __init__(self, rekeyer: PostScoresRekeyer) -> None:
        self.rekeyer = rekeyer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.rekeyer.commit()
        self.rekeyer._merge.drop(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        pass
