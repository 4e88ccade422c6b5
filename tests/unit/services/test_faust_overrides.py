"""The Faust internals abusewatch overrides (services/faust_overrides.py) still exist as overridden,
and the overrides still do what they are for. A Faust, mode or aiokafka upgrade that changes one
fails here first, naming it."""

from __future__ import annotations

import asyncio
import inspect
import signal

import faust
import mode
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from abusewatch.common.shutdown import ShutdownDeadline
from abusewatch.services.faust_overrides import BoundedWorker, KafkaTransport, event_setter


def test_faust_still_builds_its_consumer_with_a_fixed_fetch_wait_in_the_method_we_override():
    method = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer
    assert list(inspect.signature(method).parameters) == ["self", "transport"]
    # Still hard-coded there: when Faust grows a setting for it, use that and drop the override.
    assert "fetch_max_wait_ms=1500" in inspect.getsource(method)


def test_aiokafka_still_reads_the_fetch_wait_from_the_attribute_we_set():
    async def build() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", fetch_max_wait_ms=123)

    assert asyncio.run(build())._fetch_max_wait_ms == 123
    assert "self._fetch_max_wait_ms" in inspect.getsource(AIOKafkaConsumer.start)


def test_worker_consumer_uses_the_configured_fetch_wait() -> None:
    async def build_consumer() -> int:
        app = faust.App("transport-test", broker="kafka://127.0.0.1:9")
        app.transport = KafkaTransport(app.conf.broker_consumer, app, fetch_max_wait_ms=77)
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        return consumer._fetch_max_wait_ms

    assert asyncio.run(build_consumer()) == 77


def test_mode_still_turns_a_signal_into_a_shutdown_in_the_method_we_override():
    method = mode.Worker._schedule_shutdown
    assert list(inspect.signature(method).parameters) == ["self", "signal"]
    assert BoundedWorker._schedule_shutdown is not method


def test_the_shutdown_deadline_is_armed_by_the_signal_path(monkeypatch):
    armed = []
    deadline = ShutdownDeadline("test", 15.0)
    monkeypatch.setattr(deadline, "arm", lambda: armed.append(True))
    worker = BoundedWorker.__new__(BoundedWorker)  # the method alone: no event loop, no app
    worker.deadline = deadline
    monkeypatch.setattr(mode.Worker, "_schedule_shutdown", lambda self, signum: None)
    worker._schedule_shutdown(signal.SIGTERM)
    assert armed == [True]


def test_faust_streams_still_have_the_current_event_setter():
    async def setter_of_a_stream():
        app = faust.App("event-setter-test", broker="kafka://127.0.0.1:9")
        stream = app.stream([])
        return stream, event_setter(stream)

    stream, setter = asyncio.run(setter_of_a_stream())
    assert list(inspect.signature(setter).parameters) == ["event"]
    setter(None)  # accepted: no current event
    assert stream.current_event is None
