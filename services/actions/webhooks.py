"""Webhook delivery in the actions service: platform-actions and escalations -> the platform's endpoints.

Its own Kafka consumer (group <app id>-webhooks, offsets committed by hand), not a Faust agent:
a receiver that is down for minutes holds only this consumer, never the actions service's agents.
A batch's offsets are committed once each of its messages is delivered, or dead-lettered
(`webhook_undelivered`), to every endpoint that wants it. The committed offset is the durable
queue: a worker stopped mid-outage commits nothing, and its successor delivers the batch again
(at least once; receivers deduplicate by the Idempotency-Key).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, IllegalStateError

from abusewatch.common.backoff import Backoff
from abusewatch.ingest.contract import ContractError, Rejection, decode_object, validate
from abusewatch.integrations.settings import WebhookSettings
from abusewatch.integrations.webhooks import DeliveryOutcome, Endpoint, WebhookDeliverer, WebhookEvent, WebhookMetrics
from abusewatch.services.common import DeadLetterSink, ServiceContext, fail_fast, record_consumer_lag

log = logging.getLogger(__name__)

TOPICS = ("platform-actions", "escalations")
MAX_POLL_INTERVAL_S = 3600.0  # a batch's deliveries get half of it (deliver_batch's deadline)


async def deliver_webhooks(
    ctx: ServiceContext, settings: WebhookSettings, endpoints: list[Endpoint], dead_letters: DeadLetterSink
) -> None:
    """Run until cancelled (the worker stopping)."""
    names = {ctx.kafka.topic(name): name for name in TOPICS}
    consumer = AIOKafkaConsumer(
        *names,
        bootstrap_servers=ctx.kafka.bootstrap.split(","),
        group_id=f"{ctx.app_id}-webhooks",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(ctx.kafka.session_timeout_s * 1000),
        heartbeat_interval_ms=int(ctx.kafka.heartbeat_interval_s * 1000),
        # A batch may be retried for as long as its endpoints' attempt budgets last.
        max_poll_interval_ms=int(MAX_POLL_INTERVAL_S * 1000),
        max_partition_fetch_bytes=ctx.kafka.max_message_bytes,
    )
    metrics = WebhookMetrics.create(ctx.metrics.registry)
    await consumer.start()
    log.info("delivering webhooks to %d endpoints: %s", len(endpoints), ", ".join(e.name for e in endpoints))
    try:
        async with aiohttp.ClientSession() as session:
            deliverer = WebhookDeliverer(
                session,
                backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
                max_attempts=settings.max_attempts,
                timeout_s=settings.timeout_s,
                metrics=metrics,
            )
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=settings.batch_max)
                await record_consumer_lag(consumer, ctx.metrics)
                records = [record for partition in batches.values() for record in partition]
                if not records:
                    continue
                with fail_fast(ctx):  # an unexpected error: exit uncommitted, the batch is delivered again
                    # Half the poll interval for the batch: the commit must come before the group
                    # gives its partitions to another worker.
                    deadline = time.monotonic() + MAX_POLL_INTERVAL_S / 2
                    await deliver_batch(ctx, names, records, deliverer, endpoints, dead_letters, deadline)
                    try:
                        await consumer.commit()
                    except (CommitFailedError, IllegalStateError) as exc:
                        # A rebalance took the partitions meanwhile: their new owner delivers the
                        # batch again (receivers deduplicate by Idempotency-Key). Not a reason to exit.
                        log.warning("webhooks: batch delivered but not committed (%s); it will be delivered again", exc)
    finally:
        await consumer.stop()  # without committing: what was not committed is delivered again


async def deliver_batch(
    ctx: ServiceContext,
    names: dict[str, str],
    records: list[Any],
    deliverer: WebhookDeliverer,
    endpoints: list[Endpoint],
    dead_letters: DeadLetterSink,
    deadline: float | None = None,
) -> None:
    events: list[WebhookEvent] = []
    origin: dict[str, Any] = {}
    for record in records:
        ctx.metrics.messages_in.labels(record.topic).inc()
        message = _decode(names[record.topic], record.value)
        if isinstance(message, Rejection):  # not written by a current actions service; never sent
            await _dead_letter(dead_letters, record, message)
            continue
        event = WebhookEvent.from_message(names[record.topic], message)
        events.append(event)
        origin[event.id] = record

    async def undelivered(outcome: DeliveryOutcome) -> None:
        reason = (f"endpoint {outcome.endpoint.name}: {outcome.event.type} {outcome.event.id} not delivered after "
                  f"{outcome.attempts} attempts: {outcome.last_error}")
        await _dead_letter(dead_letters, origin[outcome.event.id], Rejection("webhook_undelivered", reason))

    await deliverer.deliver_all(endpoints, events, undelivered, deadline)


def _decode(topic: str, raw: bytes | None) -> dict[str, Any] | Rejection:
    message = decode_object(raw or b"")
    if isinstance(message, Rejection):
        return message
    try:
        validate(topic, message)
    except ContractError as exc:
        return Rejection("schema_violation", str(exc))
    return message


async def _dead_letter(dead_letters: DeadLetterSink, record: Any, rejection: Rejection) -> None:
    await dead_letters.send(rejection, key=record.key, value=record.value, topic=record.topic,
                            partition=record.partition, offset=record.offset)
