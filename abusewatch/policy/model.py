"""The policy file: YAML validated against schemas/policy.v1.json, turned into frozen dataclasses."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from abusewatch.ingest.contract import SCHEMA_DIR, error_location, schema_registry

POLICY_SCHEMA_FILE = "policy.v1.json"


class PolicyError(ValueError):
    """The policy file cannot be read, is not YAML, or does not match schemas/policy.v1.json."""


@dataclasses.dataclass(frozen=True, slots=True)
class ActionSpec:
    """One action a rule takes. `kind` is a platform-actions kind or "escalate"."""

    kind: str
    cooldown_s: int
    duration_s: int = 0
    scope: dict[str, Any] = dataclasses.field(default_factory=dict)
    severity: str | None = None
    category: str | None = None
    reviewer_note: str | None = None  # escalate: copied into the escalation's reasons


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    id: str
    input: str  # "post-scores" or "target-alerts"
    when: dict[str, Any]
    actions: tuple[ActionSpec, ...]
    description: str = ""
    enabled: bool = True
    shadow: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """A validated policy. `version` is the file's own version plus a hash of its content, so an
    emitted decision names exactly the bytes that produced it."""

    version: str
    escalation_ttl_s: int
    allowlisted_authors: dict[str, str]  # author id -> why
    rules: tuple[Rule, ...]

    def rules_for(self, input_topic: str) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled and rule.input == input_topic)


@functools.cache
def _validator() -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(
        json.loads((SCHEMA_DIR / POLICY_SCHEMA_FILE).read_text()), registry=schema_registry()
    )


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    """YAML text -> Policy; raise PolicyError naming every schema violation and where it is."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from exc
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(map(str, e.instance_path)))
    if errors:
        details = "; ".join(f"{error_location(e)}: {e.message}" for e in errors)
        raise PolicyError(f"{source}: does not match {POLICY_SCHEMA_FILE}: {details}")
    rule_ids = [rule["id"] for rule in document["rules"]]
    duplicates = sorted({rule_id for rule_id in rule_ids if rule_ids.count(rule_id) > 1})
    if duplicates:
        raise PolicyError(f"{source}: duplicate rule id(s): {', '.join(duplicates)}")
    content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return Policy(
        version=f"{document['version']}+sha256:{content_hash}",
        escalation_ttl_s=document["escalation_ttl_s"],
        allowlisted_authors={
            entry["id"]: entry["reason"] for entry in (document.get("allowlist") or {}).get("authors", [])
        },
        rules=tuple(
            Rule(
                id=rule["id"],
                input=rule["input"],
                when=rule["when"],
                actions=tuple(ActionSpec(**action) for action in rule["actions"]),
                description=rule.get("description", ""),
                enabled=rule.get("enabled", True),
                shadow=rule.get("shadow", False),
            )
            for rule in document["rules"]
        ),
    )


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc}") from exc
    return parse_policy(text, source=str(path))
