"""What every action kind shares: the trigger a matched rule hands it, its subjects, the
deterministic ids, and the platform-actions message."""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from abusewatch.ingest.contract import format_time
from abusewatch.ingest.messages import PlatformAction as PlatformActionMessage
from abusewatch.policy.model import ActionSpec, Policy, Rule

# Namespace of every id the actions service derives (uuid5). Never change it: ids would change.
DECISION_ID_NAMESPACE = uuid.UUID("5d0c3c1e-8f57-4d1a-9a55-0a3e5c2b7f10")


def decision_id(*parts: object) -> str:
    """A deterministic id: uuid5 over the parts joined by '|'."""
    return str(uuid.uuid5(DECISION_ID_NAMESPACE, "|".join(str(part) for part in parts)))


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """One output message: a platform action or an escalation."""

    rule_id: str
    topic: str  # "platform-actions" or "escalations"
    key: str  # Kafka key: the subject id for actions, the escalation_id for escalations
    message: dict[str, Any]
    shadow: bool
    trigger_time: datetime  # event time of the post or alert that triggered it (response times)

    @property
    def id(self) -> str:
        return self.message["action_id"] if self.topic == "platform-actions" else self.message["escalation_id"]


@dataclasses.dataclass(frozen=True, slots=True)
class Trigger:
    """What one matched rule saw: enough to build every action it takes."""

    rule: Rule
    policy: Policy
    input: str  # "post-scores" or "target-alerts"
    reasons: dict[str, Any]
    event_time: datetime
    now: datetime
    evidence_post_ids: Sequence[str]
    post_id: str | None = None
    author_id: str | None = None
    targets: tuple[str, ...] = ()  # post rules: every target; alert rules: the alert's target
    campaign_id: str | None = None

    @property
    def context_id(self) -> str:
        """The input a decision comes from: the post (post rules) or the campaign (alert rules)."""
        context = self.post_id if self.input == "post-scores" else self.campaign_id
        assert context is not None
        return context


@dataclasses.dataclass(frozen=True, slots=True)
class Subject:
    """Whom an action applies to. `id` keys its cooldown; `type` is the platform-actions subject type."""

    type: str
    id: str


def _bucket(event_time: datetime, cooldown_s: int) -> int:
    """Time bucket of the idempotency key: one id per subject per cooldown period."""
    return math.floor(event_time.timestamp() / cooldown_s) if cooldown_s > 0 else 0


def idempotency_key(trigger: Trigger, spec: ActionSpec, subject: str) -> str:
    # A campaign is always part of the key. A post is only when there is no cooldown (every post
    # acts on its own); otherwise the time bucket is, so an author yields one action per period.
    campaign_id = trigger.campaign_id
    per_input = campaign_id or (trigger.context_id if spec.cooldown_s == 0 else "-")
    return decision_id(trigger.rule.id, spec.kind, subject, per_input, _bucket(trigger.event_time, spec.cooldown_s))


class ActionKind:
    """One kind of action. `inputs`: the rule inputs it may follow (the policy schema says the same)."""

    name: ClassVar[str]
    inputs: ClassVar[frozenset[str]]

    def subjects(self, trigger: Trigger) -> list[Subject]:
        """Whom the action applies to, one decision each (after its cooldown)."""
        raise NotImplementedError

    def refusal(self, trigger: Trigger) -> str | None:
        """Why the action cannot be taken on this trigger at all (recorded as a skip), or None."""
        return None

    def build(self, trigger: Trigger, spec: ActionSpec, subject: Subject) -> Decision:
        raise NotImplementedError


class PlatformAction(ActionKind):
    """A kind the platform applies (platform-actions/v1), with a scope and a duration."""

    def build(self, trigger: Trigger, spec: ActionSpec, subject: Subject) -> Decision:
        action_id = idempotency_key(trigger, spec, f"{subject.type}:{subject.id}")
        message = PlatformActionMessage(
            action_id=action_id,
            op="apply",
            kind=spec.kind,
            subject={"type": subject.type, "id": subject.id},
            scope=dict(spec.scope),
            duration_s=spec.duration_s,
            issued_at=format_time(trigger.now),
            expires_at=format_time(trigger.now + timedelta(seconds=spec.duration_s)),
            revokes=None,
            evidence_post_ids=list(trigger.evidence_post_ids),
            reasons=dict(trigger.reasons),
        ).to_message()
        return Decision(trigger.rule.id, "platform-actions", subject.id, message, trigger.rule.shadow,
                         trigger.event_time)
