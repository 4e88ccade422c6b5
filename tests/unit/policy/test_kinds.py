"""The action-kind registry (abusewatch.policy.kinds) and the policy schema name the same kinds,
for the same rule inputs, and docs/policy.md documents each."""

from __future__ import annotations

import json
from pathlib import Path

from abusewatch.policy.kinds import ACTION_KINDS

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / "schemas" / "policy.v1.json").read_text())


def _kinds_allowed_per_input() -> dict[str, set[str]]:
    # The rule schema: if input is post-scores then these kinds, else (target-alerts) those.
    [branch] = SCHEMA["$defs"]["rule"]["allOf"]
    assert branch["if"]["properties"]["input"]["const"] == "post-scores"
    assert set(SCHEMA["$defs"]["rule"]["properties"]["input"]["enum"]) == {"post-scores", "target-alerts"}

    def kinds(part: dict) -> set[str]:
        return set(part["properties"]["actions"]["items"]["properties"]["kind"]["enum"])

    return {"post-scores": kinds(branch["then"]), "target-alerts": kinds(branch["else"])}


def test_every_kind_in_the_schema_has_a_class_and_every_class_is_in_the_schema():
    assert set(SCHEMA["$defs"]["action"]["properties"]["kind"]["enum"]) == set(ACTION_KINDS)


def test_each_kind_follows_the_rule_inputs_the_schema_allows_it():
    allowed = _kinds_allowed_per_input()
    for name, kind in ACTION_KINDS.items():
        assert kind.name == name
        assert kind.inputs == {rule_input for rule_input, kinds in allowed.items() if name in kinds}, name


def test_every_kind_is_documented():
    docs = (ROOT / "docs" / "policy.md").read_text()
    for name in ACTION_KINDS:
        assert f"`{name}`" in docs, name


def test_the_kinds_the_platform_applies_are_the_platform_actions_schema_kinds():
    from abusewatch.policy.kinds.base import PlatformAction

    actions = json.loads((ROOT / "schemas" / "platform-actions.v1.json").read_text())
    applied = {name for name, kind in ACTION_KINDS.items() if isinstance(kind, PlatformAction)}
    assert set(actions["properties"]["kind"]["enum"]) == applied
