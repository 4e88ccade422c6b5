"""Policy files: the default validates, invalid files are rejected with clear errors, and hot
reload picks up good changes while keeping the old policy when the new file is bad."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from abusewatch.common import config
from abusewatch.policy import PolicyError, PolicyFile, load_policy, parse_policy
from abusewatch.policy.settings import PolicySettings

ROOT = Path(__file__).resolve().parents[3]
DEFAULT = ROOT / "policy" / "default.yaml"


def default_document():
    return yaml.safe_load(DEFAULT.read_text())


def test_default_policy_is_valid_and_versioned_by_content():
    policy = load_policy(DEFAULT)
    assert [rule.id for rule in policy.rules] == [
        "threat.credible", "threat.structure", "extortion.structure", "doxxing.targeted", "pile_on.shield_target",
        "insult.severe_author_throttle", "media.csam", "media.ncii", "media.platform_removed", "media.hash_flood",
    ]
    assert policy.version.startswith("2026-12-02.2+sha256:")
    assert policy.version != parse_policy(DEFAULT.read_text() + "\n# edited\n").version


def test_policy_path_comes_from_the_environment():
    assert config.load(PolicySettings, env={}).policy_file == "policy/default.yaml"
    assert config.load(PolicySettings, env={"ABUSEWATCH_POLICY_FILE": "/etc/p.yaml"}).policy_file == "/etc/p.yaml"


def _mutations():
    def threshold_above_one(doc):
        doc["rules"][0]["when"]["scores_at_least"]["threat"] = 1.5

    def unknown_kind(doc):
        doc["rules"][0]["actions"][1]["kind"] = "ban_forever"

    def escalate_without_severity(doc):
        del doc["rules"][0]["actions"][0]["severity"]

    def alert_rule_throttling_authors(doc):
        next(rule for rule in doc["rules"] if rule["input"] == "target-alerts")["actions"][0]["kind"] = "throttle_author"

    def duplicate_rule_id(doc):
        doc["rules"][1]["id"] = doc["rules"][0]["id"]

    def typo_in_condition(doc):
        doc["rules"][0]["when"]["score_at_least"] = doc["rules"][0]["when"].pop("scores_at_least")

    # mutation -> what the error must point at
    return {
        "threshold_above_one": (threshold_above_one, "rules/0/when/scores_at_least/threat: 1.5 is greater than"),
        "unknown_kind": (unknown_kind, 'rules/0/actions/1/kind: "ban_forever" is not one of'),
        "escalate_without_severity": (escalate_without_severity, 'rules/0/actions/0: "severity" is a required'),
        "alert_rule_throttling_authors": (alert_rule_throttling_authors, '/actions/0/kind: "throttle_author" is not one of'),
        "duplicate_rule_id": (duplicate_rule_id, "duplicate rule id(s): threat.credible"),
        "typo_in_condition": (typo_in_condition, "rules/0/when: Additional properties are not allowed"),
    }


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_invalid_policy_is_rejected_with_a_clear_error(name):
    mutate, expected = _mutations()[name]
    document = default_document()
    mutate(document)
    with pytest.raises(PolicyError) as error:
        parse_policy(yaml.safe_dump(document), source="bad.yaml")
    assert str(error.value).startswith("bad.yaml: ")
    assert expected in str(error.value)


def test_not_yaml_and_missing_file_are_rejected(tmp_path):
    with pytest.raises(PolicyError, match="not valid YAML"):
        parse_policy("rules: [unclosed", source="x.yaml")
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "missing.yaml")


def _write(path: Path, document, mtime_ns: int) -> None:
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    os.utime(path, ns=(mtime_ns, mtime_ns))  # explicit mtimes: coarse filesystem clocks can't hide a change


def test_hot_reload_applies_good_changes_and_keeps_the_old_policy_on_bad_ones(tmp_path, caplog):
    path = tmp_path / "policy.yaml"
    document = default_document()
    _write(path, document, 1_000_000_000)
    source = PolicyFile(path, reload_interval_s=0)
    first = source.current()
    assert first.rules[0].when["scores_at_least"]["threat"] == 0.80

    document["rules"][0]["when"]["scores_at_least"]["threat"] = 0.7
    _write(path, document, 2_000_000_000)
    changed = source.current()
    assert changed.rules[0].when["scores_at_least"]["threat"] == 0.7
    assert changed.version != first.version

    _write(path, "schema: policy/v1\nrules: []\n", 3_000_000_000)
    assert source.current() is changed
    assert "does not match policy.v1.json" in source.last_error
    assert "policy reload rejected" in caplog.text

    document["rules"][0]["when"]["scores_at_least"]["threat"] = 0.9
    _write(path, document, 4_000_000_000)
    assert source.current().rules[0].when["scores_at_least"]["threat"] == 0.9
    assert source.last_error is None


def test_reload_waits_for_the_interval(tmp_path):
    path = tmp_path / "policy.yaml"
    document = default_document()
    _write(path, document, 1_000_000_000)
    clock = [0.0]
    source = PolicyFile(path, reload_interval_s=5, clock=lambda: clock[0])
    document["version"] = "changed"
    _write(path, document, 2_000_000_000)
    assert source.current().version.startswith("2026-12-02.2")
    clock[0] = 5.0
    assert source.current().version.startswith("changed+")


def test_startup_with_an_invalid_file_fails(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("schema: policy/v1\n")
    with pytest.raises(PolicyError):
        PolicyFile(path)
