"""Signed webhooks: platform actions and escalations POSTed to the platform's HTTP endpoints.

Each delivery is one JSON envelope {"id", "type", "data"} where `data` is the platform-actions or
escalations message as on its topic and `id` its action_id / escalation_id (the idempotency key:
a receiver that sees an id again must do nothing, deliveries are at least once). Headers:

    Abusewatch-Id: <id>          Idempotency-Key: <id>
    Abusewatch-Event: platform-action | escalation
    Abusewatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

A receiver recomputes the HMAC over the timestamp, a dot and the raw body, compares in constant
time and rejects timestamps outside its replay window (`verify_signature`; docs/integration.md).

Delivery (`WebhookDeliverer.deliver`) retries connection errors, timeouts, 408, 425, 429 and 5xx
with exponential backoff and jitter up to the endpoint's attempt budget; any other 4xx is the
receiver refusing the delivery for good and is not retried. The caller dead-letters what was not
delivered. Kafka is not involved here: services/actions/webhooks.py reads the topics and commits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from prometheus_client import CollectorRegistry, Counter, Histogram

from abusewatch.common.backoff import Backoff
from abusewatch.ingest.messages import SEVERITIES

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Abusewatch-Signature"
ID_HEADER = "Abusewatch-Id"
EVENT_HEADER = "Abusewatch-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_S = 300  # the replay window receivers are advised to use

EVENT_TYPES = {"platform-actions": "platform-action", "escalations": "escalation"}
ACTION_KINDS = ("limit_replies_to_target", "throttle_author", "hold_for_review")
KINDS = (*ACTION_KINDS, "escalation")
RETRYABLE_STATUSES = frozenset({408, 425, 429})
_ENDPOINT_FIELDS = frozenset({"name", "url", "secret", "secret_env", "kinds", "min_severity", "max_attempts"})


class WebhookConfigError(ValueError):
    """The endpoints file is unreadable or invalid; the actions service refuses to start on it."""


@dataclasses.dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    secret: str = dataclasses.field(repr=False)
    kinds: frozenset[str] = frozenset(KINDS)
    min_severity: str = "low"  # escalations below it are not sent; actions have no severity
    max_attempts: int | None = None  # None: WebhookSettings.max_attempts

    def wants(self, event: WebhookEvent) -> bool:
        if event.kind not in self.kinds:
            return False
        # SEVERITIES runs most severe first: at or above min_severity is at or before it
        return event.severity is None or SEVERITIES.index(event.severity) <= SEVERITIES.index(self.min_severity)


@dataclasses.dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One platform-actions or escalations message, ready to deliver."""

    id: str
    type: str  # platform-action | escalation
    kind: str  # the action's kind, or "escalation"
    severity: str | None  # escalations only
    body: bytes

    @classmethod
    def from_message(cls, topic: str, message: Mapping[str, Any]) -> WebhookEvent:
        """`topic` is the unprefixed name (platform-actions or escalations); `message` is valid on it."""
        if topic == "platform-actions":
            event_id, kind, severity = message["action_id"], message["kind"], None
        elif topic == "escalations":
            event_id, kind, severity = message["escalation_id"], "escalation", message["severity"]
        else:
            raise ValueError(f"no webhooks for topic {topic!r}")
        event_type = EVENT_TYPES[topic]
        body = orjson.dumps({"id": event_id, "type": event_type, "data": message})
        return cls(event_id, event_type, kind, severity, body)


