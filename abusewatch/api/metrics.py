"""Prometheus metrics of the HTTP API, on the registry /metrics exposes."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def route_label(request: web.Request) -> str:
    """The route template a request matched, or "unmatched"."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


class ApiMetrics:
    """Requests by route and status, their latency, and load shedding. Routes are templates
    ("/v1/targets/{target_id}/history"), never concrete paths, so ids do not become label values."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "abusewatch_api_requests", "HTTP requests answered, by route, method and status.",
            ["route", "method", "status"], registry=registry,
        )
        self.request_seconds = Histogram(
            "abusewatch_api_request_seconds", "Time to answer an HTTP request, by route.",
            ["route"], buckets=SECONDS_BUCKETS, registry=registry,
        )
        self.in_flight = Gauge(
            "abusewatch_api_in_flight", "Requests being handled now (probes and /metrics not counted).",
            registry=registry,
        )
        self.shed = Counter(
            "abusewatch_api_shed", "Requests refused under load, by reason: in_flight_limit (429), "
            "engine_overloaded or engine_not_ready (503).", ["reason"], registry=registry,
        )
        self.timeouts = Counter(
            "abusewatch_api_timeouts", "Requests answered 504 after ABUSEWATCH_API_REQUEST_TIMEOUT_S, by route.",
            ["route"], registry=registry,
        )
