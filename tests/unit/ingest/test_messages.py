"""The typed messages (abusewatch.ingest.messages) against schemas/: one class per topic, the same
fields, the same required ones, null written only where the schema allows it, and each contract
example (nulls included) read and rebuilt unchanged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from abusewatch.ingest import contract
from abusewatch.ingest.messages import MESSAGE_TYPES, SEVERITIES

ROOT = Path(__file__).resolve().parents[3]


def _allows_null(spec: dict) -> bool:
    kinds = spec.get("type", [])
    options = spec.get("oneOf", []) + spec.get("anyOf", [])
    return ("null" in kinds if isinstance(kinds, list) else kinds == "null") or None in spec.get("enum", []) or any(
        _allows_null(option) for option in options
    )


def test_severities_are_the_ones_escalations_and_policy_files_allow():
    policy = json.loads((contract.SCHEMA_DIR / "policy.v1.json").read_text())
    for allowed in (contract.schema_for("escalations")["properties"]["severity"]["enum"],
                    policy["$defs"]["action"]["properties"]["severity"]["enum"]):
        assert sorted(SEVERITIES) == sorted(allowed)


def test_every_topic_has_one_message_class():
    assert set(MESSAGE_TYPES) == set(contract.TOPICS)


@pytest.mark.parametrize("topic", sorted(contract.TOPICS))
def test_the_class_has_the_schema_fields_and_required_ones_and_writes_null_only_where_allowed(topic):
    schema = contract.schema_for(topic)
    cls = MESSAGE_TYPES[topic]
    properties = {name: spec for name, spec in schema["properties"].items() if name != "schema"}
    fields = {field.name: field for field in dataclasses.fields(cls)}
    assert set(fields) == set(properties)
    required = {name for name, field in fields.items()
                if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING}
    assert required == set(schema["required"]) - {"schema"}
    for name, field in fields.items():
        if field.metadata.get("nullable"):  # written as null when unset: the schema must allow it
            assert name not in required and _allows_null(properties[name]), name
    assert (cls.SCHEMA is not None) == ("schema" in schema["properties"])
    if cls.SCHEMA is not None:
        assert schema["properties"]["schema"]["const"] == cls.SCHEMA


@pytest.mark.parametrize("topic", sorted(contract.TOPICS))
def test_each_example_is_read_and_rebuilt_unchanged(topic):
    example = json.loads((ROOT / "schemas" / "examples" / f"{topic}.json").read_text())
    rebuilt = MESSAGE_TYPES[topic].from_message(example).to_message()
    assert rebuilt == example
    contract.validate(topic, rebuilt)


def test_an_optional_field_without_a_value_is_left_out_unless_the_schema_allows_null():
    from abusewatch.ingest.messages import Escalation, Post

    assert "reply_to_user_id" not in Post(post_id="p", author_id="a", text="t", created_at="x").to_message()
    message = Escalation(escalation_id="e", severity="high", category="threat", created_at="x",
                         evidence_post_ids=["p"], reasons={}).to_message()
    assert message["target_id"] is None and "expires_at" not in message
