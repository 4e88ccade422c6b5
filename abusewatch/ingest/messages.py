"""One typed message per topic: the fields of each schema in schemas/, as a dataclass that builds
the message (`to_message`) and reads one (`from_message`). Every producer builds its messages with
these: the classifier, the detector, the policy's action kinds, appeals, dead letters, the
simulator and replay. tests/unit/ingest/test_messages.py checks each class against its schema:
the same fields, the same required ones, null allowed where the schema allows it.

Nested objects (scores, window, counts, reasons, ...) stay plain dicts: the schemas define them and
validation checks them; the top level is what producers had drifted on.

An optional field left at None is absent from the message, unless the schema allows null there
(`nullable`), where it is written as null: as the contract's examples show.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar


def nullable(default: Any = None) -> Any:
    """An optional field the message carries as null when it has no value."""
    return dataclasses.field(default=default, metadata={"nullable": True})


@functools.cache
def _layout(cls: type) -> tuple[tuple[str, bool], ...]:
    return tuple((f.name, bool(f.metadata.get("nullable"))) for f in dataclasses.fields(cls))


class Message:
    """A message of one topic. SCHEMA is its `schema` const (posts/v1 has none)."""

    TOPIC: ClassVar[str]
    SCHEMA: ClassVar[str | None]

    def to_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"schema": self.SCHEMA} if self.SCHEMA else {}
        for name, keeps_null in _layout(type(self)):
            value = getattr(self, name)
            if value is not None or keeps_null:
                message[name] = value
        return message

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Any:
        """The typed view of a message that passed validation for this topic."""
        return cls(**{name: value for name, value in message.items() if name != "schema"})


_message = dataclasses.dataclass(frozen=True, slots=True, kw_only=True)


@_message
class Post(Message):
    TOPIC = "posts"
    SCHEMA = None

    post_id: str
    author_id: str
    text: str
    created_at: str
    reply_to_user_id: str | None = None
    mentioned_user_ids: list[str] | None = None
    author_created_at: str | None = None
    author_follower_count: int | None = None
    author_follows_target: bool | None = None
    lang: str | None = None
    url: str | None = None
    platform: dict[str, Any] | None = None
    media: list[dict[str, Any]] | None = None


@_message
class PostScores(Message):
    TOPIC = "post-scores"
    SCHEMA = "post-scores/v1"

    post_id: str
    author_id: str
    targets: list[str]
    scores: dict[str, float]
    doxxing: dict[str, Any]
    threats: dict[str, Any] | None = None
    extortion: dict[str, Any] | None = None
    hostility: dict[str, Any] | None = None
    media_matches: dict[str, Any] | None = None
    language: dict[str, Any] | None = None
    model: dict[str, str]
    post: dict[str, Any]
    scored_at: str
    latency_ms: float


@_message
class TargetAlert(Message):
    TOPIC = "target-alerts"
    SCHEMA = "target-alerts/v1"

    alert_id: str
    campaign_id: str
    target_id: str
    status: str
    detected_at: str
    event_time: str | None = None
    window: dict[str, Any]
    counts: dict[str, int]
    distinct_authors: int
    new_account_share: float
    non_follower_share: float
    near_duplicate_share: float | None = None
    shared_media: list[dict[str, Any]] | None = None
    baseline: dict[str, Any] | None = None
    score_summary: dict[str, dict[str, float]]
    top_post_ids: list[str]
    author_sample: list[str]
    linked_campaign_ids: list[str] | None = None
    model: dict[str, str] | None = None
    detector_version: str | None = None
    reasons: list[str] | None = None


@_message
class PlatformAction(Message):
    TOPIC = "platform-actions"
    SCHEMA = "platform-actions/v1"

    action_id: str
    op: str
    kind: str
    subject: dict[str, str]
    scope: dict[str, Any]
    duration_s: int
    issued_at: str
    expires_at: str
    revokes: str | None = nullable()
    evidence_post_ids: list[str]
    reasons: dict[str, Any]


SEVERITIES = ("critical", "high", "medium", "low")  # an escalation's severity (and the policy's), most severe first


@_message
class Escalation(Message):
    TOPIC = "escalations"
    SCHEMA = "escalations/v1"

    escalation_id: str
    severity: str
    category: str
    target_id: str | None = nullable()
    author_id: str | None = nullable()
    campaign_id: str | None = nullable()
    created_at: str
    expires_at: str | None = None
    evidence_post_ids: list[str]
    reasons: dict[str, Any]


@_message
class Appeal(Message):
    TOPIC = "appeals"
    SCHEMA = "appeals/v1"

    appeal_id: str
    event: str
    decision_id: str
    appellant_id: str | None = nullable()
    statement: str | None = nullable()
    outcome: str | None = nullable()
    reviewer_id: str | None = nullable()
    at: str


@_message
class HashBankUpdate(Message):
    """Live additions to or removals from a hash bank (docs/media.md)."""

    TOPIC = "hash-bank-updates"
    SCHEMA = "hash-bank-updates/v1"

    update_id: str
    bank: str
    op: str
    entries: list[dict[str, Any]]
    at: str
    source: str | None = None


@_message
class PostDeadLetter(Message):
    """A post the classifier could not take (posts-dlq/v1)."""

    TOPIC = "posts-dlq"
    SCHEMA = "posts-dlq/v1"

    error: dict[str, str]
    original_base64: str
    original_size: int
    original_truncated: bool | None = None
    original_sha256: str | None = None
    source: dict[str, Any]
    post_id: str | None = nullable()
    service: str
    dead_lettered_at: str


@_message
class DeadLetter(Message):
    """A message on an internal topic that its reader could not take (dead-letters/v1)."""

    TOPIC = "dead-letters"
    SCHEMA = "dead-letters/v1"

    error: dict[str, str]
    original_base64: str
    original_size: int
    original_truncated: bool
    original_sha256: str
    source: dict[str, Any]
    post_id: str | None = nullable()
    service: str
    dead_lettered_at: str


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TOPIC: cls for cls in (Post, PostScores, TargetAlert, PlatformAction, Escalation, Appeal, HashBankUpdate,
                 PostDeadLetter, DeadLetter)
}
