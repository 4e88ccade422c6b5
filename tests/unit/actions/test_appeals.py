"""Appeals: recorded against the decision they name; an overturned action is revoked with a
deterministic id, an overturned escalation revokes the actions taken on its evidence; upheld and
overturned appeals become retraining labels, dismissed ones do not."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from abusewatch.actions.appeals import InvalidAppeal, appeal_labels, handle_appeal, revocation_id
from abusewatch.ingest.contract import SCHEMA_DIR, validate
from abusewatch.evidence import open_store
from abusewatch.policy import Cooldowns, PolicyFile
from abusewatch.actions.processing import ActionsProcessor

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 21, 9, 20, tzinfo=timezone.utc)


@pytest.fixture
def decided_case(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'evidence.sqlite3'}")
    processor = ActionsProcessor(
        policy=PolicyFile(ROOT / "policy" / "default.yaml"), store=store, flag_min_score=0.5, cooldowns=Cooldowns()
    )
    post = json.loads((SCHEMA_DIR / "examples" / "post-scores.json").read_text())
    post["post_id"] = post["post"]["post_id"] = "p-1851"
    processor.record(processor.plan_post_scores([post], now=NOW))
    alert = json.loads((SCHEMA_DIR / "examples" / "target-alerts.json").read_text())
    plan = processor.plan_alerts([alert], now=NOW)
    processor.record(plan)
    action = next(d for d in plan.decisions if d.topic == "platform-actions")
    escalation = next(d for d in plan.decisions if d.topic == "escalations")
    yield store, action, escalation
    store.close()


def appeal(decision_id, event="filed", outcome=None, appeal_id="ap-1"):
    message = json.loads((SCHEMA_DIR / "examples" / "appeals.json").read_text())
    message.update(decision_id=decision_id, event=event, outcome=outcome, appeal_id=appeal_id)
    if event == "decided":
        message.update(reviewer_id="rev-7", at="2026-11-21T11:00:00Z")
    validate("appeals", message)
    return message


def test_overturned_action_is_revoked_with_a_deterministic_id(decided_case):
    store, action, _ = decided_case
    filed = handle_appeal(appeal(action.id), store, now=NOW)
    assert filed.revocations == ()
    assert len(store.by_key(f"appealed:{action.id}")) == 1

    later = NOW + timedelta(hours=2)
    decided = handle_appeal(appeal(action.id, "decided", "overturned"), store, now=later)
    (revocation,) = decided.revocations
    revoke = revocation.message
    validate("platform-actions", revoke)
    assert (revoke["op"], revoke["revokes"]) == ("revoke", action.id)
    assert revoke["action_id"] == revocation_id(action.id) != action.id
    assert (revoke["kind"], revoke["subject"]) == (action.message["kind"], action.message["subject"])
    assert revoke["reasons"]["rule_id"] == "appeal.overturned"
    assert revoke["reasons"]["original_rule_id"] == "pile_on.shield_target"
    assert revocation.key == "u-maria"

    # Redelivered: the same revoke again (so a crash before sending loses nothing), recorded once.
    again = handle_appeal(appeal(action.id, "decided", "overturned"), store, now=later + timedelta(minutes=1))
    assert [r.id for r in again.revocations] == [revocation.id]
    assert len(store.by_key(f"decision:{revoke['action_id']}")) == 1
    assert len(store.by_key(f"appealed:{action.id}")) == 2
    assert store.verify().ok


def test_upheld_and_dismissed_decisions_revoke_nothing(decided_case):
    store, action, escalation = decided_case
    assert handle_appeal(appeal(action.id, "decided", "upheld"), store, now=NOW).revocations == ()
    assert handle_appeal(appeal(escalation.id, "decided", "dismissed", appeal_id="ap-2"), store, now=NOW).revocations == ()
    unknown = handle_appeal(appeal("no-such-id", "decided", "overturned", appeal_id="ap-3"), store, now=NOW)
    assert unknown.revocations == () and "no such decision" in unknown.note


def test_an_overturned_campaign_escalation_revokes_the_campaigns_actions(decided_case):
    store, action, escalation = decided_case
    outcome = handle_appeal(appeal(escalation.id, "decided", "overturned", appeal_id="ap-2"), store, now=NOW)
    assert [r.message["revokes"] for r in outcome.revocations] == [action.id]
    assert outcome.revocations[0].message["reasons"]["appeal_id"] == "ap-2"


def test_an_overturned_post_escalation_revokes_only_its_rules_actions_on_the_same_posts(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'evidence.sqlite3'}")
    processor = ActionsProcessor(
        policy=PolicyFile(ROOT / "policy" / "default.yaml"), store=store, flag_min_score=0.5, cooldowns=Cooldowns()
    )
    threat = json.loads((SCHEMA_DIR / "examples" / "post-scores.json").read_text())
    threat["scores"]["threat"] = 0.95  # threat.credible: an escalation and an author throttle
    plan = processor.plan_post_scores([threat], now=NOW)
    processor.record(plan)
    escalation = next(d for d in plan.decisions if d.topic == "escalations")
    throttle = next(d for d in plan.decisions if d.topic == "platform-actions")
    other = dict(threat, post_id="p-other", post=dict(threat["post"], post_id="p-other"))
    later = processor.plan_post_scores([other], now=NOW + timedelta(hours=2))  # past the throttle's cooldown
    processor.record(later)
    outcome = handle_appeal(appeal(escalation.id, "decided", "overturned"), store, now=NOW)
    assert [r.message["revokes"] for r in outcome.revocations] == [throttle.id]
    store.close()


def test_an_overturned_doxxing_escalation_lifts_the_hold_on_the_post(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'evidence.sqlite3'}")
    processor = ActionsProcessor(
        policy=PolicyFile(ROOT / "policy" / "default.yaml"), store=store, flag_min_score=0.5, cooldowns=Cooldowns()
    )
    doxxing = json.loads((SCHEMA_DIR / "examples" / "post-scores.json").read_text())
    doxxing["doxxing"] = {"detected": True, "kinds": ["phone"]}  # doxxing.targeted: a hold on the post and a case
    plan = processor.plan_post_scores([doxxing], now=NOW)
    processor.record(plan)
    escalation = next(d for d in plan.decisions if d.topic == "escalations")
    hold = next(d for d in plan.decisions if d.topic == "platform-actions")
    assert hold.message["subject"] == {"type": "post", "id": doxxing["post_id"]}
    outcome = handle_appeal(appeal(escalation.id, "decided", "overturned"), store, now=NOW)
    assert [r.message["revokes"] for r in outcome.revocations] == [hold.id]
    # Once the hold has expired there is nothing left to lift.
    expired = handle_appeal(appeal(escalation.id, "decided", "overturned", appeal_id="ap-late"), store,
                            now=NOW + timedelta(days=2))
    assert expired.revocations == ()
    store.close()


def test_decided_without_outcome_is_invalid(decided_case):
    store, action, _ = decided_case
    with pytest.raises(InvalidAppeal):
        handle_appeal(appeal(action.id, "decided", None), store, now=NOW)


def test_decided_appeals_become_labels(decided_case):
    store, action, escalation = decided_case
    handle_appeal(appeal(action.id), store, now=NOW)  # filed only: no label yet
    assert list(appeal_labels(store)) == []
    handle_appeal(appeal(action.id, "decided", "overturned"), store, now=NOW)
    handle_appeal(appeal(escalation.id, "decided", "upheld", appeal_id="ap-2"), store, now=NOW)
    handle_appeal(appeal(escalation.id, "decided", "dismissed", appeal_id="ap-3"), store, now=NOW)
    assert len(list(appeal_labels(store))) == 2  # a dismissed review is not a label
    labels = {label["decision_id"]: label for label in appeal_labels(store)}
    assert labels[action.id]["label"] == "false_positive"
    assert labels[escalation.id]["label"] == "true_positive"
    assert labels[action.id]["rule_id"] == "pile_on.shield_target"
    assert labels[action.id]["posts"] == [
        {"post_id": "p-1851", "text": "@maria_reports nobody wants you here, log off"}
    ]
