"""The public contract: topic names, JSON Schemas (schemas/*.json) and the validate step.

Every message on every topic is a JSON object encoded with orjson and validated against the
versioned schema of its topic. `validate_post` is the pipeline's validate step: it turns raw bytes
from the posts topic into a `Post` or a `Rejection` with a machine-readable code, never raising.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

import jsonschema_rs
import orjson

from abusewatch.common import resources
from abusewatch.ingest.messages import DeadLetter, PostDeadLetter

SCHEMA_DIR = resources.schema_dir()

# Topic -> schema file. Keys are unprefixed names; KafkaSettings.topic() adds the prefix.
TOPICS: dict[str, str] = {
    "posts": "posts.v1.json",
    "post-scores": "post-scores.v1.json",
    "posts-dlq": "posts-dlq.v1.json",
    "dead-letters": "dead-letters.v1.json",
    "target-alerts": "target-alerts.v1.json",
    "platform-actions": "platform-actions.v1.json",
    "escalations": "escalations.v1.json",
    "appeals": "appeals.v1.json",
    "hash-bank-updates": "hash-bank-updates.v1.json",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_time(ts: datetime) -> str:
    """RFC 3339 with millisecond precision and a Z suffix."""
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 timestamp; an offset is required (naive times are ambiguous)."""
    if value[-1:] == "z":  # Python 3.11's fromisoformat reads a "Z" suffix, but not a lowercase one
        value = value[:-1] + "Z"
    ts = datetime.fromisoformat(value)
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no UTC offset")
    return ts


@functools.cache
def schema_registry() -> jsonschema_rs.Registry:
    """Every schema in schemas/ under its $id, so relative refs such as "common.v1.json#/$defs/id" resolve."""
    schemas = [json.loads(path.read_text()) for path in SCHEMA_DIR.glob("*.json")]
    return jsonschema_rs.Registry([(schema["$id"], schema) for schema in schemas])


@functools.cache
def schema_for(topic: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / TOPICS[topic]).read_text())


@functools.cache
def validator_for(topic: str) -> jsonschema_rs.Draft202012Validator:
    # jsonschema-rs (Rust) because posts are validated on the hot path, where the pure-Python
    # jsonschema is over 20 times slower (docs/benchmarks.md). Like the Python library, it leaves
    # "format" unasserted (an annotation in 2020-12); timestamps are parsed below.
    return jsonschema_rs.Draft202012Validator(schema_for(topic), registry=schema_registry())


class ContractError(ValueError):
    """A message does not match its topic's schema."""


def error_location(error: jsonschema_rs.ValidationError) -> str:
    """Where in the document a schema violation is, as a slash path ("(root)" for the top)."""
    return "/".join(str(p) for p in error.instance_path) or "(root)"


def validate(topic: str, message: dict[str, Any]) -> None:
    """Raise ContractError naming the first violation (used on outputs and in tests)."""
    validator = validator_for(topic)
    if validator.is_valid(message):  # the common case, without building an error iterator
        return
    error = next(validator.iter_errors(message), None)
    if error is not None:
        raise ContractError(f"{topic}: {error_location(error)}: {error.message}")


def encode(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message)


def decode(raw: bytes) -> dict[str, Any]:
    return orjson.loads(raw)


# ---------------------------------------------------------------------------------------------
# The validate step for the posts topic.


@dataclasses.dataclass(frozen=True, slots=True)
class Post:
    """A validated post. `raw` is the message as received (a dict), passed forward untouched."""

    post_id: str
    author_id: str
    text: str
    created_at: datetime
    targets: tuple[str, ...]
    raw: dict[str, Any]
    targets_dropped: int = 0  # targets beyond the per-post cap


@dataclasses.dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message was dead-lettered. `code` is one of the dead-letter schemas' error codes."""

    code: str
    message: str
    post_id: str | None = None


_POST_FIELDS = frozenset(schema_for("posts")["properties"])


