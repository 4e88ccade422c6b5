"""The services' Kafka transport: the consumer's fetch wait comes from settings, not Faust's 1,500 ms."""

from __future__ import annotations

import asyncio

import faust

from abusewatch.services.common import KafkaTransport


def test_worker_consumer_uses_the_configured_fetch_wait() -> None:
    async def build_consumer() -> int:
        app = faust.App("transport-test", broker="kafka://127.0.0.1:9")
        app.transport = KafkaTransport(app.conf.broker_consumer, app, fetch_max_wait_ms=77)
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        return consumer._fetch_max_wait_ms

    assert asyncio.run(build_consumer()) == 77
