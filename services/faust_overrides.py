"""Every use of Faust's (and mode's and aiokafka's) internals, in one place.

Faust has no public setting or hook for these; each override is small, named here, and
tests/unit/services/test_faust_overrides.py fails when the installed Faust no longer has what it overrides,
so an upgrade shows at once what to revisit.

- KafkaTransport: Faust builds its aiokafka consumer with a fixed fetch_max_wait_ms=1500
  (AIOKafkaConsumerThread._create_worker_consumer); ours comes from ABUSEWATCH_KAFKA_FETCH_MAX_WAIT_MS.
- BoundedWorker: mode's Worker turns SIGTERM into a shutdown in _schedule_shutdown; the shutdown
  deadline (abusewatch.common.shutdown) is armed there.
- event_setter: a table written while processing a batch taken with take_events must know which
  event (partition) each write belongs to; Faust sets that only for one event at a time
  (Stream._set_current_event).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from abusewatch.common.shutdown import ShutdownDeadline


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


def event_setter(stream: faust.StreamT) -> Callable[[Any], None]:
    """The stream's setter of the current event (the one table writes are attributed to)."""
    return stream._set_current_event
