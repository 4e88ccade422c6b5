"""What every stream service shares: settings, metrics, the Faust app, health and readiness.

A service module (services/<role>/app.py) defines `build(ctx) -> faust.App`: it creates its
topics with `raw_topic`, registers its agents, and adds readiness checks to `ctx`. Agents read like
decode -> pure library call -> send; no domain logic lives here or in the agents.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

from abusewatch import config
from abusewatch.settings import KafkaSettings, ServiceSettings
from abusewatch.shutdown import ShutdownDeadline

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
    dead_lettered: Counter  # labels: topic, reason
    processing_seconds: Histogram
    batch_size: Histogram
    consumer_lag: Gauge  # labels: topic, partition

    @classmethod
    def create(cls, role: str) -> ServiceMetrics:
        registry = CollectorRegistry()
        Info("abusewatch_service", "Which service role this process runs", registry=registry).info({"role": role})
        return cls(
            registry=registry,
            messages_in=Counter("abusewatch_messages_in", "Messages consumed", ["topic"], registry=registry),
            messages_out=Counter("abusewatch_messages_out", "Messages produced", ["topic"], registry=registry),
            dead_lettered=Counter(
                "abusewatch_messages_dead_lettered",
                "Messages sent to a dead-letter topic, by reason",
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
    readiness_checks: list[Callable[[], bool]] = dataclasses.field(default_factory=list)

    @classmethod
    def from_env(cls, role: str) -> ServiceContext:
        return cls(
            role=role,
            kafka=config.load(KafkaSettings),
            service=config.load(ServiceSettings),
            metrics=ServiceMetrics.create(role),
        )

    @property
    def port(self) -> int:
        return getattr(self.service, f"{self.role}_port")

    @property
    def app_id(self) -> str:
        return self.kafka.topic(f"abusewatch-{self.role}")

    def is_ready(self) -> bool:
        return all(check() for check in self.readiness_checks)


class _FetchWaitConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: faust_aiokafka.Transport):  # noqa: ANN202 - aiokafka type
        consumer = super()._create_worker_consumer(transport)
        # Faust passes a fixed fetch_max_wait_ms=1500 and has no setting for it; aiokafka reads
        # this attribute when the consumer starts (it builds its fetcher then).
        consumer._fetch_max_wait_ms = transport.fetch_max_wait_ms
        return consumer


class _FetchWaitConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _FetchWaitConsumerThread:
        return _FetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)


class KafkaTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with the consumer's fetch wait taken from KafkaSettings."""

    Consumer = _FetchWaitConsumer

    def __init__(self, url: list, app: faust.App, fetch_max_wait_ms: int) -> None:
        super().__init__(url, app)
        self.fetch_max_wait_ms = fetch_max_wait_ms


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


class BoundedWorker(faust.Worker):
    """The Faust worker owns the event loop and turns SIGTERM/SIGINT into a clean shutdown (it
    flushes the producers and commits offsets), which is what Kubernetes sends on pod stop. The
    deadline bounds that shutdown, and the one after a crash."""

    def __init__(self, app: faust.App, deadline: ShutdownDeadline, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.deadline = deadline

    def _schedule_shutdown(self, signum: signal.Signals) -> None:
        self.deadline.arm()
        super()._schedule_shutdown(signum)

    def on_worker_shutdown(self) -> None:
        self.deadline.arm()