def load_endpoints(path: str | Path, env: Mapping[str, str] | None = None) -> list[Endpoint]:
    """Parse the endpoints file:

        endpoints:
          - name: trust-and-safety
            url: https://tns.example/hooks/abusewatch
            secret_env: TNS_WEBHOOK_SECRET     # or secret: ... inline
            kinds: [escalation]                # default: every action kind and escalation
            min_severity: high                 # default: low
            max_attempts: 20                   # default: ABUSEWATCH_WEBHOOKS_MAX_ATTEMPTS
    """
    env = os.environ if env is None else env
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise WebhookConfigError(f"webhooks file {path}: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("endpoints"), list):
        raise WebhookConfigError(f"webhooks file {path}: expected a mapping with a list 'endpoints'")
    endpoints = [_endpoint(entry, index, env) for index, entry in enumerate(document["endpoints"])]
    names = [endpoint.name for endpoint in endpoints]
    if len(set(names)) != len(names):
        raise WebhookConfigError(f"webhooks file {path}: endpoint names must be unique, got {names}")
    return endpoints


def _endpoint(entry: Any, index: int, env: Mapping[str, str]) -> Endpoint:
    where = f"endpoints[{index}]"
    if not isinstance(entry, dict):
        raise WebhookConfigError(f"{where}: expected a mapping")
    unknown = set(entry) - _ENDPOINT_FIELDS
    if unknown:
        raise WebhookConfigError(f"{where}: unknown fields {sorted(unknown)}")
    url = entry.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise WebhookConfigError(f"{where}: url must be an http:// or https:// URL")
    name = str(entry.get("name") or url)
    if ("secret" in entry) == ("secret_env" in entry):
        raise WebhookConfigError(f"{where} ({name}): give exactly one of secret and secret_env")
    secret = entry["secret"] if "secret" in entry else env.get(str(entry["secret_env"]), "")
    if not isinstance(secret, str) or len(secret) < 16:
        raise WebhookConfigError(f"{where} ({name}): the secret must be a string of at least 16 characters")
    kinds = entry.get("kinds", list(KINDS))
    if not isinstance(kinds, list) or not kinds or not set(kinds) <= set(KINDS):
        raise WebhookConfigError(f"{where} ({name}): kinds must be a non-empty list of {list(KINDS)}")
    min_severity = entry.get("min_severity", "low")
    if min_severity not in SEVERITIES:
        raise WebhookConfigError(f"{where} ({name}): min_severity must be one of {list(SEVERITIES)}")
    max_attempts = entry.get("max_attempts")
    if max_attempts is not None and (not isinstance(max_attempts, int) or isinstance(max_attempts, bool)
                                     or max_attempts < 1):
        raise WebhookConfigError(f"{where} ({name}): max_attempts must be a positive integer")
    return Endpoint(name, url, secret, frozenset(kinds), min_severity, max_attempts)


# -- signing --------------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Abusewatch-Signature header value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, *, now: float | None = None, tolerance_s: float = DEFAULT_TOLERANCE_S
) -> bool:
    """What a receiver runs: the header is well formed, its timestamp within `tolerance_s` of now
    (a captured delivery replayed later fails), and one v1 signature matches (compared in constant time)."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body).rsplit("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))


# -- delivery -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WebhookMetrics:
    deliveries: Counter  # labels: endpoint, outcome (delivered | dead_lettered)
    attempts: Counter  # labels: endpoint, result (2xx | 4xx | 5xx | error)
    attempt_seconds: Histogram  # labels: endpoint

    @classmethod
    def create(cls, registry: CollectorRegistry) -> WebhookMetrics:
        return cls(
            deliveries=Counter(
                "abusewatch_webhook_deliveries", "Webhook deliveries finished, by endpoint and outcome (delivered, "
                "dead_lettered)", ["endpoint", "outcome"], registry=registry,
            ),
            attempts=Counter(
                "abusewatch_webhook_attempts", "Webhook delivery attempts by endpoint and result (2xx, 4xx, 5xx, "
                "error: no answer)", ["endpoint", "result"], registry=registry,
            ),
            attempt_seconds=Histogram(
                "abusewatch_webhook_attempt_seconds", "Time from sending a webhook attempt to its answer (or failure)",
                ["endpoint"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
                registry=registry,
            ),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    endpoint: Endpoint
    event: WebhookEvent
    delivered: bool
    attempts: int
    last_error: str  # empty when delivered


OnUndelivered = Callable[[DeliveryOutcome], Awaitable[None]]


class WebhookDeliverer:
    """Delivers events to endpoints over one aiohttp session, retrying per endpoint."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        backoff: Backoff,
        max_attempts: int,
        timeout_s: float,
        metrics: WebhookMetrics,
        rng: random.Random | None = None,
    ) -> None:
        self.session = session
        self.backoff = backoff
        self.max_attempts = max_attempts
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.metrics = metrics
        self.rng = rng or random.Random()

    async def attempt(self, endpoint: Endpoint, event: WebhookEvent) -> tuple[bool, bool, str]:
        """One POST: (delivered, worth retrying, what went wrong)."""
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(endpoint.secret, timestamp, event.body),
            ID_HEADER: event.id,
            IDEMPOTENCY_HEADER: event.id,
            EVENT_HEADER: event.type,
        }
        started = time.perf_counter()
        try:
            async with self.session.post(endpoint.url, data=event.body, headers=headers, timeout=self.timeout,
                                         allow_redirects=False) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            self.metrics.attempts.labels(endpoint.name, "error").inc()
            return False, True, f"{type(exc).__name__}: {exc}"
        except ValueError as exc:  # a request that cannot be sent at all (an id with a line break in a header)
            self.metrics.attempts.labels(endpoint.name, "error").inc()
            return False, False, f"{type(exc).__name__}: {exc}"
        finally:
            self.metrics.attempt_seconds.labels(endpoint.name).observe(time.perf_counter() - started)
        self.metrics.attempts.labels(endpoint.name, f"{status // 100}xx").inc()
        if 200 <= status < 300:
            return True, False, ""
        return False, status >= 500 or status in RETRYABLE_STATUSES, f"HTTP {status}"

    async def deliver(self, endpoint: Endpoint, event: WebhookEvent, deadline: float | None = None) -> DeliveryOutcome:
        """Attempt until delivered, refused for good, out of attempts, or (monotonic) `deadline`
        would pass before the next attempt."""
        budget = endpoint.max_attempts or self.max_attempts
        attempts, error = 0, ""
        while attempts < budget:
            if attempts:
                pause = self.backoff.jittered(attempts - 1, self.rng)
                if deadline is not None and time.monotonic() + pause > deadline:
                    error = f"{error}; gave up: the batch's time limit came first"
                    break
                await asyncio.sleep(pause)
            attempts += 1
            delivered, retryable, error = await self.attempt(endpoint, event)
            if delivered:
                self.metrics.deliveries.labels(endpoint.name, "delivered").inc()
                return DeliveryOutcome(endpoint, event, True, attempts, "")
            log.warning("webhook %s: %s %s attempt %d/%d failed: %s", endpoint.name, event.type, event.id,
                        attempts, budget, error)
            if not retryable:
                break
        self.metrics.deliveries.labels(endpoint.name, "dead_lettered").inc()
        return DeliveryOutcome(endpoint, event, False, attempts, error)

    async def deliver_in_order(
        self, endpoint: Endpoint, events: Iterable[WebhookEvent], undelivered: OnUndelivered | None = None,
        deadline: float | None = None,
    ) -> list[DeliveryOutcome]:
        """The events this endpoint wants, one after another (a receiver sees them in topic order).
        `undelivered` is awaited as soon as one is given up on, not after the rest."""
        outcomes = []
        for event in events:
            if endpoint.wants(event):
                outcome = await self.deliver(endpoint, event, deadline)
                if not outcome.delivered and undelivered is not None:
                    await undelivered(outcome)
                outcomes.append(outcome)
        return outcomes

    async def deliver_all(
        self, endpoints: Iterable[Endpoint], events: list[WebhookEvent], undelivered: OnUndelivered | None = None,
        deadline: float | None = None,
    ) -> list[DeliveryOutcome]:
        """Every event to every endpoint that wants it: endpoints in parallel, so one that is down
        delays only its own deliveries within this batch (and the batch's commit, so the next batch
        for every endpoint waits for it). Past the monotonic `deadline` no attempt is started and
        what is left is dead-lettered, so a batch always ends within the consumer's poll interval."""
        per_endpoint = await asyncio.gather(
            *(self.deliver_in_order(endpoint, events, undelivered, deadline) for endpoint in endpoints)
        )
        return [outcome for outcomes in per_endpoint for outcome in outcomes]
