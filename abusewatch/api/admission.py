"""Admission control and the request timeout for the API (TEI's request semaphore, at the door).

A request past `ABUSEWATCH_API_MAX_IN_FLIGHT` concurrent ones is answered 429 at once rather than
queued: a queue in front of the engine only turns overload into seconds of latency for everyone.
An admitted request gets `ABUSEWATCH_API_REQUEST_TIMEOUT_S`; when it runs out the handler is
cancelled, which cancels its engine call, and the engine's queue drops the posts still waiting
(abusewatch.scoring.inference.queue). Probes and /metrics are never shed nor timed out: an orchestrator
must see an overloaded API as alive and a scraper must see the overload. The console's live event
stream is held open for as long as its page is, so it is neither shed nor timed out either.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from abusewatch.api.auth import LONG_LIVED_PATHS, UNAUTHENTICATED_PATHS
from abusewatch.api.errors import ApiConfigError, RetryLater
from abusewatch.api.metrics import ApiMetrics, route_label
from abusewatch.api.settings import ApiSettings


def load_shedding_middleware(settings: ApiSettings, metrics: ApiMetrics) -> Middleware:
    in_flight = 0  # requests inside the handler now; the event loop is the only writer

    @web.middleware
    async def shed_load(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal in_flight
        if request.path in UNAUTHENTICATED_PATHS or request.path in LONG_LIVED_PATHS:
            return await handler(request)
        if in_flight >= settings.max_in_flight:
            metrics.shed.labels("in_flight_limit").inc()
            raise RetryLater(
                429, f"Too many requests in flight (limit {settings.max_in_flight}); retry later.", "in_flight_limit"
            )
        in_flight += 1
        metrics.in_flight.set(in_flight)
        try:
            async with asyncio.timeout(settings.request_timeout_s) as deadline:
                return await handler(request)
        except RetryLater as shed:  # the engine refused the work (503)
            metrics.shed.labels(shed.reason).inc()
            raise
        except TimeoutError:
            if not deadline.expired():
                raise  # a TimeoutError of the handler's own, not ours
            metrics.timeouts.labels(route_label(request)).inc()
            raise RetryLater(
                504, f"The request did not finish within {settings.request_timeout_s:g} s; retry later.", "timeout"
            ) from None
        finally:
            in_flight -= 1
            metrics.in_flight.set(in_flight)

    return shed_load


def check_limits(settings: ApiSettings) -> None:
    """Raise ApiConfigError for limits that would refuse everything or never answer."""
    if settings.max_in_flight < 1:
        raise ApiConfigError(f"ABUSEWATCH_API_MAX_IN_FLIGHT must be at least 1, got {settings.max_in_flight}")
    if not settings.request_timeout_s > 0:
        raise ApiConfigError(f"ABUSEWATCH_API_REQUEST_TIMEOUT_S must be above 0, got {settings.request_timeout_s}")
    if settings.retry_after_s < 0:
        raise ApiConfigError(f"ABUSEWATCH_API_RETRY_AFTER_S must be 0 or more, got {settings.retry_after_s}")
