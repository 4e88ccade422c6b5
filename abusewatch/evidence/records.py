"""What the actions service records, and under which lookup keys.

Record kinds and payloads (docs/evidence.md):
- post: {"scored": <post-scores message>, "matched_rules": [...], "skipped": [...]}
- alert: {"alert": <target-alerts message>, "matched_rules": [...], "skipped": [...]}
- decision: {"topic", "rule_id", "shadow", "trigger_time", "message": <platform-actions or escalations>}
- appeal: <appeals message>
- suggestion: a Perspective suggestscore from the API (suggestion_record), a label for retraining
- checkpoint: written by EvidenceStore.purge

Lookup keys are "post:ID", "author:ID", "target:ID", "campaign:ID", "decision:ID", "appeal:ID" and
"appealed:DECISION_ID"; every record also has a "once:..." key so a redelivered message is not
recorded twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from abusewatch.ingest.contract import format_time, parse_time
from abusewatch.evidence.store import EvidenceStore, NewRecord
from abusewatch.policy.engine import Skip
from abusewatch.policy.kinds.base import Decision


def _utc(timestamp: str) -> str:
    """occurred_at in one format (UTC, milliseconds, Z) so that text order is time order."""
    return format_time(parse_time(timestamp))


def _skips(skipped: tuple[Skip, ...]) -> list[dict[str, str]]:
    return [dataclasses.asdict(skip) for skip in skipped]


def post_record(scored: dict[str, Any], matched_rules: tuple[str, ...], skipped: tuple[Skip, ...]) -> NewRecord:
    keys = (f"post:{scored['post_id']}", f"author:{scored['author_id']}", *(f"target:{t}" for t in scored["targets"]))
    return NewRecord(
        kind="post",
        occurred_at=_utc(scored["post"]["created_at"]),
        payload={"scored": scored, "matched_rules": list(matched_rules), "skipped": _skips(skipped)},
        keys=keys,
        unique_key=f"once:post:{scored['post_id']}",
    )


def alert_record(alert: dict[str, Any], matched_rules: tuple[str, ...], skipped: tuple[Skip, ...]) -> NewRecord:
    return NewRecord(
        kind="alert",
        occurred_at=_utc(alert["detected_at"]),
        payload={"alert": alert, "matched_rules": list(matched_rules), "skipped": _skips(skipped)},
        keys=(f"target:{alert['target_id']}", f"campaign:{alert['campaign_id']}"),
        unique_key=f"once:alert:{alert['alert_id']}",
    )


def decision_record(decision: Decision) -> NewRecord:
    message = decision.message
    keys = {f"decision:{decision.id}"}
    if decision.topic == "platform-actions":
        keys.add(f"{message['subject']['type']}:{message['subject']['id']}")
        occurred_at = _utc(message["issued_at"])
    else:
        keys |= {f"target:{message['target_id']}"} if message["target_id"] else set()
        keys |= {f"author:{message['author_id']}"} if message["author_id"] else set()
        occurred_at = _utc(message["created_at"])
    if message["reasons"].get("campaign_id"):
        keys.add(f"campaign:{message['reasons']['campaign_id']}")
    return NewRecord(
        kind="decision",
        occurred_at=occurred_at,
        payload={
            "topic": decision.topic,
            "rule_id": decision.rule_id,
            "shadow": decision.shadow,
            "trigger_time": format_time(decision.trigger_time),
            "message": message,
        },
        keys=tuple(sorted(keys)),
        unique_key=f"once:decision:{decision.id}",
    )


def appeal_record(appeal: dict[str, Any]) -> NewRecord:
    return NewRecord(
        kind="appeal",
        occurred_at=_utc(appeal["at"]),
        payload=appeal,
        keys=(f"appeal:{appeal['appeal_id']}", f"appealed:{appeal['decision_id']}"),
        unique_key=f"once:appeal:{appeal['appeal_id']}:{appeal['event']}",
    )


def suggestion_record(suggestion: dict[str, Any], received_at: str) -> NewRecord:
    """A Perspective SuggestCommentScore (comments:suggestscore): a client's own scores for a comment,
    kept as a label for retraining. `suggestion` is {"text", "attribute_scores", "languages",
    "community_id", "client_token", "context"}; no API credential is ever part of it."""
    keys = ["suggestion"]
    if suggestion.get("client_token"):
        keys.append(f"client_token:{suggestion['client_token']}")
    if suggestion.get("community_id"):
        keys.append(f"community:{suggestion['community_id']}")
    return NewRecord(kind="suggestion", occurred_at=_utc(received_at), payload=suggestion, keys=tuple(keys))


def suggestion_labels(store: EvidenceStore) -> Iterator[dict[str, Any]]:
    """One retraining label per stored suggestion, in the order received."""
    for record in store.by_kind("suggestion"):
        yield {"source": "suggestscore", "received_at": record.occurred_at, **record.payload}
