"""Live hash bank updates for one classifier worker: every `hash-bank-updates` message, applied
to the worker's HashBanks as it arrives (no restart).

Every worker must hold every bank entry, so each reads the whole topic itself (no consumer group,
every partition, from the earliest offset the broker keeps), as the detector's campaign-authors feed
does; reading from the start also restores a restarted worker's live additions on top of the bank
files. `caught_up` is set once the worker has read up to where the topic ended when it started: the
worker scores no post and is not ready before, so no post is checked against a bank missing its live
additions. The topic is created without retention limit (abusewatch/ingest/topics.py); on a topic
made otherwise, retention must outlast any live addition not yet written to a bank file
(docs/media.md). A message that is not a valid update is dead-lettered and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from mode import Service
from prometheus_client import Counter, Gauge

from abusewatch.ingest.contract import Rejection, validate_message
from abusewatch.scoring.media.banks import HashBanks, apply_update
from abusewatch.services.common import DeadLetterSink, ServiceContext, fail_fast

log = logging.getLogger(__name__)


class BankUpdatesFeed(Service):
    def __init__(self, ctx: ServiceContext, topic: str, banks: HashBanks, dead_letters: DeadLetterSink,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self.topic = topic
        self.banks = banks
        self.dead_letters = dead_letters
        self.consumer: AIOKafkaConsumer | None = None
        self.caught_up = asyncio.Event()
        self._ends: dict[TopicPartition, int] = {}
        registry = ctx.metrics.registry
        self.applied = Counter("abusewatch_hash_bank_updates", "Hash bank updates applied, by bank and op",
                               ["bank", "op"], registry=registry)
        self.entries = Gauge("abusewatch_hash_bank_entries", "Entries held per hash bank", ["bank"],
                             registry=registry)
        self.record_sizes()

    def record_sizes(self) -> None:
        for bank, size in self.banks.sizes().items():
            self.entries.labels(bank).set(size)

    def apply(self, value: bytes | None) -> Rejection | None:
        """Apply one message, or say why it is not a valid update (nothing applied)."""
        update = validate_message("hash-bank-updates", value)
        if isinstance(update, Rejection):
            return update
        try:
            changed = apply_update(self.banks, update)
        except ValueError as exc:
            return Rejection("schema_violation", f"hash-bank-updates: {exc}")
        self.applied.labels(update["bank"], update["op"]).inc()
        self.entries.labels(update["bank"]).set(self.banks.sizes().get(update["bank"], 0))
        log.info("hash bank %s: %s %d of %d entries (update %s)", update["bank"], update["op"], changed,
                 len(update["entries"]), update["update_id"])
        return None

    async def on_start(self) -> None:
        kafka = self.ctx.kafka
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap, group_id=None, client_id=f"{self.ctx.app_id}-hash-bank-updates",
            enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=kafka.fetch_max_wait_ms,
            max_partition_fetch_bytes=kafka.max_message_bytes,
        )
        await self.consumer.start()
        await self.consumer.topics()  # metadata, for the topic's partitions
        partitions = [TopicPartition(self.topic, p) for p in sorted(self.consumer.partitions_for_topic(self.topic) or {0})]
        self.consumer.assign(partitions)
        self._ends = await self.consumer.end_offsets(partitions)
        await self._check_caught_up()

    async def _check_caught_up(self) -> None:
        if self.caught_up.is_set() or self.consumer is None:
            return
        for partition, end in self._ends.items():
            if await self.consumer.position(partition) < end:
                return
        log.info("hash bank updates: caught up (%s)", ", ".join(f"{bank} {n}" for bank, n in self.banks.sizes().items()))
        self.caught_up.set()

    async def on_stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    @Service.task
    async def _read(self) -> None:
        assert self.consumer is not None
        metrics = self.ctx.metrics
        while not self.should_stop:
            batches = await self.consumer.getmany(timeout_ms=500)
            with fail_fast(self.ctx):
                for records in batches.values():
                    for record in records:
                        rejection = self.apply(record.value)
                        if rejection is not None:
                            await self.dead_letters.send(rejection, key=record.key, value=record.value,
                                                         topic=self.topic, partition=record.partition,
                                                         offset=record.offset)
                    metrics.messages_in.labels(self.topic).inc(len(records))
                await self._check_caught_up()
