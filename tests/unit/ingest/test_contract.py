"""The public contract: schemas, examples, docs, and the validate step for posts."""

import base64
import hashlib
import json
import re
from pathlib import Path

import orjson
import pytest

from abusewatch.ingest import contract
from abusewatch.ingest.contract import Post, Rejection, validate_post

ROOT = Path(__file__).resolve().parents[3]
LIMITS = {"max_text_chars": 100, "max_message_bytes": 2048}
NOW = contract.parse_time("2026-11-21T10:00:00Z").timestamp()


def _post(**fields):
    base = {"post_id": "p1", "author_id": "a1", "text": "hello there", "created_at": "2026-11-21T09:00:00Z"}
    base.update(fields)
    return base


def _check(message) -> Post | Rejection:
    raw = message if isinstance(message, bytes) else orjson.dumps(message)
    return validate_post(raw, **LIMITS)


@pytest.mark.parametrize("topic", sorted(contract.TOPICS))
def test_every_topic_has_a_valid_example_that_the_docs_show(topic):
    example = json.loads((ROOT / "schemas" / "examples" / f"{topic}.json").read_text())
    contract.validate(topic, example)
    docs = (ROOT / "docs" / "contract.md").read_text()
    section = docs.split(f"## `{topic}`", 1)[1]
    block = re.search(r"```json\n(.*?)\n```", section, re.S).group(1)
    assert json.loads(block) == example


@pytest.mark.parametrize("topic", sorted(contract.TOPICS))
def test_schemas_reject_a_message_missing_a_required_field(topic):
    example = json.loads((ROOT / "schemas" / "examples" / f"{topic}.json").read_text())
    required = contract.schema_for(topic)["required"]
    del example[required[0]]
    with pytest.raises(contract.ContractError, match=required[0]):
        contract.validate(topic, example)


@pytest.mark.parametrize("topic", sorted(contract.TOPICS))
def test_ids_with_a_nul_character_are_rejected(topic):
    # PostgreSQL text cannot hold NUL, and ids become the evidence locker's lookup keys: an id with
    # one would fail every write of its batch there, for good (SQLite would have stored it).
    example = json.loads((ROOT / "schemas" / "examples" / f"{topic}.json").read_text())
    properties = contract.schema_for(topic)["properties"]
    id_fields = [name for name, spec in properties.items()
                 if spec.get("$ref", "").endswith("common.v1.json#/$defs/id") and isinstance(example.get(name), str)]
    for name in id_fields:
        broken = dict(example, **{name: "id-\u0000-nul"})
        with pytest.raises(contract.ContractError, match=name):
            contract.validate(topic, broken)
    if topic == "posts":
        assert id_fields and isinstance(_check(_post(post_id="p\u0000")), Rejection)
        # reply_to_user_id is nullable, not a common id, and becomes a target all the same.
        assert isinstance(_check(_post(reply_to_user_id="u\u0000x")), Rejection)


def test_valid_post_carries_targets_reply_first_without_the_author():
    outcome = _check(_post(reply_to_user_id="t1", mentioned_user_ids=["t2", "t1", "a1"]))
    assert isinstance(outcome, Post)
    assert outcome.targets == ("t1", "t2")
    assert outcome.created_at.tzinfo is not None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (None, "invalid_json"),
        (b"\xff\xfe{}", "invalid_utf8"),
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (orjson.dumps({"post_id": "p1", "text": "x", "created_at": "2026-11-21T09:00:00Z"}), "schema_violation"),
        (orjson.dumps(_post(author_id=17)), "schema_violation"),
        (orjson.dumps(_post(mentioned_user_ids="t1")), "schema_violation"),
        (orjson.dumps(_post(favourite_colour="red")), "unknown_fields"),
        (orjson.dumps(_post(text="   \n")), "empty_text"),
        (orjson.dumps(_post(text="")), "schema_violation"),
        (orjson.dumps(_post(text="x" * 101)), "text_too_long"),
        (orjson.dumps(_post(text="x" * 3000)), "message_too_large"),
        (orjson.dumps(_post(created_at="yesterday")), "invalid_timestamp"),
        (orjson.dumps(_post(created_at="2026-11-21T09:00:00")), "invalid_timestamp"),
        (orjson.dumps(_post(author_created_at="2026-13-01T00:00:00Z")), "invalid_timestamp"),
    ],
)
def test_bad_input_is_rejected_with_a_precise_code(raw, code):
    outcome = validate_post(raw, **LIMITS)
    assert isinstance(outcome, Rejection), outcome
    assert outcome.code == code, outcome.message
    assert outcome.message


