"""Outages of what the services depend on, through a TCP proxy the test cuts and restores.

- PostgreSQL (the evidence locker) away mid-stream: the real actions service holds input back,
  reports not ready, retries, and when the database returns every expected action and escalation
  reaches its topic once, every decision is in the locker and the chain verifies; the process never
  exits, and a SIGTERM during an outage still stops it promptly.
- The broker away and back: the real classifier (shipped model) reconnects by itself and scores
  posts sent after the restore, in the same process.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from abusewatch.ingest import contract
from abusewatch.devstack.broker import EmbeddedBroker, free_port
from abusewatch.evidence import open_store
from abusewatch.policy import Cooldowns, decide_alert, decide_post, load_policy
from abusewatch.devstack.stack import Stack

from .conftest import service_metric, TopicReader, postgres_available, send_posts, stack_env
from .tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policy" / "default.yaml"
EXAMPLES = contract.SCHEMA_DIR / "examples"
BENIGN = {"toxicity": 0.02, "threat": 0.01, "insult": 0.01, "identity_attack": 0.0, "sexual_harassment": 0.0, "obscene": 0.0}
OUTAGE_S = 15.0  # how long each dependency is cut off (docs/operations.md, "Outages")


def threat(n: int) -> dict:
    """A credible threat from its own author at its own target: an escalation and a throttle."""
    message = json.loads((EXAMPLES / "post-scores.json").read_text())
    post_id, author, target = f"p-{n}", f"a-{n}", f"u-{n}"
    message.update(post_id=post_id, author_id=author, targets=[target], scores={**BENIGN, "threat": 0.93, "toxicity": 0.9})
    message["post"].update(post_id=post_id, author_id=author, reply_to_user_id=target)
    contract.validate("post-scores", message)
    return message


def pile_on(n: int) -> dict:
    """A pile-on alert on its own target and campaign: a reply limit and an escalation."""
    message = json.loads((EXAMPLES / "target-alerts.json").read_text())
    message.update(alert_id=f"al-{n}", campaign_id=f"c-{n}", target_id=f"t-{n}")
    contract.validate("target-alerts", message)
    return message


def expected_ids(posts: list[dict], alerts: list[dict]) -> set[str]:
    """The ids the service must emit: the pure engine on the same input (ids are deterministic)."""
    policy = load_policy(POLICY)
    decisions = [d for m in posts for d in decide_post(m, policy=policy, cooldowns=Cooldowns(), now=contract.utcnow()).decisions if not d.shadow]
    decisions += [d for m in alerts for d in decide_alert(m, policy=policy, cooldowns=Cooldowns(), now=contract.utcnow()).decisions if not d.shadow]
    return {d.id for d in decisions}


def ready(stack: Stack, role: str) -> bool:
    try:
        with urllib.request.urlopen(stack.url(role, "/readyz"), timeout=5) as response:
            return response.status == 200
    except urllib.error.HTTPError:
        return False  # 503: not ready


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def wait_until(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.25)


@pytest.fixture
def proxied_postgres():
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    import psycopg

    schema = f"outage_it_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    proxy = TcpProxy(5432).start()
    options = f"/test?options=-csearch_path%3D{schema}"
    yield proxy, f"postgresql://postgres@{proxy.address}{options}", f"postgresql://postgres@127.0.0.1:5432{options}"
    proxy.stop()
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


def test_actions_service_waits_out_a_postgresql_outage(broker, producer, tmp_path, proxied_postgres):
    proxy, proxied_dsn, direct_dsn = proxied_postgres
    env = stack_env(
        broker,
        tmp_path,
        ABUSEWATCH_EVIDENCE_DSN=proxied_dsn,
        ABUSEWATCH_EVIDENCE_TIMEOUT_S="3",
        ABUSEWATCH_POLICY_FILE=str(POLICY),
        ABUSEWATCH_ACTIONS_TAKE_WITHIN_S="0.05",
        ABUSEWATCH_ACTIONS_LOCKER_RETRY_MAX_S="2",
        ABUSEWATCH_ACTIONS_LOCKER_PROBE_S="1",
    )
    stack = Stack(roles=("actions",), env=env, embedded_broker=False)
    stack.start(ready_timeout_s=90)
    pid = stack.processes["actions"].pid
    topic = stack.kafka.topic
    outputs = [TopicReader(broker.bootstrap, topic(name)) for name in ("platform-actions", "escalations")]

    def emitted() -> list[str]:
        return [m.get("action_id") or m["escalation_id"] for reader in outputs for m in reader.messages()]

    def feed(posts: list[dict], alerts: list[dict]) -> None:
        send_posts(producer, topic("post-scores"), posts)
        for alert in alerts:
            producer.send(topic("target-alerts"), key=alert["target_id"].encode(), value=orjson.dumps(alert))
        producer.flush()

    phases = [([threat(i) for i in range(p * 10, p * 10 + 10)], [pile_on(i) for i in range(p * 5, p * 5 + 5)]) for p in range(3)]
    expected = [expected_ids(*phase) for phase in phases]
    try:
        feed(*phases[0])
        wait_until(lambda: expected[0] <= set(emitted()), 60, "the actions from before the outage")

        proxy.cut()
        cut_at = time.monotonic()
        feed(*phases[1])  # arrives while the locker is away
        wait_until(lambda: service_metric(stack, "actions", "abusewatch_evidence_unavailable") == 1, 20, "the outage gauge")
        assert not ready(stack, "actions")
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))
        # Nothing is sent before its evidence is recorded, and the service is still up.
        assert not expected[1] & set(emitted())
        stack.check_alive()
        proxy.restore()

        wait_until(lambda: expected[1] <= set(emitted()), 60, "the actions held back by the outage")
        feed(*phases[2])
        wait_until(lambda: expected[2] <= set(emitted()), 60, "the actions from after the outage")
        wait_until(lambda: ready(stack, "actions"), 20, "readiness after the outage")

        ids = emitted()
        assert set(ids) == set().union(*expected)
        assert [i for i, n in Counter(ids).items() if n > 1] == []  # each sent exactly once
        assert service_metric(stack, "actions", "abusewatch_evidence_errors_total") > 0
        assert service_metric(stack, "actions", "abusewatch_evidence_unavailable") == 0
        stack.check_alive()
        assert stack.processes["actions"].pid == pid  # never exited or restarted

        # SIGTERM while the locker is away again: the retry loop must not hold the worker up.
        proxy.cut()
        feed([threat(99)], [])
        wait_until(lambda: service_metric(stack, "actions", "abusewatch_evidence_unavailable") == 1, 20, "the second outage")
        process = stack.processes["actions"]
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert time.monotonic() - stopping < 20, stack.log_tail("actions")
        assert process.returncode == 0
        stack.processes.pop("actions")
        committed = committed_offsets(broker.bootstrap, stack.kafka.topic("abusewatch-actions"), topic("post-scores"))
        assert sum(committed.values()) < 31, committed  # the held batch (the 31st post-scores message) is not committed

        # The batch it held is not lost: a new worker, with the locker back, reads it again.
        proxy.restore()
        stack.start_role("actions")
        stack.wait_ready(["actions"], 90)
        last = expected_ids([threat(99)], [])
        wait_until(lambda: last <= set(emitted()), 60, "the batch held at SIGTERM, after a restart")
        expected.append(last)
    finally:
        for reader in outputs:
            reader.close()
        stack.stop()

    store = open_store(direct_dsn)
    try:
        for decision_id in set().union(*expected):
            assert len(store.by_key(f"decision:{decision_id}", kinds=("decision",))) == 1, decision_id
        report = store.verify()
        assert report.ok, report.problems
    finally:
        store.close()


def post(post_id: str, text: str) -> dict:
    return {"post_id": post_id, "author_id": f"a-{post_id}", "text": text, "created_at": "2026-11-21T09:00:00Z",
            "reply_to_user_id": "u-target"}


def test_classifier_resumes_after_the_broker_goes_away_and_comes_back(tmp_path):
    broker_port = free_port()
    with TcpProxy(broker_port) as proxy, EmbeddedBroker(port=broker_port, advertised=proxy.address) as broker:
        env = stack_env(broker, tmp_path)  # every client, ours too, reaches the broker through the proxy
        stack = Stack(roles=("classifier",), env=env, embedded_broker=False)
        stack.start(ready_timeout_s=180)
        pid = stack.processes["classifier"].pid
        topic = stack.kafka.topic
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5, retries=10)
        scores = TopicReader(broker.bootstrap, topic("post-scores"))

        def scored() -> set[str]:
            return {m["post_id"] for m in scores.messages()}

        try:
            before = [post(f"before-{i}", f"you are a wonderful person {i}") for i in range(40)]
            send_posts(producer, topic("posts"), before)
            wait_until(lambda: len(scored()) >= 10, 90, "posts scored before the cut")

            proxy.cut()  # mid-stream: the rest of the first posts may still be in flight
            time.sleep(OUTAGE_S)
            stack.check_alive()
            proxy.restore()

            after = [post(f"after-{i}", f"I will find you and hurt you {i}") for i in range(20)]
            send_posts(producer, topic("posts"), after)
            wanted = {p["post_id"] for p in before + after}
            wait_until(lambda: wanted <= scored(), 120, "every post scored after the broker came back")
            stack.check_alive()
            assert stack.processes["classifier"].pid == pid  # resumed without a restart
            assert proxy.accepted > 2  # the clients did reconnect through the proxy
        finally:
            producer.close()
            scores.close()
            stack.stop()
