"""Fixtures for tests against real parts: the embedded Kafka-protocol broker, the shipped model,
PostgreSQL where it runs (SQLite otherwise). Every test gets its own topic prefix and ports."""

from __future__ import annotations

import os
import socket
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from abusewatch.devstack.broker import EmbeddedBroker, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(port=free_port()) as running:
        yield running


def postgres_available(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def evidence_dsn(tmp_path):
    """The evidence locker for a test: a throwaway schema in PostgreSQL's `test` database, or a
    SQLite file where PostgreSQL is not running."""
    if not postgres_available():
        yield f"sqlite:///{tmp_path / 'evidence.sqlite3'}"
        return
    import psycopg

    schema = f"evidence_it_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    yield f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


# Test mode: production timers and timeouts sized for a test that lasts a minute, not a service
# that runs for months. A test that is about one of these sets its own value (stack_env's extra).
TEST_MODE = {
    "ABUSEWATCH_KAFKA_SESSION_TIMEOUT_S": "6",  # a killed worker's partitions move on in seconds
    "ABUSEWATCH_KAFKA_HEARTBEAT_S": "2",
    "ABUSEWATCH_SHUTDOWN_TIMEOUT_S": "10",  # a stop that hangs fails the test sooner
    "ABUSEWATCH_EVIDENCE_TIMEOUT_S": "3",
    "ABUSEWATCH_ACTIONS_LOCKER_PROBE_S": "1",
    "ABUSEWATCH_ACTIONS_LOCKER_RETRY_MAX_S": "2",
    "ABUSEWATCH_EVIDENCE_PURGE_INTERVAL_S": "86400",  # no retention purge in the middle of a test
    "ABUSEWATCH_POLICY_RELOAD_S": "1",
    "ABUSEWATCH_RESTART_BACKOFF_MAX_S": "5",
}


def stack_env(broker: EmbeddedBroker, tmp_path, **extra: str) -> dict[str, str]:
    """Environment for a Stack under test: test mode, unique prefix, free ports, its own data dir."""
    env = {
        **TEST_MODE,
        "KAFKA_BOOTSTRAP": broker.bootstrap,
        "ABUSEWATCH_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}-",
        "ABUSEWATCH_DATA_DIR": str(tmp_path / "var"),
        "ABUSEWATCH_CLASSIFIER_PORT": str(free_port()),
        "ABUSEWATCH_DETECTOR_PORT": str(free_port()),
        "ABUSEWATCH_ACTIONS_PORT": str(free_port()),
        "ABUSEWATCH_API_PORT": str(free_port()),
        "ABUSEWATCH_API_TOKEN": "test-token",
        "ABUSEWATCH_EVIDENCE_DSN": f"sqlite:///{tmp_path / 'evidence.sqlite3'}",
        "ABUSEWATCH_CPU_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


class TopicReader:
    """Reads a whole topic from the beginning with manual assignment (no group join delay)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
        partitions = None
        deadline = time.monotonic() + 10
        while not partitions and time.monotonic() < deadline:
            partitions = self.consumer.partitions_for_topic(topic)
            if not partitions:
                time.sleep(0.2)
        assert partitions, f"topic {topic} does not exist"
        self.consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        self.consumer.seek_to_beginning()
        self.records: list = []

    def poll(self) -> list:
        for batch in self.consumer.poll(timeout_ms=200).values():
            self.records.extend(batch)
        return self.records

    def messages(self) -> list[dict]:
        return [orjson.loads(r.value) for r in self.poll()]

    def wait_for(self, predicate: Callable[[list[dict]], bool], timeout_s: float, what: str) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while True:
            messages = self.messages()
            if predicate(messages):
                return messages
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s}s waiting for {what} on {self.topic}; got {len(messages)} messages")
            time.sleep(0.2)

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def producer(broker: EmbeddedBroker) -> Iterator[KafkaProducer]:
    prod = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
    yield prod
    prod.close()


def service_metric(stack, role: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples on a running role's /metrics, over those with the given labels."""
    body = urllib.request.urlopen(stack.url(role, "/metrics"), timeout=5).read().decode()
    total = 0.0
    for line in body.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def send_posts(producer: KafkaProducer, topic: str, posts: list) -> None:
    """Send dicts as JSON (keyed by post_id) or raw bytes as they are."""
    for post in posts:
        if isinstance(post, bytes):
            producer.send(topic, value=post)
        else:
            key = str(post.get("post_id", "")).encode() or None
            producer.send(topic, key=key, value=orjson.dumps(post))
    producer.flush()


os.environ.setdefault("HF_HUB_OFFLINE", "1")