def test_dead_letter_keeps_the_original_bytes_and_validates():
    raw = b"\xff not utf8"
    rejection = validate_post(raw, **LIMITS)
    message = contract.dead_letter(rejection, raw, topic="posts", partition=3, offset=99, service="classifier",
                                   keep_bytes=1024)
    contract.validate("posts-dlq", message)
    assert base64.b64decode(message["original_base64"]) == raw
    assert message["original_truncated"] is False
    assert message["original_sha256"] == hashlib.sha256(raw).hexdigest()
    assert message["source"] == {"topic": "posts", "partition": 3, "offset": 99}


@pytest.mark.parametrize("schema", ["posts-dlq/v1", "dead-letters/v1"])
def test_a_dead_letter_is_bounded_whatever_the_input(schema):
    raw = orjson.dumps(_post(text="x" * 3_000_000))  # several MB, far over every limit
    rejection = Rejection("message_too_large", "quoting " + "y" * 50_000, post_id="p" * 10_000)
    message = contract.dead_letter(rejection, raw, topic="posts", partition=0, offset=1, service="classifier",
                                   keep_bytes=16_384, schema=schema)
    contract.validate(schema.split("/")[0], message)
    encoded = contract.encode(message)
    assert len(encoded) <= contract.dead_letter_size_bound(16_384)
    assert base64.b64decode(message["original_base64"]) == raw[:16_384]
    assert message["original_size"] == len(raw) and message["original_truncated"] is True
    assert message["original_sha256"] == hashlib.sha256(raw).hexdigest()
    assert len(message["error"]["message"]) <= contract.MAX_ERROR_MESSAGE_CHARS
    assert message["post_id"] is None  # longer than any id the contract admits


def test_every_dead_letter_code_is_in_its_schema():
    posts_codes = set(contract.schema_for("posts-dlq")["properties"]["error"]["properties"]["code"]["enum"])
    internal_codes = set(contract.schema_for("dead-letters")["properties"]["error"]["properties"]["code"]["enum"])
    def used_in(*paths):
        source = "".join((ROOT / path).read_text() for path in paths)
        return set(re.findall(r'Rejection\(\s*"([a-z_]+)"', source))
    assert used_in("abusewatch/ingest/contract.py", "abusewatch/scoring/classify.py") <= posts_codes
    internal = used_in("services/detector/app.py", "services/detector/rekeyer.py",
                       "services/detector/campaign_authors.py", "services/actions/app.py")
    assert internal and internal <= internal_codes


def test_mentions_beyond_the_cap_are_dropped_and_counted():
    raw = orjson.dumps(_post(reply_to_user_id="r", mentioned_user_ids=[f"m{i}" for i in range(100)]))
    post = validate_post(raw, max_text_chars=100, max_message_bytes=10_000, max_targets=5)
    assert post.targets == ("r", "m0", "m1", "m2", "m3") and post.targets_dropped == 96


@pytest.mark.parametrize(
    "created_at, ok",
    [
        ("2026-11-21T09:00:00Z", True),
        ("2026-11-21T10:59:00Z", True),  # within the hour ahead allowed
        ("1971-01-01T00:00:00Z", True),  # the past cannot move a watermark: late, not refused
        ("2026-11-21T11:01:00Z", False),
        ("9999-12-31T23:59:59Z", False),
    ],
)
def test_event_time_from_the_future_is_rejected(created_at, ok):
    raw = orjson.dumps(_post(created_at=created_at))
    outcome = validate_post(raw, max_text_chars=100, max_message_bytes=10_000, max_ahead_s=3_600, now=NOW)
    assert isinstance(outcome, Rejection) is not ok
    if not ok:
        assert outcome.code == "event_time_skew"


def test_a_post_the_contract_accepts_has_an_event_time_the_detector_reads():
    # RFC 3339 allows a lowercase "z"; Python 3.11's fromisoformat does not, so the detector must
    # parse with the contract's parser or this post would stop it.
    from abusewatch.detection.features import epoch_seconds

    post = validate_post(orjson.dumps(_post(created_at="2026-11-21T09:00:00z")), **LIMITS)
    assert isinstance(post, Post)
    assert epoch_seconds("2026-11-21T09:00:00z") == post.created_at.timestamp()


def test_validating_a_message_gives_the_timestamps_it_parsed_event_time_first():
    example = json.loads((ROOT / "schemas" / "examples" / "post-scores.json").read_text())
    example["post"]["created_at"] = "2026-11-21T09:00:00.250z"  # lowercase: RFC 3339 allows it
    message, times = contract.validate_message_times("post-scores", orjson.dumps(example))
    assert message == example
    assert times[0] == contract.parse_time("2026-11-21T09:00:00.250+00:00")
    assert times[1] == contract.parse_time(example["scored_at"])
    example["scored_at"] = "2026-11-21 nine o'clock"
    rejection = contract.validate_message_times("post-scores", orjson.dumps(example))
    assert isinstance(rejection, Rejection) and rejection.code == "invalid_timestamp"
    assert contract.validate_message("post-scores", orjson.dumps(example)) == rejection