def targets_of(message: dict[str, Any], limit: int | None = None) -> tuple[tuple[str, ...], int]:
    """The accounts a post is aimed at (the replied-to user first, then mentions; never the author),
    at most `limit` of them, and how many more were dropped."""
    author = message["author_id"]
    seen: dict[str, None] = {}
    reply_to = message.get("reply_to_user_id")
    if reply_to:
        seen[reply_to] = None
    for user in message.get("mentioned_user_ids") or ():
        seen.setdefault(user, None)
    seen.pop(author, None)
    targets = tuple(seen)
    if limit is None or len(targets) <= limit:
        return targets, 0
    return targets[:limit], len(targets) - limit


def event_time_rejection(
    created_at: datetime, *, now: float, max_ahead_s: float, post_id: str | None = None
) -> Rejection | None:
    """A Rejection when a post claims an event time more than max_ahead_s after `now`: it would move
    an event-time watermark (the newest time seen) and make every other post late. Posts from the
    past are not refused: they cannot move a watermark, a backlog read after an outage is all past,
    and the detector counts a post older than its grace period as late."""
    ahead = created_at.timestamp() - now
    if ahead <= max_ahead_s:
        return None
    return Rejection(
        "event_time_skew", f"created_at is {ahead:.0f} s in the future (limit {max_ahead_s:.0f} s)", post_id
    )


def validate_post(
    raw: bytes | None,
    *,
    max_text_chars: int,
    max_message_bytes: int,
    max_targets: int | None = None,
    max_ahead_s: float | None = None,
    now: float | None = None,
) -> Post | Rejection:
    """Raw bytes from the posts topic -> Post, or a Rejection saying exactly what is wrong."""
    if raw is None:
        return Rejection("invalid_json", "message value is empty (null)")
    if len(raw) > max_message_bytes:
        return Rejection("message_too_large", f"message is {len(raw)} bytes, limit {max_message_bytes}")
    decoded = decode_object(raw)
    if isinstance(decoded, Rejection):
        return decoded
    message = decoded
    post_id = message.get("post_id") if isinstance(message.get("post_id"), str) else None
    unknown = sorted(set(message) - _POST_FIELDS)
    if unknown:
        return Rejection(
            "unknown_fields", f"unknown field(s) {', '.join(unknown)}; put platform data in 'platform'", post_id
        )
    try:
        validate("posts", message)
    except ContractError as exc:
        return Rejection("schema_violation", str(exc), post_id)
    text = message["text"]
    if not text.strip():
        return Rejection("empty_text", "text is blank", post_id)
    if len(text) > max_text_chars:
        return Rejection("text_too_long", f"text is {len(text)} characters, limit {max_text_chars}", post_id)
    try:
        created_at = parse_time(message["created_at"])
        if message.get("author_created_at"):
            parse_time(message["author_created_at"])
    except ValueError as exc:
        return Rejection("invalid_timestamp", f"invalid RFC 3339 timestamp: {exc}", post_id)
    if max_ahead_s is not None:
        ahead = event_time_rejection(
            created_at, now=utcnow().timestamp() if now is None else now, max_ahead_s=max_ahead_s, post_id=post_id
        )
        if ahead is not None:
            return ahead
    targets, dropped = targets_of(message, max_targets)
    return Post(
        post_id=message["post_id"],
        author_id=message["author_id"],
        text=text,
        created_at=created_at,
        targets=targets,
        raw=message,
        targets_dropped=dropped,
    )


def decode_object(raw: bytes) -> dict[str, Any] | Rejection:
    """Bytes -> a JSON object, or the Rejection that says why not (never raises)."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson rejects invalid UTF-8 too; decoding (only on this path) tells which fault it was.
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as utf8_error:
            return Rejection("invalid_utf8", f"not valid UTF-8 at byte {utf8_error.start}: {utf8_error.reason}")
        return Rejection("invalid_json", f"not valid JSON: {exc}")
    if not isinstance(message, dict):
        return Rejection("not_an_object", f"expected a JSON object, got {type(message).__name__}")
    return message


# Timestamps each internal topic's consumers compute with: schema "format" is not asserted, so
# they are parsed here, once, for every message that is accepted.
_TIMESTAMPS: dict[str, Any] = {
    "post-scores": lambda m: [m["post"]["created_at"], m["scored_at"], *filter(None, [m["post"].get("author_created_at")])],
    "target-alerts": lambda m: [m["detected_at"], *([m["event_time"]] if m.get("event_time") else [])],
    "appeals": lambda m: [m["at"]],
    "hash-bank-updates": lambda m: [m["at"]],
}


def validate_message(topic: str, raw: bytes | None) -> dict[str, Any] | Rejection:
    """The validate step for every topic a service consumes besides posts: raw bytes -> a message
    that matches the topic's schema (timestamps parsed), or a Rejection. Never raises."""
    validated = validate_message_times(topic, raw)
    return validated if isinstance(validated, Rejection) else validated[0]


