"""What every stream service shares: settings, metrics, the Faust app, health and readiness.

A service module (services/<role>/app.py) defines `build(ctx) -> faust.App`: it creates its
topics with `raw_topic`, registers its agents, and adds readiness checks to `ctx`. Agents read like
decode -> pure library call -> send; no domain logic lives here or in the agents.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import faust
import mode
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector, generate_latest

from abusewatch.common import config
from abusewatch.ingest.contract import Rejection, dead_letter, dead_letter_size_bound, encode
from abusewatch.common.settings import DeadLetterSettings, IngestSettings, KafkaSettings, ServiceSettings
from abusewatch.common.tracing import Tracing, TracingSettings
from abusewatch.services.faust_overrides import KafkaTransport

log = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"
# Exit status of a worker that stopped itself on an unexpected error (see fail_fast).
EXIT_UNEXPECTED_ERROR = 70
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
LAG_INTERVAL_S = 5.0  # how often each consumer's lag gauge is refreshed


@dataclasses.dataclass
class ServiceMetrics:
    """Prometheus metrics every service exports. One registry per service process (Prometheus adds
    job/instance labels when scraping), so the metrics carry only the labels that vary inside it."""

    registry: CollectorRegistry
    messages_in: Counter  # labels: topic
    messages_out: Counter  # labels: topic
    dead_lettered: Counter  # labels: topic (where the message was read), reason
    dead_letters_failed: Counter  # labels: topic, reason
    processing_seconds: Histogram
    batch_size: Histogram
    consumer_lag: Gauge  # labels: topic, partition

    @classmethod
    def create(cls, role: str) -> ServiceMetrics:
        registry = CollectorRegistry()
        # process_start_time_seconds changes when a role restarts: the restart alert watches it.
        ProcessCollector(registry=registry)
        Info("abusewatch_service", "Which service role this process runs", registry=registry).info({"role": role})
        return cls(
            registry=registry,
            messages_in=Counter("abusewatch_messages_in", "Messages consumed", ["topic"], registry=registry),
            messages_out=Counter("abusewatch_messages_out", "Messages produced", ["topic"], registry=registry),
            dead_lettered=Counter(
                "abusewatch_messages_dead_lettered",
                "Messages dead-lettered, by the topic they were read from and the reason",
                ["topic", "reason"],
                registry=registry,
            ),
            dead_letters_failed=Counter(
                "abusewatch_dead_letters_failed",
                "Messages that could not even be dead-lettered (the send failed); skipped after a log line",
                ["topic", "reason"],
                registry=registry,
            ),
            processing_seconds=Histogram(
                "abusewatch_processing_seconds",
                "Time from taking a batch off the stream to sending its outputs",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            batch_size=Histogram(
                "abusewatch_stream_batch_size", "Messages per batch taken from the stream",
                buckets=BATCH_BUCKETS, registry=registry,
            ),
            consumer_lag=Gauge(
                "abusewatch_consumer_lag",
                "High watermark minus position, per assigned partition",
                ["topic", "partition"],
                registry=registry,
            ),
        )


@dataclasses.dataclass
class ServiceContext:
    """Everything a service needs, built once from the environment and passed down explicitly."""

    role: str
    kafka: KafkaSettings
    service: ServiceSettings
    metrics: ServiceMetrics
    dead_letters: DeadLetterSettings = dataclasses.field(default_factory=DeadLetterSettings)
    tracing: Tracing = dataclasses.field(default_factory=Tracing.disabled)
    readiness_checks: list[Callable[[], bool]] = dataclasses.field(default_factory=list)

    @classmethod
    def from_env(cls, role: str) -> ServiceContext:
        kafka = config.load(KafkaSettings)
        dead_letters = config.load(DeadLetterSettings)
        check_message_limits(kafka, config.load(IngestSettings), dead_letters)
        return cls(
            role=role,
            kafka=kafka,
            service=config.load(ServiceSettings),
            metrics=ServiceMetrics.create(role),
            dead_letters=dead_letters,
            tracing=Tracing.from_settings(role, config.load(TracingSettings)),
        )

    @property
    def port(self) -> int:
        return getattr(self.service, f"{self.role}_port")

    @property
    def app_id(self) -> str:
        return self.kafka.topic(f"abusewatch-{self.role}")

    def is_ready(self) -> bool:
        return all(check() for check in self.readiness_checks)


# A post-scores message carries its post plus scores, model and bookkeeping fields.
POST_SCORES_OVERHEAD_BYTES = 8_192


def check_message_limits(kafka: KafkaSettings, ingest: IngestSettings, dead_letters: DeadLetterSettings) -> None:
    """Every record a service may send must fit under the Kafka record limit: a dead letter of any
    input, and the post-scores message of the largest accepted post. Raises ConfigError otherwise."""
    limit = kafka.max_message_bytes
    problems = []
    if dead_letter_size_bound(dead_letters.keep_bytes) > limit:
        problems.append(
            f"ABUSEWATCH_DEAD_LETTER_KEEP_BYTES={dead_letters.keep_bytes} makes dead letters of up to "
            f"{dead_letter_size_bound(dead_letters.keep_bytes)} bytes"
        )
    if ingest.max_message_bytes + POST_SCORES_OVERHEAD_BYTES > limit:
        problems.append(
            f"ABUSEWATCH_MAX_MESSAGE_BYTES={ingest.max_message_bytes} admits posts whose post-scores message "
            f"may exceed it by up to {POST_SCORES_OVERHEAD_BYTES} bytes"
        )
    if problems:
        raise config.ConfigError(f"ABUSEWATCH_KAFKA_MAX_MESSAGE_BYTES={limit} is too small: {'; '.join(problems)}")


class _SendsRecords(Protocol):
    def __call__(self, *, key: bytes | None, value: bytes) -> Awaitable[Any]: ...


class DeadLetterSink:
    """Dead-letters bad input for one service: builds the bounded dead letter (abusewatch.ingest.contract),
    sends it and waits for the broker's acknowledgement, counts it. A dead letter that cannot be
    sent (the client or the broker refuses it, say) is logged and counted instead of raising, so no
    input can stop the service; the caller commits past it."""

    def __init__(self, ctx: ServiceContext, send: _SendsRecords, schema: str) -> None:
        self._ctx = ctx
        self._send = send
        self._schema = schema

    async def send(
        self, rejection: Rejection, *, key: bytes | None, value: bytes | None, topic: str, partition: int, offset: int
    ) -> None:
        message = dead_letter(
            rejection, value, topic=topic, partition=partition, offset=offset, service=self._ctx.role,
            keep_bytes=self._ctx.dead_letters.keep_bytes, schema=self._schema,
        )
        metrics = self._ctx.metrics
        try:
            sent = await self._send(key=key if key is None or len(key) <= 1024 else None, value=encode(message))
            if inspect.isawaitable(sent):  # a Faust topic's send: the future of the broker's acknowledgement
                # Waited for without cancelling it (Faust completes the future later either way).
                done, _ = await asyncio.wait({asyncio.ensure_future(sent)}, timeout=self._ctx.dead_letters.ack_timeout_s)
                if not done:
                    raise TimeoutError(f"no acknowledgement within {self._ctx.dead_letters.ack_timeout_s:g} s")
                done.pop().result()
        except Exception:  # noqa: BLE001 - whatever the client raises, the input must not stop the service
            metrics.dead_letters_failed.labels(topic, rejection.code).inc()
            log.error(
                "%s: could not dead-letter the message at %s[%d]@%d (%s); skipped",
                self._ctx.role, topic, partition, offset, rejection.code, exc_info=True,
            )
            return
        metrics.dead_lettered.labels(topic, rejection.code).inc()
        log.warning("%s: dead-lettered %s[%d]@%d: %s", self._ctx.role, topic, partition, offset, rejection.code)


def create_app(ctx: ServiceContext) -> faust.App:
    """A Faust app for `ctx.role` with health, readiness and metrics on 127.0.0.1:<port>."""
    data_dir = Path(ctx.kafka.data_dir) / ctx.app_id
    # Faust creates only the last level; a fresh ABUSEWATCH_DATA_DIR (a new volume, a new checkout)
    # may not exist at all yet.
    data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        ctx.app_id,
        broker=[f"kafka://{server}" for server in ctx.kafka.bootstrap.split(",")],
        store=ctx.kafka.table_store,
        datadir=str(data_dir),
        web_host=ctx.service.host,
        web_bind=ctx.service.host,
        web_port=ctx.port,
        broker_session_timeout=ctx.kafka.session_timeout_s,
        broker_heartbeat_interval=ctx.kafka.heartbeat_interval_s,
        topic_partitions=ctx.kafka.partitions,
        topic_replication_factor=ctx.kafka.replication_factor,
        # Tansu auto-creates topics with 4 partitions; every topic is created explicitly instead.
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=ctx.kafka.producer_linger_ms / 1000,
        producer_max_batch_size=ctx.kafka.producer_batch_bytes(),
        # One record limit for every client (check_message_limits): larger sends fail at the client
        # instead of at the broker, and no partition can hold a record its consumers cannot fetch.
        producer_max_request_size=ctx.kafka.max_message_bytes,
        consumer_max_fetch_size=ctx.kafka.max_message_bytes,
    )
    app.transport = KafkaTransport(app.conf.broker_consumer, app, ctx.kafka.fetch_max_wait_ms)
    ctx.readiness_checks.append(lambda: bool(app.consumer.assignment()) if app.consumer else False)
    metrics = ctx.metrics

    @app.page("/healthz")
    async def healthz(web, request):  # noqa: ANN001 - Faust view signature
        return web.json({"status": "ok", "service": ctx.role})

    @app.page("/readyz")
    async def readyz(web, request):  # noqa: ANN001
        ready = ctx.is_ready()
        return web.json({"ready": ready, "service": ctx.role}, status=200 if ready else 503)

    @app.page("/metrics")
    async def prometheus_metrics(web, request):  # noqa: ANN001
        # aiohttp wants the charset apart from the content type.
        return web.bytes(generate_latest(metrics.registry), content_type=PROMETHEUS_CONTENT_TYPE)

    @app.timer(LAG_INTERVAL_S)
    async def record_agents_lag() -> None:
        await record_consumer_lag(app.consumer, metrics)

    return app


async def record_consumer_lag(consumer: Any, metrics: ServiceMetrics) -> None:
    """Set the lag gauge for each partition assigned to a consumer (Faust's or a plain aiokafka one:
    both have assignment, position and highwater). Lag comes from the fetch high watermark because
    Tansu's ListOffsets(latest) is wrong for batches."""
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is None:  # nothing fetched from it yet
            continue
        position = await consumer.position(tp)
        if position is not None:
            metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(highwater - position, 0))


