"""Webhooks without Kafka: the endpoints file, signing and verification, the retry schedule, and
delivery to a real local HTTP receiver that fails, answers slowly and recovers."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from abusewatch.common.backoff import Backoff
from abusewatch.integrations.webhooks import (
    Endpoint,
    WebhookConfigError,
    WebhookDeliverer,
    WebhookEvent,
    WebhookMetrics,
    load_endpoints,
    signature,
    verify_signature,
)
from abusewatch.devstack.broker import free_port
from tests.webhook_receiver import WebhookReceiver

ROOT = Path(__file__).resolve().parents[3]
SECRET = "s3cret-of-16-chars-or-more"


def example(topic: str) -> dict:
    return json.loads((ROOT / "schemas" / "examples" / f"{topic}.json").read_text())


def test_signature_verifies_and_rejects_tampering_other_secrets_and_replays():
    body = b'{"id":"a-1"}'
    now = 1_800_000_000
    header = signature(SECRET, now, body)
    assert header.startswith(f"t={now},v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature(SECRET, header, body, now=now + 10)
    assert not verify_signature(SECRET, header, body + b" ", now=now)
    assert not verify_signature("another-secret-entirely", header, body, now=now)
    assert not verify_signature(SECRET, header, body, now=now + 301)  # outside the replay window
    assert not verify_signature(SECRET, header.replace(f"t={now}", f"t={now + 1}"), body, now=now)
    assert not verify_signature(SECRET, "garbage", body, now=now)
    # A receiver rotating secrets may get two v1 values; one matching is enough.
    rotated = f"{header},v1={'0' * 64}"
    assert verify_signature(SECRET, rotated, body, now=now)


def test_jittered_backoff_stays_between_half_and_all_of_the_schedule():
    backoff = Backoff(1.0, 60.0)
    rng = random.Random(7)
    for attempt in range(10):
        waits = [backoff.jittered(attempt, rng) for _ in range(200)]
        assert backoff.delay(attempt) / 2 <= min(waits) and max(waits) <= backoff.delay(attempt)
        assert len(set(waits)) > 100  # actually spread, not one value


def test_endpoints_file(tmp_path):
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "endpoints:\n"
        "  - {name: all, url: 'http://127.0.0.1:1/a', secret: " + SECRET + "}\n"
        "  - {name: tns, url: 'https://tns.example/h', secret_env: TNS, kinds: [escalation], min_severity: high,"
        " max_attempts: 3}\n"
    )
    everything, tns = load_endpoints(path, env={"TNS": SECRET})
    assert tns.secret == SECRET and tns.max_attempts == 3 and SECRET not in repr(tns)
    escalation = example("escalations")
    critical, high, medium, low = (WebhookEvent.from_message("escalations", escalation | {"severity": severity})
                                   for severity in ("critical", "high", "medium", "low"))
    action = WebhookEvent.from_message("platform-actions", example("platform-actions"))
    assert [tns.wants(e) for e in (critical, high, medium, low, action)] == [True, True, False, False, False]
    assert [everything.wants(e) for e in (critical, high, medium, low, action)] == [True] * 5
    assert action.id == example("platform-actions")["action_id"] and action.type == "platform-action"
    assert json.loads(action.body) == {"id": action.id, "type": "platform-action", "data": example("platform-actions")}

    for bad, match in (
        ("endpoints: [{url: 'ftp://x', secret: " + SECRET + "}]", "url"),
        ("endpoints: [{url: 'http://x'}]", "exactly one of secret"),
        ("endpoints: [{url: 'http://x', secret: short}]", "at least 16"),
        ("endpoints: [{url: 'http://x', secret_env: MISSING}]", "at least 16"),
        ("endpoints: [{url: 'http://x', secret: " + SECRET + ", kinds: [ban]}]", "kinds"),
        ("endpoints: [{url: 'http://x', secret: " + SECRET + ", min_severity: huge}]", "min_severity"),
        ("endpoints: [{url: 'http://x', secret: " + SECRET + ", retries: 3}]", "unknown fields"),
        ("endpoints: [{url: 'http://x', secret: " + SECRET + ", max_attempts: 0}]", "max_attempts"),
        ("hooks: []", "endpoints"),
    ):
        path.write_text(bad)
        with pytest.raises(WebhookConfigError, match=match):
            load_endpoints(path, env={})


async def _deliver(receiver: WebhookReceiver, endpoints: list[Endpoint], events: list[WebhookEvent],
                   registry: CollectorRegistry, *, max_attempts: int = 6, timeout_s: float = 5.0):
    async with aiohttp.ClientSession() as session:
        deliverer = WebhookDeliverer(session, backoff=Backoff(0.05, 0.2), max_attempts=max_attempts,
                                     timeout_s=timeout_s, metrics=WebhookMetrics.create(registry),
                                     rng=random.Random(1))
        return await deliverer.deliver_all(endpoints, events)


def test_delivery_retries_a_failing_receiver_until_it_recovers_and_signs_every_attempt():
    events = [WebhookEvent.from_message("platform-actions", example("platform-actions") | {"action_id": f"a-{i}"})
              for i in range(3)]
    registry = CollectorRegistry()
    with WebhookReceiver() as receiver:
        receiver.fail("/flaky", 503, times=2)  # then it recovers
        endpoint = Endpoint("flaky", receiver.url("/flaky"), SECRET)
        outcomes = asyncio.run(_deliver(receiver, [endpoint], events, registry))
    assert [o.delivered for o in outcomes] == [True, True, True]
    assert outcomes[0].attempts == 3 and outcomes[1].attempts == 1
    got = receiver.delivered("/flaky")
    assert [r.headers["Idempotency-Key"] for r in got] == ["a-0", "a-1", "a-2"]  # in topic order
    for request, event in zip(got, events, strict=True):
        assert request.body == event.body
        assert request.headers["Abusewatch-Id"] == event.id and request.headers["Abusewatch-Event"] == "platform-action"
        assert verify_signature(SECRET, request.headers["Abusewatch-Signature"], request.body, now=time.time())
    sample = registry.get_sample_value
    assert sample("abusewatch_webhook_attempts_total", {"endpoint": "flaky", "result": "5xx"}) == 2
    assert sample("abusewatch_webhook_attempts_total", {"endpoint": "flaky", "result": "2xx"}) == 3
    assert sample("abusewatch_webhook_deliveries_total", {"endpoint": "flaky", "outcome": "delivered"}) == 3


def test_a_dead_endpoint_gives_up_after_its_attempts_without_holding_up_the_others():
    event = WebhookEvent.from_message("escalations", example("escalations"))
    registry = CollectorRegistry()
    with WebhookReceiver() as receiver:
        receiver.fail("/down", 500)
        receiver.fail("/refuses", 400)
        endpoints = [
            Endpoint("down", receiver.url("/down"), SECRET, max_attempts=3),
            Endpoint("refuses", receiver.url("/refuses"), SECRET),
            Endpoint("up", receiver.url("/up"), SECRET),
            Endpoint("unreachable", f"http://127.0.0.1:{free_port()}/x", SECRET, max_attempts=2),
            Endpoint("not-interested", receiver.url("/no"), SECRET, kinds=frozenset({"throttle_author"})),
        ]
        outcomes = {o.endpoint.name: o for o in asyncio.run(_deliver(receiver, endpoints, [event], registry))}
    assert set(outcomes) == {"down", "refuses", "up", "unreachable"}
    assert (outcomes["down"].delivered, outcomes["down"].attempts, outcomes["down"].last_error) == (False, 3, "HTTP 500")
    assert (outcomes["refuses"].delivered, outcomes["refuses"].attempts) == (False, 1)  # a 4xx is final
    assert outcomes["up"].delivered and outcomes["up"].attempts == 1
    assert not outcomes["unreachable"].delivered and outcomes["unreachable"].attempts == 2
    assert "ClientConnectorError" in outcomes["unreachable"].last_error
    assert receiver.attempts_at("/no") == 0
    assert registry.get_sample_value("abusewatch_webhook_deliveries_total",
                                     {"endpoint": "down", "outcome": "dead_lettered"}) == 1
    assert registry.get_sample_value("abusewatch_webhook_attempts_total", {"endpoint": "unreachable", "result": "error"}) == 2


def test_a_slow_receiver_is_an_attempt_that_timed_out_and_is_retried():
    event = WebhookEvent.from_message("platform-actions", example("platform-actions"))
    registry = CollectorRegistry()
    with WebhookReceiver() as receiver:
        receiver.delay_s = 1.0
        endpoint = Endpoint("slow", receiver.url("/slow"), SECRET)

        async def speed_up_later() -> None:
            while receiver.attempts_at("/slow") < 2:
                await asyncio.sleep(0.01)
            receiver.delay_s = 0.0

        async def run():
            task = asyncio.create_task(speed_up_later())
            outcomes = await _deliver(receiver, [endpoint], [event], registry, timeout_s=0.3)
            await task
            return outcomes

        (outcome,) = asyncio.run(run())
    assert outcome.delivered and outcome.attempts >= 2
    assert registry.get_sample_value("abusewatch_webhook_attempts_total", {"endpoint": "slow", "result": "error"}) >= 1


def test_an_id_that_cannot_be_a_header_is_refused_for_good_not_a_crash():
    # The schema's ids allow a line break; aiohttp refuses it in a header with a ValueError.
    event = WebhookEvent.from_message("platform-actions", example("platform-actions") | {"action_id": "a-1\r\nX-Evil: 1"})
    with WebhookReceiver() as receiver:
        (outcome,) = asyncio.run(_deliver(receiver, [Endpoint("ok", receiver.url("/ok"), SECRET)], [event],
                                          CollectorRegistry()))
        assert receiver.attempts_at("/ok") == 0
    assert not outcome.delivered and outcome.attempts == 1 and "ValueError" in outcome.last_error


def test_a_batch_gives_up_at_its_deadline_instead_of_outliving_the_poll_interval():
    events = [WebhookEvent.from_message("platform-actions", example("platform-actions") | {"action_id": f"a-{i}"})
              for i in range(5)]

    async def deliver() -> tuple[list, float]:
        async with aiohttp.ClientSession() as session:
            deliverer = WebhookDeliverer(session, backoff=Backoff(0.5, 0.5), max_attempts=50, timeout_s=1.0,
                                         metrics=WebhookMetrics.create(CollectorRegistry()), rng=random.Random(1))
            started = time.monotonic()
            outcomes = await deliverer.deliver_all([Endpoint("down", f"http://127.0.0.1:{free_port()}/x", SECRET)],
                                                   events, deadline=started + 1.0)
            return outcomes, time.monotonic() - started

    outcomes, _ = asyncio.run(deliver())
    assert [o.delivered for o in outcomes] == [False] * 5  # every event accounted for: dead-lettered
    assert all("time limit" in o.last_error for o in outcomes)
    assert sum(o.attempts for o in outcomes) < 50 * 5
