"""DSA statements of reasons from a real evidence locker (SQLite) that the actions processor and an
overturned appeal filled with the shipped policy: which actions get one, the fields, the schema,
no personal data, the revoke's correction, and batches of at most 100 from the command line."""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from abusewatch.actions.appeals import handle_appeal
from abusewatch.actions.processing import ActionsProcessor
from abusewatch.cli import report
from abusewatch.evidence import open_store
from abusewatch.ingest.contract import SCHEMA_DIR
from abusewatch.integrations.statements import (
    InvalidStatement,
    StatementOptions,
    batches,
    statement,
    validate_statement,
)
from abusewatch.policy import Cooldowns, PolicyFile

ROOT = Path(__file__).resolve().parents[3]
BENIGN = {"toxicity": 0.02, "threat": 0.01, "insult": 0.01, "identity_attack": 0.0, "sexual_harassment": 0.0, "obscene": 0.0}
TEXT = "a very recognisable sentence that must never leave the locker"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def scored(post_id, created, doxxing=False, **scores):
    message = json.loads((SCHEMA_DIR / "examples" / "post-scores.json").read_text())
    message.update(post_id=post_id, author_id=f"author-{post_id}", scores={**BENIGN, **scores}, scored_at=created)
    message["post"].update(post_id=post_id, author_id=f"author-{post_id}", created_at=created, text=TEXT)
    message["doxxing"] = {"detected": doxxing, "kinds": ["phone"] if doxxing else []}
    return message


@pytest.fixture
def locker(tmp_path):
    dsn = f"sqlite:///{tmp_path / 'evidence.sqlite3'}"
    store = open_store(dsn)
    processor = ActionsProcessor(policy=PolicyFile(ROOT / "policy" / "default.yaml"), store=store,
                                 flag_min_score=0.5, cooldowns=Cooldowns())
    decided = []
    for messages, now in (
        ([scored("p1", "2026-03-01T10:00:00Z", threat=0.9)], "2026-03-01T10:00:02"),
        ([scored("p2", "2026-03-01T11:00:00Z", doxxing=True)], "2026-03-01T11:00:10"),
        ([scored("p4", "2026-03-01T12:00:00Z", insult=0.98, toxicity=0.97)], "2026-03-01T12:00:03"),  # shadow
    ):
        plan = processor.plan_post_scores(messages, now=at(now))
        processor.record(plan)
        decided += plan.decisions
    alert = json.loads((SCHEMA_DIR / "examples" / "target-alerts.json").read_text())
    alert.update(event_time="2026-03-02T09:00:00Z", detected_at="2026-03-02T09:00:30Z")
    plan = processor.plan_alerts([alert], now=at("2026-03-02T09:01:00"))
    processor.record(plan)
    decided += plan.decisions
    throttle = next(d for d in decided if d.message.get("kind") == "throttle_author" and not d.shadow)
    for event, outcome, when in (("filed", None, "2026-03-02T10:00:00"), ("decided", "overturned", "2026-03-03T08:00:00")):
        handle_appeal({"schema": "appeals/v1", "appeal_id": "ap1", "event": event, "decision_id": throttle.id,
                       "outcome": outcome, "at": when + "Z"}, store, now=at(when))
    store.close()
    return dsn, decided, alert


