"""Hostile input on every input topic, through the running services (real broker, real model).

More than 10,000 hostile messages go to posts, post-scores, target-alerts, appeals and the
detector's internal topics. Afterwards every service is still the same process (none exited), every
message is accounted for (scored or dead-lettered, by source offset), every dead letter validates
and is bounded, no dead letter is a processing error (that would be a bug), and the metrics agree
with what is on the topics.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from kafka import KafkaProducer

from abusewatch.ingest import contract
from abusewatch.ingest.contract import Rejection, validate_message
from abusewatch.detection.rekey import unpack
from abusewatch.services.detector.app import CAMPAIGN_AUTHORS_TOPIC, REKEYED_TOPIC
from abusewatch.devstack.stack import Stack
from tests.hostile import hostile_messages

from .conftest import service_metric, TopicReader, stack_env

pytestmark = pytest.mark.integration

COUNTS = {  # hostile messages per input topic: 10,000 and more in all
    "posts": 3_600,
    "post-scores": 2_400,
    "target-alerts": 1_600,
    "appeals": 1_600,
    REKEYED_TOPIC: 600,
    CAMPAIGN_AUTHORS_TOPIC: 400,
}
VALID_POSTS = 200  # ordinary posts mixed in: they must come out scored
KEEP_BYTES = 16_384  # smaller than the default so that truncation is exercised


def _valid_post(index: int, now: datetime) -> dict:
    return {"post_id": f"ok-{index}", "author_id": f"a-{index % 17}", "text": f"nice photo number {index}",
            "created_at": (now - timedelta(seconds=index)).isoformat(), "reply_to_user_id": f"t-{index % 5}"}


def test_hostile_input_on_every_topic_stops_nothing_and_everything_is_accounted_for(broker, tmp_path, evidence_dsn):
    # The evidence locker on PostgreSQL: it refuses what SQLite stores (NUL characters in text).
    env = stack_env(broker, tmp_path, ABUSEWATCH_DEAD_LETTER_KEEP_BYTES=str(KEEP_BYTES),
                    ABUSEWATCH_EVIDENCE_DSN=evidence_dsn)
    stack = Stack(roles=("classifier", "detector", "actions"), env=env, embedded_broker=False)
    stack.start(ready_timeout_s=240)
    pids = {role: process.pid for role, process in stack.processes.items()}
    topic = stack.kafka.topic
    readers = {name: TopicReader(broker.bootstrap, topic(name)) for name in ("post-scores", "posts-dlq", "dead-letters")}
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20, max_request_size=16 * 1024 * 1024,
                             delivery_timeout_ms=600_000, request_timeout_ms=120_000)
    try:
        now = datetime.now(timezone.utc)
        sent: dict[str, list[tuple[int, int, bytes | None]]] = {}
        for name, count in COUNTS.items():
            messages = list(hostile_messages(name if name in contract.TOPICS else "post-scores", count, seed=7))
            if name == "posts":
                messages += [orjson.dumps(_valid_post(i, now)) for i in range(VALID_POSTS)]
            # A null value needs a key (a tombstone); keys vary so records spread over partitions.
            futures = [(producer.send(topic(name), key=f"fuzz-{i}".encode(), value=raw), raw)
                       for i, raw in enumerate(messages)]
            producer.flush()
            sent[name] = [(f.get(timeout=30).partition, f.get(timeout=30).offset, raw) for f, raw in futures]
        total = sum(len(v) for v in sent.values())
        assert total >= 10_000

        # posts: every one is scored (once per distinct post_id: later copies are duplicate_post_id
        # dead letters) or dead-lettered, by its source offset.
        posts_offsets = {(p, o) for p, o, _ in sent["posts"]}
        fuzzed_scores = {(p, o) for p, o, _ in sent["post-scores"]}

        def classifier_outputs() -> set[str]:
            return {orjson.loads(r.value)["post_id"] for r in readers["post-scores"].poll()
                    if (r.partition, r.offset) not in fuzzed_scores}

        readers["posts-dlq"].wait_for(lambda dlq: len(dlq) + len(classifier_outputs()) >= len(sent["posts"]), 600,
                                      "every post scored or dead-lettered")
        time.sleep(3)  # anything beyond the count would be a duplicate output
        dlq = readers["posts-dlq"].messages()
        dlq_offsets = [(m["source"]["partition"], m["source"]["offset"]) for m in dlq]
        assert len(dlq_offsets) == len(set(dlq_offsets)) and set(dlq_offsets) <= posts_offsets
        assert len(dlq) + len(classifier_outputs()) == len(sent["posts"])
        assert {f"ok-{i}" for i in range(VALID_POSTS)} <= classifier_outputs()

        # Internal topics: each consuming service dead-letters exactly the messages that fail
        # validation (and, for the detector, event times from the future), and nothing else.
        consumers = {"post-scores": ("detector", "actions"), "target-alerts": ("actions",), "appeals": ("actions",),
                     REKEYED_TOPIC: ("detector",), CAMPAIGN_AUTHORS_TOPIC: ("detector",)}
        expected = {(role, name): _expected_invalid(name, sent[name], role) for name, roles in consumers.items()
                    for role in roles}

        def internal_accounted(messages: list) -> bool:
            have = Counter((m["service"], _unprefixed(stack, m["source"]["topic"])) for m in messages)
            return all(have[key] >= len(offsets) for key, offsets in expected.items())

        letters = readers["dead-letters"].wait_for(internal_accounted, 300, "the internal topics' dead letters")
        time.sleep(3)  # anything else still in flight
        letters = readers["dead-letters"].messages()
        for letter in letters + dlq:
            contract.validate("dead-letters" if letter["schema"] == "dead-letters/v1" else "posts-dlq", letter)
            assert len(contract.encode(letter)) <= contract.dead_letter_size_bound(KEEP_BYTES)
        assert not [m for m in letters + dlq if m["error"]["code"] == "processing_error"], "a service failed on valid input"
        by_source: dict[tuple[str, str], set] = {}
        for letter in letters:
            key = (letter["service"], _unprefixed(stack, letter["source"]["topic"]))
            by_source.setdefault(key, set()).add((letter["source"]["partition"], letter["source"]["offset"]))
        for (role, name), offsets in expected.items():
            got = by_source.get((role, name), set())
            assert offsets <= got, f"{role} did not dead-letter {len(offsets - got)} invalid {name} messages"
            if name not in (REKEYED_TOPIC,):  # a packed record yields a dead letter per bad line
                extra = got - offsets
                # Beyond schema faults, the actions service refuses appeals it cannot act on.
                assert not extra or (role, name) == ("actions", "appeals"), (role, name, len(extra))

        # Metrics agree with the topics, and every service is the process that started.
        assert service_metric(stack, "classifier", "abusewatch_messages_dead_lettered_total") == len(dlq)
        for role in ("detector", "actions"):
            on_topic = sum(1 for m in letters if m["service"] == role)
            assert service_metric(stack, role, "abusewatch_messages_dead_lettered_total") == on_topic
            assert service_metric(stack, role, "abusewatch_dead_letters_failed_total") == 0
        assert service_metric(stack, "actions", "abusewatch_messages_in_total", topic=topic("appeals")) == len(sent["appeals"])
        stack.check_alive()
        assert {role: process.pid for role, process in stack.processes.items()} == pids
    finally:
        producer.close()
        for reader in readers.values():
            reader.close()
        stack.stop()


def _expected_invalid(name: str, sent: list[tuple[int, int, bytes | None]], role: str) -> set[tuple[int, int]]:
    schema_topic = "post-scores" if name == REKEYED_TOPIC else name
    if name == CAMPAIGN_AUTHORS_TOPIC:
        return {(p, o) for p, o, raw in sent if not _campaign_authors_ok(raw)}
    invalid = set()
    for partition, offset, raw in sent:
        lines = [copy for copy, _ in unpack(raw or b"")] if name == REKEYED_TOPIC else [raw]
        for line in lines:
            outcome = validate_message(schema_topic, line)
            future = (not isinstance(outcome, Rejection) and role == "detector" and name == "post-scores"
                      and contract.parse_time(outcome["post"]["created_at"]).timestamp() > time.time() + 3_600)
            if isinstance(outcome, Rejection) or future:
                invalid.add((partition, offset))
    return invalid


def _campaign_authors_ok(raw: bytes | None) -> bool:
    try:
        record = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        return False
    return (isinstance(record, dict) and all(isinstance(record.get(k), str) for k in ("campaign_id", "target_id", "origin"))
            and isinstance(record.get("authors"), list) and all(isinstance(a, str) for a in record["authors"]))


def _unprefixed(stack: Stack, name: str) -> str:
    return name[len(stack.kafka.topic_prefix):]