def validate_message_times(topic: str, raw: bytes | None) -> tuple[dict[str, Any], list[datetime]] | Rejection:
    """validate_message, with the timestamps it parsed, in the order _TIMESTAMPS lists them (a
    post-scores message's event time, post.created_at, first), for a consumer that computes with them."""
    if raw is None:
        return Rejection("invalid_json", "message value is empty (null)")
    decoded = decode_object(raw)
    if isinstance(decoded, Rejection):
        return decoded
    message = decoded
    post_id = message.get("post_id") if isinstance(message.get("post_id"), str) else None
    try:
        validate(topic, message)
    except ContractError as exc:
        return Rejection("schema_violation", str(exc), post_id)
    try:
        times = [parse_time(timestamp) for timestamp in _TIMESTAMPS[topic](message)]
    except ValueError as exc:
        return Rejection("invalid_timestamp", f"invalid RFC 3339 timestamp: {exc}", post_id)
    return message, times


DEAD_LETTER_TYPES = {cls.SCHEMA: cls for cls in (PostDeadLetter, DeadLetter)}
MAX_ERROR_MESSAGE_CHARS = 1_000  # error texts quote values; a quoted 60 KB string is not a reason
MAX_ID_CHARS = 256  # common.v1.json#/$defs/id
# Above the kept original: the error text and post id at worst 6 bytes a character (JSON escapes
# control characters as \u00XX), plus the envelope, source and timestamps.
DEAD_LETTER_OVERHEAD_BYTES = 6 * MAX_ERROR_MESSAGE_CHARS + 6 * MAX_ID_CHARS + 1_024


def dead_letter_size_bound(keep_bytes: int) -> int:
    """The largest encoded dead letter for a given ABUSEWATCH_DEAD_LETTER_KEEP_BYTES."""
    return 4 * ((keep_bytes + 2) // 3) + DEAD_LETTER_OVERHEAD_BYTES


def dead_letter(
    rejection: Rejection,
    original: bytes | None,
    *,
    topic: str,
    partition: int,
    offset: int,
    service: str,
    keep_bytes: int,
    schema: str = "posts-dlq/v1",
) -> dict[str, Any]:
    """A dead letter for `rejection`: the first keep_bytes of the original (base64), its full size
    and SHA-256, and where it came from. Its size is bounded (dead_letter_size_bound) whatever the
    input, so a huge message can always be dead-lettered."""
    original = original or b""
    error_message = rejection.message
    if len(error_message) > MAX_ERROR_MESSAGE_CHARS:
        error_message = error_message[: MAX_ERROR_MESSAGE_CHARS - 1] + "\u2026"
    post_id = rejection.post_id
    if post_id is not None and (len(post_id) > MAX_ID_CHARS or "\x00" in post_id):  # not an id by contract
        post_id = None
    letter = DEAD_LETTER_TYPES[schema]
    return letter(
        error={"code": rejection.code, "message": error_message},
        original_base64=base64.b64encode(original[:keep_bytes]).decode("ascii"),
        original_size=len(original),
        original_truncated=len(original) > keep_bytes,
        original_sha256=hashlib.sha256(original).hexdigest(),
        source={"topic": topic, "partition": partition, "offset": offset},
        post_id=post_id,
        service=service,
        dead_lettered_at=format_time(utcnow()),
    ).to_message()
