"""Prometheus metrics of the inference engine, registered on a caller-given registry."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
EFFICIENCY_BUCKETS = (0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class EngineMetrics:
    """Batch shape, queue wait, model time and throughput of one engine.

    Metric names are unique per registry: a second engine in one process needs its own registry.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        prefix = "abusewatch_inference"
        self.batch_size = Histogram(
            f"{prefix}_batch_posts", "Posts per model batch.", buckets=BATCH_SIZE_BUCKETS, registry=registry
        )
        self.padding_efficiency = Histogram(
            f"{prefix}_padding_efficiency",
            "Real tokens / padded tokens per model batch (1 = no padding).",
            buckets=EFFICIENCY_BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            f"{prefix}_queue_wait_seconds",
            "Time from a post's admission to its batch starting on the model.",
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self.model_time = Histogram(
            f"{prefix}_model_seconds", "Model time per batch.", buckets=SECONDS_BUCKETS, registry=registry
        )
        self.posts_scored = Counter(
            f"{prefix}_posts_scored",
            "Posts scored, by path: transformer, or cascade (first pass only).",
            ["path"],
            registry=registry,
        )
        self.queue_depth = Gauge(f"{prefix}_queue_depth", "Posts waiting to be batched.", registry=registry)
        self.queue_capacity = Gauge(
            f"{prefix}_queue_capacity", "Most posts admitted at once (ABUSEWATCH_QUEUE_SIZE).", registry=registry
        )
        self.device = Info(f"{prefix}_device", "Device and precision the model runs on.", registry=registry)
