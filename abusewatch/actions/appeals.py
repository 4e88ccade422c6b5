"""Appeals and reversals: due process for every action the service takes.

An appeal (appeals topic, event=filed) is recorded in the evidence locker against the action or
escalation it names. The reviewer's outcome (event=decided) is recorded too and, when it is upheld or
overturned, becomes a label for retraining (`appeal_labels`); `dismissed` closes a review without a
judgement on the decision (a duplicate, out of scope) and gives no label. An overturned action is
revoked: a platform-actions message with op=revoke, revokes=<original action_id> and an action_id
derived from the original one, so reprocessing the appeal yields the same revoke and the platform
applies it once. Escalations have no revoke on their topic: an overturned escalation revokes the
actions taken on the same evidence instead (for a campaign, every action of that campaign; for a
post, the same rule's actions on the same posts), so a reviewer's "this was wrong" lifts them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from abusewatch.ingest.contract import format_time, parse_time
from abusewatch.ingest.messages import PlatformAction
from abusewatch.evidence.records import appeal_record, decision_record
from abusewatch.evidence.chain import ChainRecord
from abusewatch.evidence.store import EvidenceStore
from abusewatch.policy.kinds import decision_id
from abusewatch.policy.kinds.base import Decision

OVERTURN_RULE_ID = "appeal.overturned"
OUTCOMES = ("upheld", "overturned", "dismissed")


class InvalidAppeal(ValueError):
    """An appeals message that is schema-valid but cannot be acted on (decided without outcome)."""


@dataclasses.dataclass(frozen=True, slots=True)
class AppealOutcome:
    revocations: tuple[Decision, ...]  # to send on platform-actions
    note: str  # what happened, for the log


def revocation_id(action_id: str) -> str:
    """The revoke's action_id: a function of the original, so every replay gives the same id."""
    return decision_id("revoke", action_id)


def revocation(original: dict[str, Any], appeal: dict[str, Any], *, now: datetime) -> Decision:
    """The platform-actions revoke of `original` (an op=apply message) after `appeal` overturned it."""
    reasons = {
        **original["reasons"],
        "rule_id": OVERTURN_RULE_ID,
        "summary": f"appeal {appeal['appeal_id']} overturned {original['reasons']['rule_id']}",
        "original_rule_id": original["reasons"]["rule_id"],
        "appeal_id": appeal["appeal_id"],
        "reviewer_id": appeal.get("reviewer_id"),
    }
    message = dataclasses.replace(
        PlatformAction.from_message(original),
        action_id=revocation_id(original["action_id"]),
        op="revoke",
        issued_at=format_time(now),
        # A revoke matters only until the original would have expired on its own.
        expires_at=original["expires_at"],
        revokes=original["action_id"],
        reasons=reasons,
    ).to_message()
    subject_id = original["subject"]["id"]
    return Decision(OVERTURN_RULE_ID, "platform-actions", subject_id, message, False, parse_time(appeal["at"]))


def actions_of_escalation(escalation_record: ChainRecord, store: EvidenceStore, *, now: datetime) -> list[dict[str, Any]]:
    """The applied (not shadowed), unexpired actions taken on the same evidence as an escalation:
    for a campaign's escalation every action of that campaign; for a post's, the same rule's actions
    on the same evidence posts, whether on the author (a throttle) or on the post (a hold)."""
    escalation = escalation_record.payload["message"]
    campaign_id = escalation.get("campaign_id") or escalation["reasons"].get("campaign_id")
    if campaign_id:
        keys = [f"campaign:{campaign_id}"]
    else:
        keys = [f"post:{post_id}" for post_id in escalation["evidence_post_ids"]]
        keys += [f"author:{escalation['author_id']}"] if escalation.get("author_id") else []
    found: dict[str, dict[str, Any]] = {}
    for key in keys:
        for record in store.by_key(key, kinds=("decision",)):
            payload, message = record.payload, record.payload["message"]
            if payload["topic"] != "platform-actions" or payload["shadow"] or message["op"] != "apply":
                continue
            if parse_time(message["expires_at"]) <= now:
                continue  # over already: nothing to lift
            if not campaign_id and (payload["rule_id"] != escalation_record.payload["rule_id"]
                                    or message["evidence_post_ids"] != escalation["evidence_post_ids"]):
                continue
            found.setdefault(message["action_id"], message)
    return list(found.values())


def handle_appeal(appeal: dict[str, Any], store: EvidenceStore, *, now: datetime) -> AppealOutcome:
    """Record a validated appeals message; for an overturned decision also record and return the
    revokes it causes.

    Idempotent: a redelivered appeal is not recorded twice, and its revokes (same action_ids) are
    returned again so a crash between recording and sending cannot lose them.
    """
    if appeal["event"] == "decided" and appeal.get("outcome") not in OUTCOMES:
        raise InvalidAppeal(f"appeal {appeal['appeal_id']}: event=decided needs outcome {', '.join(OUTCOMES)}")
    records = [appeal_record(appeal)]
    note = f"appeal {appeal['appeal_id']} {appeal['event']} against {appeal['decision_id']}"
    revokes: list[Decision] = []
    if appeal["event"] == "decided" and appeal["outcome"] == "overturned":
        originals = store.by_key(f"decision:{appeal['decision_id']}", kinds=("decision",))
        applied = [r.payload["message"] for r in originals if r.payload["message"].get("op") == "apply"]
        escalations = [r for r in originals if r.payload["topic"] == "escalations"]
        if escalations:
            applied = actions_of_escalation(escalations[0], store, now=now)
        revokes = [revocation(original, appeal, now=now) for original in applied]
        if revokes:
            note = f"{note}: overturned, revoking {', '.join(revoke.id for revoke in revokes)}"
        elif originals:
            note = f"{note}: overturned (no action in force to revoke)"
        else:
            note = f"{note}: overturned, but no such decision in the locker"
        records += [decision_record(revoke) for revoke in revokes]
    store.append(records)
    return AppealOutcome(tuple(revokes), note)


def appeal_labels(store: EvidenceStore) -> Iterator[dict[str, Any]]:
    """One label per decided appeal: the decision, what triggered it, the evidence posts' text and
    whether humans upheld it (a true positive) or overturned it (a false positive)."""
    for record in store.by_kind("appeal"):
        appeal = record.payload
        if appeal["event"] != "decided" or appeal["outcome"] == "dismissed":
            continue
        originals = store.by_key(f"decision:{appeal['decision_id']}", kinds=("decision",))
        original = originals[0].payload if originals else None
        message = original["message"] if original else {}
        post_ids = message.get("evidence_post_ids", [])
        posts = [
            {"post_id": r.payload["scored"]["post_id"], "text": r.payload["scored"]["post"]["text"]}
            for post_id in post_ids
            for r in store.by_key(f"post:{post_id}", kinds=("post",))
        ]
        yield {
            "appeal_id": appeal["appeal_id"],
            "decision_id": appeal["decision_id"],
            "outcome": appeal["outcome"],
            "label": "false_positive" if appeal["outcome"] == "overturned" else "true_positive",
            "decided_at": appeal["at"],
            "reviewer_id": appeal.get("reviewer_id"),
            "rule_id": original["rule_id"] if original else None,
            "reasons": message.get("reasons"),
            "evidence_post_ids": post_ids,
            "posts": posts,
        }
