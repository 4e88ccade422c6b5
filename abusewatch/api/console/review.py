"""What a reviewer does in the console, as messages and records.

Decisions take the same path as every appeal: the console publishes an appeals/v1 `decided`
message and the actions service records it (with the reviewer's id), emits the revokes an
overturn causes, and the outcome becomes a retraining label (abusewatch/actions/appeals.py). A claim
is the console's own record: a `review` record in the evidence locker, written at once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any, Protocol

from abusewatch.common.settings import KafkaSettings
from abusewatch.evidence.store import EvidenceStore, NewRecord
from abusewatch.ingest.contract import encode, format_time, validate
from abusewatch.ingest.messages import Appeal
from abusewatch.policy.kinds import decision_id

log = logging.getLogger(__name__)

DECISIONS = ("upheld", "overturned", "dismissed")


class ReviewError(ValueError):
    """A reviewer request that cannot be carried out as asked (shown to the reviewer)."""


class AppealsPublisher(Protocol):
    async def publish(self, appeal: dict[str, Any]) -> None: ...


class KafkaAppealsPublisher:
    """Publishes appeals messages with aiokafka; connects on first use, so an API without a
    reachable broker still serves every read page."""

    def __init__(self, kafka: KafkaSettings, timeout_s: float = 10.0) -> None:
        self._kafka = kafka
        self._timeout_s = timeout_s
        self._producer: Any = None
        self._lock = asyncio.Lock()

    async def publish(self, appeal: dict[str, Any]) -> None:
        from aiokafka import AIOKafkaProducer

        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(bootstrap_servers=self._kafka.bootstrap, acks="all",
                                            max_request_size=self._kafka.max_message_bytes)
                try:
                    await asyncio.wait_for(producer.start(), self._timeout_s)
                except BaseException:
                    await producer.stop()  # a half-started client must not leak on every retry
                    raise
                self._producer = producer
        await asyncio.wait_for(
            self._producer.send_and_wait(self._kafka.topic("appeals"), encode(appeal), key=appeal["appeal_id"].encode()),
            self._timeout_s,
        )

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()


def decision_appeal(decision: str, outcome: str, reviewer_id: str, note: str, now: datetime, kind: str) -> dict[str, Any]:
    """The appeals/v1 message for a reviewer's outcome on an escalation or an action. The appeal id
    is a function of what was decided, so a double submit records once."""
    if outcome not in DECISIONS:
        raise ReviewError(f"outcome must be one of {', '.join(DECISIONS)}")
    message = Appeal(
        appeal_id=decision_id(f"console-{kind}", decision, outcome, reviewer_id),
        event="decided",
        decision_id=decision,
        appellant_id=None,
        statement=note or None,
        outcome=outcome,
        reviewer_id=reviewer_id,
        at=format_time(now),
    ).to_message()
    validate("appeals", message)  # a note over the schema's length fails here, before sending
    return message


def claim_record(escalation_id: str, reviewer_id: str, now: datetime) -> NewRecord:
    at = format_time(now)
    return NewRecord(
        kind="review",
        occurred_at=at,
        payload={"event": "claimed", "escalation_id": escalation_id, "reviewer_id": reviewer_id, "at": at},
        keys=(f"review:{escalation_id}", f"reviewer:{reviewer_id}"),
        unique_key=f"once:review:claimed:{escalation_id}:{reviewer_id}:{at}",
    )


def require_escalation(store: EvidenceStore, escalation_id: str) -> None:
    """Raise ReviewError unless the id names an escalation that was sent (not a shadow one): the
    review queue's routes act on escalations only, never on an action id put in their URL."""
    if not any(r.payload["topic"] == "escalations" and not r.payload["shadow"]
               for r in store.by_key(f"decision:{escalation_id}", kinds=("decision",))):
        raise ReviewError(f"escalation {escalation_id} is not in the evidence locker")


def require_applied_action(store: EvidenceStore, action_id: str) -> None:
    """Raise ReviewError unless the id names a platform action that was applied (sent, op=apply)."""
    if not any(r.payload["topic"] == "platform-actions" and not r.payload["shadow"] and r.payload["message"]["op"] == "apply"
               for r in store.by_key(f"decision:{action_id}", kinds=("decision",))):
        raise ReviewError(f"action {action_id} is not an applied action in the evidence locker")


def claim(store: EvidenceStore, escalation_id: str, reviewer_id: str, now: datetime) -> None:
    """Record that `reviewer_id` took the escalation. Raises ReviewError if it is not in the locker."""
    require_escalation(store, escalation_id)
    store.append([claim_record(escalation_id, reviewer_id, now)])
