"""Prometheus metrics of the HTTP API, on the registry /metrics exposes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """Requests by route and status, and their latency. Routes are templates ("/v1/targets/{target_id}/history"),
    never concrete paths, so ids do not become label values."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "abusewatch_api_requests", "HTTP requests answered, by route, method and status.",
            ["route", "method", "status"], registry=registry,
        )
        self.request_seconds = Histogram(
            "abusewatch_api_request_seconds", "Time to answer an HTTP request, by route.",
            ["route"], buckets=SECONDS_BUCKETS, registry=registry,
        )
