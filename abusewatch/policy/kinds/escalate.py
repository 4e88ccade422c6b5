"""escalate: a case for trust-and-safety reviewers (escalations/v1), about the author of a post or
about a campaign against a target."""

from __future__ import annotations

from datetime import timedelta

from abusewatch.ingest.contract import format_time
from abusewatch.ingest.messages import Escalation
from abusewatch.policy.kinds.base import ActionKind, Decision, Subject, Trigger, idempotency_key
from abusewatch.policy.model import ActionSpec


class Escalate(ActionKind):
    name = "escalate"
    inputs = frozenset({"post-scores", "target-alerts"})

    def subjects(self, trigger: Trigger) -> list[Subject]:
        if trigger.input == "post-scores":
            assert trigger.author_id is not None
            return [Subject("author", trigger.author_id)]
        assert trigger.campaign_id is not None
        return [Subject("campaign", trigger.campaign_id)]

    def refusal(self, trigger: Trigger) -> str | None:
        # An escalation without evidence cannot be reviewed (the schema requires one).
        return None if trigger.evidence_post_ids else "no evidence posts in alert"

    def build(self, trigger: Trigger, spec: ActionSpec, subject: Subject) -> Decision:
        escalation_id = idempotency_key(trigger, spec, subject.id)
        about_campaign = subject.type == "campaign"
        message = Escalation(
            escalation_id=escalation_id,
            severity=spec.severity,
            category=spec.category,
            target_id=trigger.targets[0] if trigger.targets else None,
            author_id=None if about_campaign else trigger.author_id,
            campaign_id=trigger.campaign_id if about_campaign else None,
            created_at=format_time(trigger.now),
            expires_at=format_time(trigger.now + timedelta(seconds=trigger.policy.escalation_ttl_s)),
            evidence_post_ids=list(trigger.evidence_post_ids),
            reasons={**trigger.reasons, "reviewer_note": spec.reviewer_note} if spec.reviewer_note else dict(trigger.reasons),
        ).to_message()
        return Decision(trigger.rule.id, "escalations", escalation_id, message, trigger.rule.shadow,
                        trigger.event_time)
