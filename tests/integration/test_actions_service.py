"""The actions service alone, as deployed (`abusewatch serve actions`), through the real embedded
broker: crafted post-scores, target-alerts and appeals in; platform-actions and escalations out,
every output valid per schema; malformed input counted and skipped; the evidence locker (real
PostgreSQL where it runs, SQLite otherwise) holds a verifiable chain afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from abusewatch.ingest import contract
from abusewatch.evidence import open_store
from abusewatch.devstack.stack import Stack

from .conftest import service_metric, TopicReader, stack_env

pytestmark = pytest.mark.integration

EXAMPLES = contract.SCHEMA_DIR / "examples"
BENIGN = {"toxicity": 0.02, "threat": 0.01, "insult": 0.01, "identity_attack": 0.0, "sexual_harassment": 0.0, "obscene": 0.0}


def scored(post_id: str, doxxing: bool = False, **scores: float) -> dict:
    message = json.loads((EXAMPLES / "post-scores.json").read_text())
    message.update(post_id=post_id, author_id=f"a-{post_id}", scores={**BENIGN, **scores})
    message["post"].update(post_id=post_id, author_id=f"a-{post_id}")
    message["doxxing"] = {"detected": doxxing, "kinds": ["street_address"] if doxxing else []}
    contract.validate("post-scores", message)
    return message


def test_actions_service_end_to_end(broker, producer, tmp_path, evidence_dsn):
    env = stack_env(
        broker,
        tmp_path,
        ABUSEWATCH_EVIDENCE_DSN=evidence_dsn,
        ABUSEWATCH_POLICY_FILE=str(Path(__file__).resolve().parents[2] / "policy" / "default.yaml"),
        ABUSEWATCH_ACTIONS_TAKE_WITHIN_S="0.05",
    )
    stack = Stack(roles=("actions",), env=env, embedded_broker=False)
    stack.start(ready_timeout_s=90)
    topic = stack.kafka.topic
    actions = TopicReader(broker.bootstrap, topic("platform-actions"))
    escalations = TopicReader(broker.bootstrap, topic("escalations"))
    dead_letters = TopicReader(broker.bootstrap, topic("dead-letters"))
    try:
        for message in (
            scored("p-threat", threat=0.93, toxicity=0.9),
            scored("p-dox", doxxing=True),
            scored("p-benign"),
            scored("p-shadow", insult=0.99, toxicity=0.98),
        ):
            producer.send(topic("post-scores"), key=message["post_id"].encode(), value=orjson.dumps(message))
        for name in ("post-scores", "target-alerts", "appeals"):
            producer.send(topic(name), value=b"{not json")
            producer.send(topic(name), value=orjson.dumps({"schema": "wrong"}))
        alert = json.loads((EXAMPLES / "target-alerts.json").read_text())
        producer.send(topic("target-alerts"), key=alert["target_id"].encode(), value=orjson.dumps(alert))
        producer.flush()

        applied = actions.wait_for(lambda m: len(m) >= 3, 60, "3 actions")
        raised = escalations.wait_for(lambda m: len(m) >= 3, 30, "3 escalations")
        for message in applied:
            contract.validate("platform-actions", message)
        for message in raised:
            contract.validate("escalations", message)
        assert sorted(m["kind"] for m in applied) == ["hold_for_review", "limit_replies_to_target", "throttle_author"]
        assert sorted((m["category"], m["severity"]) for m in raised) == [
            ("doxxing", "high"), ("pile_on", "high"), ("threat", "critical")
        ]
        limit = next(m for m in applied if m["kind"] == "limit_replies_to_target")
        assert actions.records[[m["action_id"] for m in applied].index(limit["action_id"])].key == b"u-maria"

        for event, outcome in (("filed", None), ("decided", "overturned")):
            appeal = {
                "schema": "appeals/v1", "appeal_id": "ap-1", "event": event, "decision_id": limit["action_id"],
                "outcome": outcome, "at": "2026-11-21T10:02:00Z",
            }
            producer.send(topic("appeals"), key=b"ap-1", value=orjson.dumps(appeal))
        producer.flush()
        messages = actions.wait_for(lambda m: any(x["op"] == "revoke" for x in m), 30, "a revoke")
        revoke = next(m for m in messages if m["op"] == "revoke")
        contract.validate("platform-actions", revoke)
        assert revoke["revokes"] == limit["action_id"]

        stack.check_alive()  # malformed input on every topic did not crash it
        letters = dead_letters.wait_for(lambda m: len(m) >= 6, 30, "6 dead letters")
        for name in ("post-scores", "target-alerts", "appeals"):
            assert service_metric(stack, "actions", "abusewatch_messages_dead_lettered_total", topic=topic(name)) == 2
            assert sorted(m["error"]["code"] for m in letters if m["source"]["topic"] == topic(name)) == [
                "invalid_json", "schema_violation"]
        for letter in letters:
            contract.validate("dead-letters", letter)
            assert letter["service"] == "actions"
        assert service_metric(stack, "actions", "abusewatch_policy_decisions_total", rule="insult.severe_author_throttle", mode="shadow") == 1
        assert not any(m["reasons"]["rule_id"] == "insult.severe_author_throttle" for m in messages)
    finally:
        actions.close()
        escalations.close()
        dead_letters.close()
        stack.stop()

    store = open_store(evidence_dsn)
    report = store.verify()
    kinds = [record.kind for record in store.iter_chain()]
    store.close()
    assert report.ok, report.problems
    # 3 flagged posts (benign one not kept), 1 alert, 3 + 3 decisions, 1 shadow decision, 2 appeals, 1 revoke
    assert sorted(set(kinds)) == ["alert", "appeal", "decision", "post"]
    assert (kinds.count("post"), kinds.count("decision"), kinds.count("appeal")) == (3, 8, 2)