def test_statements_for_the_restricting_actions_and_the_revoke(locker, tmp_path, capsys, monkeypatch):
    dsn, decided, alert = locker
    monkeypatch.setenv("ABUSEWATCH_DSA_TERRITORIAL_SCOPE", "DE,FR,NL")
    monkeypatch.setenv("ABUSEWATCH_DSA_TERMS_URL", "https://platform.example/terms#harassment")
    args = argparse.Namespace(first_day=date(2026, 3, 1), last_day=date(2026, 3, 3), out=str(tmp_path / "sor"),
                              dsn=dsn, statements_of_reasons=True)
    assert report.run(args) == 0
    files = sorted((tmp_path / "sor").glob("statements-of-reasons-*.json"))
    assert [f.name for f in files] == ["statements-of-reasons-0001.json"]
    found = json.loads(files[0].read_text())["statements"]

    throttle = next(d for d in decided if d.message.get("kind") == "throttle_author" and not d.shadow)
    hold = next(d for d in decided if d.message.get("kind") == "hold_for_review")
    by_puid = {s["puid"]: s for s in found}
    # The shadow throttle, the shielding limit and the escalations get none; the revoke gets its own.
    assert len(found) == 3 and {throttle.id, hold.id} <= set(by_puid)
    revoke = next(s for puid, s in by_puid.items() if puid not in (throttle.id, hold.id))
    for body in found:
        validate_statement(body)
        assert body["territorial_scope"] == ["DE", "FR", "NL"]
        assert body["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
        assert body["decision_ground_reference_url"] == "https://platform.example/terms#harassment"
        assert (body["automated_detection"], body["automated_decision"]) == ("Yes", "AUTOMATED_DECISION_FULLY")
        assert body["category"] == "STATEMENT_CATEGORY_CYBER_VIOLENCE"
        assert "KEYWORD_CYBER_HARASSMENT" in body["category_specification"]
        text = json.dumps(body)
        for personal in ("author-p1", "author-p2", alert["target_id"], TEXT, "p1", "p2"):
            assert personal not in text, f"{personal!r} leaked into statement {body['puid']}"

    held = by_puid[hold.id]
    assert held["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DISABLED"]
    assert "doxxing" in held["incompatible_content_ground"]
    assert (held["content_date"], held["application_date"]) == ("2026-03-01", "2026-03-01")
    throttled = by_puid[throttle.id]
    assert throttled["decision_provision"] == "DECISION_PROVISION_PARTIAL_SUSPENSION"
    assert throttled["end_date_service_restriction"] == throttle.message["expires_at"][:10]
    # The revoke: the same restriction, ended on the day the appeal overturned it, naming the original.
    assert revoke["decision_provision"] == "DECISION_PROVISION_PARTIAL_SUSPENSION"
    assert revoke["application_date"] == throttled["application_date"] == "2026-03-01"
    assert revoke["end_date_service_restriction"] == "2026-03-03"
    assert throttle.id in revoke["decision_facts"]
    assert throttle.rule_id in revoke["incompatible_content_ground"]

    assert "wrote 3 statements of reasons in 1 files" in capsys.readouterr().out
    args.out = None
    assert report.run(args) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [{"statements": found}]


def test_a_pile_on_limit_is_not_a_statement_but_a_coordinated_throttle_names_coordinated_harm():
    example = json.loads((SCHEMA_DIR / "examples" / "platform-actions.json").read_text())
    payload = {"topic": "platform-actions", "rule_id": "pile_on.throttle", "shadow": False,
               "trigger_time": "2026-11-21T09:10:00.000Z", "message": example | {"kind": "throttle_author"}}
    body = statement(payload, StatementOptions(("IE",)))
    validate_statement(body)
    assert body["category_specification"] == ["KEYWORD_CYBER_HARASSMENT", "KEYWORD_COORDINATED_HARM"]
    assert body["category_addition"] == ["STATEMENT_CATEGORY_VIOLENCE"]
    assert "u-maria" not in json.dumps(body)  # the rule's summary names the target: never copied


def test_the_schema_refuses_what_the_api_refuses():
    example = json.loads((SCHEMA_DIR / "examples" / "platform-actions.json").read_text())
    payload = {"topic": "platform-actions", "rule_id": "threat.credible", "shadow": False,
               "trigger_time": "2026-11-21T09:10:00.000Z", "message": example | {"kind": "hold_for_review"}}
    good = statement(payload, StatementOptions(("IE",)))
    for broken in (
        {k: v for k, v in good.items() if k != "decision_visibility"},  # no decision at all
        {k: v for k, v in good.items() if k != "incompatible_content_ground"},
        good | {"territorial_scope": ["US"]},
        good | {"decision_visibility": ["DECISION_VISIBILITY_OTHER"]},  # without decision_visibility_other
        good | {"application_date": "21/11/2026"},
        good | {"author_id": "a-1"},
    ):
        with pytest.raises(InvalidStatement):
            validate_statement(broken)


def test_batches_hold_at_most_100_statements():
    sizes = [len(batch["statements"]) for batch in batches({"puid": str(n)} for n in range(250))]
    assert sizes == [100, 100, 50]
    with pytest.raises(ValueError):
        list(batches([], size=101))


@pytest.mark.parametrize(("rule_id", "category", "keywords"), [
    ("media.csam", "STATEMENT_CATEGORY_PROTECTION_OF_MINORS", ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"]),
    ("media.ncii", "STATEMENT_CATEGORY_CYBER_VIOLENCE", ["KEYWORD_NON_CONSENSUAL_IMAGE_SHARING"]),
    ("media.platform_removed", "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE", []),
    ("doxxing.targeted", "STATEMENT_CATEGORY_CYBER_VIOLENCE", ["KEYWORD_CYBER_HARASSMENT"]),
])
def test_a_hash_bank_hold_names_what_the_bank_holds(rule_id, category, keywords):
    example = json.loads((SCHEMA_DIR / "examples" / "platform-actions.json").read_text())
    reasons = {**example["reasons"], "rule_id": rule_id, "campaign_id": None}
    if rule_id.startswith("media."):
        reasons["media_matches"] = [{"signal_type": "pdq", "bank": rule_id.split(".")[1], "distance": 4}]
    message = example | {"kind": "hold_for_review", "reasons": reasons}
    payload = {"topic": "platform-actions", "rule_id": rule_id, "shadow": False,
               "trigger_time": "2026-11-21T09:10:00.000Z", "message": message}
    body = statement(payload, StatementOptions(("IE",)))
    validate_statement(body)
    assert (body["category"], body.get("category_specification", [])) == (category, keywords)
    assert body["content_type"] == (["CONTENT_TYPE_IMAGE"] if rule_id.startswith("media.") else ["CONTENT_TYPE_TEXT"])
    if rule_id == "media.csam":  # illegal as such: the legal ground, not the terms
        assert body["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT" and "2011/93/EU" in body["illegal_content_legal_ground"]
        assert "incompatible_content_ground" not in body
    else:
        assert body["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
        assert body["incompatible_content_illegal"] == ("Yes" if rule_id == "media.ncii" else "No")
