"""Webhooks end to end: the actions service as deployed (`abusewatch serve actions`) on the real
broker and evidence locker, delivering its platform actions and escalations to a real HTTP receiver
that is down, then stopped mid-outage, restarted, and slow once it recovers. Nothing is lost
across the restart, every delivery verifies, endpoints get only what they asked for, and an
endpoint that never recovers is dead-lettered without holding up the others."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import orjson
import pytest

from abusewatch.devstack.stack import Stack
from abusewatch.ingest import contract
from abusewatch.integrations.webhooks import verify_signature
from tests.webhook_receiver import WebhookReceiver

from .conftest import TopicReader, service_metric, stack_env
from .test_actions_service import EXAMPLES, scored

pytestmark = pytest.mark.integration

SECRET = "integration-webhook-secret"
POLICY = Path(__file__).resolve().parents[2] / "policy" / "default.yaml"


def test_webhooks_survive_a_restart_mid_outage(broker, producer, tmp_path, evidence_dsn):
    with WebhookReceiver() as receiver:
        hooks = tmp_path / "webhooks.yaml"
        hooks.write_text(
            "endpoints:\n"
            f"  - {{name: platform, url: '{receiver.url('/platform')}', secret_env: PLATFORM_HOOK_SECRET}}\n"
            f"  - {{name: tns, url: '{receiver.url('/tns')}', secret: {SECRET}, kinds: [escalation],"
            " min_severity: critical}\n"
            f"  - {{name: broken, url: '{receiver.url('/broken')}', secret: {SECRET}, kinds: [throttle_author],"
            " max_attempts: 2}\n"
        )
        env = stack_env(
            broker, tmp_path,
            ABUSEWATCH_EVIDENCE_DSN=evidence_dsn,
            ABUSEWATCH_POLICY_FILE=str(POLICY),
            ABUSEWATCH_ACTIONS_TAKE_WITHIN_S="0.05",
            ABUSEWATCH_WEBHOOKS_FILE=str(hooks),
            ABUSEWATCH_WEBHOOKS_MAX_ATTEMPTS="10000",  # the platform endpoint outlasts its outage
            ABUSEWATCH_WEBHOOKS_RETRY_INITIAL_S="0.2",
            ABUSEWATCH_WEBHOOKS_RETRY_MAX_S="1",
            ABUSEWATCH_WEBHOOKS_TIMEOUT_S="2",
            PLATFORM_HOOK_SECRET=SECRET,
        )
        receiver.fail("/platform", 500)
        receiver.fail("/broken", 503)
        stack = Stack(roles=("actions",), env=env, embedded_broker=False, log_dir=tmp_path / "logs")
        stack.start(ready_timeout_s=90)
        topic = stack.kafka.topic
        actions = TopicReader(broker.bootstrap, topic("platform-actions"))
        escalations = TopicReader(broker.bootstrap, topic("escalations"))
        dead_letters = TopicReader(broker.bootstrap, topic("dead-letters"))
        try:
            for message in (scored("p-threat", threat=0.93, toxicity=0.9), scored("p-dox", doxxing=True)):
                producer.send(topic("post-scores"), key=message["post_id"].encode(), value=orjson.dumps(message))
            alert = json.loads((EXAMPLES / "target-alerts.json").read_text())
            producer.send(topic("target-alerts"), key=alert["target_id"].encode(), value=orjson.dumps(alert))
            producer.flush()
            applied = actions.wait_for(lambda m: len(m) >= 3, 60, "3 actions")
            raised = escalations.wait_for(lambda m: len(m) >= 3, 30, "3 escalations")
            ids = {m["action_id"] for m in applied} | {m["escalation_id"] for m in raised}
            critical = {m["escalation_id"] for m in raised if m["severity"] == "critical"}
            throttle = {m["action_id"] for m in applied if m["kind"] == "throttle_author"}
            assert len(ids) == 6 and len(critical) == 1 and len(throttle) == 1

            # The outage: the platform endpoint is being retried, the others are not held up by it.
            receiver.wait_for(lambda: receiver.attempts_at("/platform") >= 5, 60, "retries to the platform endpoint")
            receiver.wait_for(lambda: receiver.delivered("/tns"), 30, "the critical escalation at tns")
            letters = dead_letters.wait_for(
                lambda m: any(x["error"]["code"] == "webhook_undelivered" for x in m), 30, "a webhook dead letter")
            assert receiver.attempts_at("/broken") == 2
            assert service_metric(stack, "actions", "abusewatch_webhook_attempts_total", endpoint="platform",
                                  result="5xx") >= 5
            assert service_metric(stack, "actions", "abusewatch_webhook_deliveries_total", endpoint="broken",
                                  outcome="dead_lettered") == 1
        finally:
            stack.stop()  # mid-outage: nothing has reached the platform endpoint yet
        assert receiver.delivered("/platform") == []

        letter = next(x for x in letters if x["error"]["code"] == "webhook_undelivered")
        contract.validate("dead-letters", letter)
        assert letter["source"]["topic"] == topic("platform-actions") and "endpoint broken" in letter["error"]["message"]

        assert orjson.loads(base64.b64decode(letter["original_base64"]))["action_id"] in throttle

        # The receiver recovers, slowly; a new worker delivers what the stopped one could not.
        receiver.recover("/platform")
        receiver.delay_s = 0.2
        restarted = Stack(roles=("actions",), env=env, embedded_broker=False, log_dir=tmp_path / "logs")
        restarted.start(ready_timeout_s=90)
        try:
            receiver.wait_for(lambda: {r.headers["Idempotency-Key"] for r in receiver.delivered("/platform")} >= ids,
                              90, "every action and escalation at the platform endpoint after the restart")
            assert service_metric(restarted, "actions", "abusewatch_webhook_deliveries_total", endpoint="platform",
                                  outcome="delivered") >= 6
        finally:
            restarted.stop()
            actions.close()
            escalations.close()
            dead_letters.close()

    now = time.time()
    for request in receiver.delivered("/platform") + receiver.delivered("/tns"):
        assert verify_signature(SECRET, request.headers["Abusewatch-Signature"], request.body, now=now, tolerance_s=600)
        envelope = orjson.loads(request.body)
        assert request.headers["Abusewatch-Id"] == request.headers["Idempotency-Key"] == envelope["id"]
        schema = "platform-actions" if envelope["type"] == "platform-action" else "escalations"
        assert request.headers["Abusewatch-Event"] == envelope["type"]
        contract.validate(schema, envelope["data"])
    assert {r.headers["Idempotency-Key"] for r in receiver.delivered("/platform")} == ids
    assert {r.headers["Idempotency-Key"] for r in receiver.delivered("/tns")} == critical
