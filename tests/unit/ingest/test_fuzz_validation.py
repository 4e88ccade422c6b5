"""Fuzzing the validate steps: whatever arrives on an input topic, validation returns a message or a
Rejection (it never raises), and the dead letter for a Rejection is schema-valid and bounded."""

from __future__ import annotations

import json
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abusewatch.ingest import contract
from abusewatch.ingest.contract import Rejection, validate_message, validate_post
from tests.hostile import hostile_messages, json_values

INTERNAL_TOPICS = ("post-scores", "target-alerts", "appeals")
POST_LIMITS = {"max_text_chars": 10_000, "max_message_bytes": 65_536, "max_targets": 50, "max_ahead_s": 3_600.0}
KEEP_BYTES = 65_536


def check_outcome(topic: str, raw: bytes | None) -> None:
    if topic == "posts":
        outcome = validate_post(raw, **POST_LIMITS)
        schema = "posts-dlq/v1"
    else:
        outcome = validate_message(topic, raw)
        schema = "dead-letters/v1"
    if isinstance(outcome, Rejection):
        letter = contract.dead_letter(outcome, raw, topic=topic, partition=0, offset=0, service="fuzz",
                                      keep_bytes=KEEP_BYTES, schema=schema)
        contract.validate(schema.split("/")[0], letter)
        assert len(contract.encode(letter)) <= contract.dead_letter_size_bound(KEEP_BYTES)
    elif topic == "posts":
        assert len(outcome.targets) <= POST_LIMITS["max_targets"]
        contract.validate("posts", outcome.raw)
    else:
        contract.validate(topic, outcome)


@pytest.mark.parametrize("topic", ("posts", *INTERNAL_TOPICS))
def test_the_hostile_corpus_is_rejected_or_accepted_never_raises(topic):
    messages = hostile_messages(topic, 400, seed=1)
    rejected = 0
    for raw in messages:
        check_outcome(topic, raw)
        rejected += isinstance(validate_message(topic, raw) if topic != "posts" else validate_post(raw, **POST_LIMITS),
                               Rejection)
    # The corpus is hostile: nearly everything in it must be refused (mutations may leave a few valid).
    assert rejected >= 0.8 * len(messages)


@settings(max_examples=150, deadline=None)
@given(topic=st.sampled_from(("posts", *INTERNAL_TOPICS)), raw=st.binary(max_size=512))
def test_arbitrary_bytes_never_raise(topic, raw):
    check_outcome(topic, raw)


@settings(max_examples=150, deadline=None)
@given(topic=st.sampled_from(("posts", *INTERNAL_TOPICS)),
       value=st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_arbitrary_json_objects_never_raise(topic, value):
    check_outcome(topic, json.dumps(value).encode())
