"""The public contract: schemas, examples, docs, and the validate step for posts."""

import json
import re
from pathlib import Path

import orjson
import pytest

from abusewatch import contract
from abusewatch.contract import Post, Rejection, validate_post

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"max_text_chars": 100, "max_message_bytes": 2048}


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
    message = contract.dead_letter(rejection, raw, topic="posts", partition=3, offset=99, service="classifier")
    contract.validate("posts-dlq", message)
    import base64

    assert base64.b64decode(message["original_base64"]) == raw
    assert message["source"] == {"topic": "posts", "partition": 3, "offset": 99}


def test_every_dlq_error_code_is_in_the_schema():
    codes = set(contract.schema_for("posts-dlq")["properties"]["error"]["properties"]["code"]["enum"])
    source = (ROOT / "abusewatch" / "contract.py").read_text() + (ROOT / "abusewatch" / "classify.py").read_text()
    used = set(re.findall(r'Rejection\(\s*"([a-z_]+)"', source))
    assert used and used <= codes