def raw_topic(app: faust.App, ctx: ServiceContext, name: str) -> faust.TopicT:
    """A topic of raw bytes (the contract encodes with orjson), named with the configured prefix."""
    return app.topic(
        ctx.kafka.topic(name),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=ctx.kafka.partitions,
    )


@contextlib.contextmanager
def fail_fast(ctx: ServiceContext) -> Iterator[None]:
    """Around one batch: an unexpected error ends the process at once, without committing.

    Faust acks a batch taken with take_events even when the agent body raises, and the next commit
    would then skip it. Exiting immediately keeps at-least-once delivery: the restarted worker (by
    Kubernetes, Compose or `abusewatch run`) re-reads the batch from the last commit.
    """
    try:
        yield
    except Exception:
        log.critical("%s: unexpected error while processing a batch; exiting to be restarted", ctx.role, exc_info=True)
        logging.shutdown()
        os._exit(EXIT_UNEXPECTED_ERROR)


class TopicFeed(mode.Service):
    """A whole topic read by every worker of a role, from the earliest offset the broker keeps (no
    consumer group): state each worker must hold in full, such as the live hash-bank updates or
    the detector's campaign authors. Subclasses say what one record does (`apply`, returning why it
    is invalid, nothing applied, or None); invalid records are dead-lettered and skipped.
    `caught_up` is set once the worker has read up to where the topic ended when it started."""

    client_name: str = "feed"

    def __init__(self, ctx: ServiceContext, topic: str, dead_letters: DeadLetterSink, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self.topic = topic
        self.dead_letters = dead_letters
        self.consumer: Any = None
        self.caught_up = asyncio.Event()
        self._ends: dict[Any, int] = {}

    def apply(self, value: bytes | None) -> Rejection | None:
        raise NotImplementedError

    async def on_start(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        kafka = self.ctx.kafka
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap, group_id=None, client_id=f"{self.ctx.app_id}-{self.client_name}",
            enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=kafka.fetch_max_wait_ms,
            max_partition_fetch_bytes=kafka.max_message_bytes,
        )
        await self.consumer.start()
        await self.consumer.topics()  # metadata, for the topic's partitions
        partitions = [TopicPartition(self.topic, p) for p in sorted(self.consumer.partitions_for_topic(self.topic) or {0})]
        self.consumer.assign(partitions)
        self._ends = await self.consumer.end_offsets(partitions)
        await self._check_caught_up()

    async def on_stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def _check_caught_up(self) -> None:
        if self.caught_up.is_set() or self.consumer is None:
            return
        for partition, end in self._ends.items():
            if await self.consumer.position(partition) < end:
                return
        log.info("%s: caught up with %s", self.client_name, self.topic)
        self.caught_up.set()

    @mode.Service.task
    async def _read(self) -> None:
        metrics = self.ctx.metrics
        while not self.should_stop:
            batches = await self.consumer.getmany(timeout_ms=500)
            with fail_fast(self.ctx):
                for records in batches.values():
                    for record in records:
                        rejection = self.apply(record.value)
                        if rejection is not None:
                            await self.dead_letters.send(rejection, key=record.key, value=record.value, topic=self.topic,
                                                         partition=record.partition, offset=record.offset)
                    metrics.messages_in.labels(self.topic).inc(len(records))
                await self._check_caught_up()
