"""The decision engine against the shipped default policy: each action kind, threats alone,
allowlist, shadow mode, cooldowns and deterministic ids. Every output must match its schema."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from abusewatch.ingest.contract import SCHEMA_DIR, format_time, validate
from abusewatch.policy import Cooldowns, decide_alert, decide_post, load_policy

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 21, 9, 20, tzinfo=timezone.utc)
BENIGN = {"toxicity": 0.02, "threat": 0.01, "insult": 0.01, "identity_attack": 0.0, "sexual_harassment": 0.0, "obscene": 0.0}


@pytest.fixture(scope="module")
def policy():
    return load_policy(ROOT / "policy" / "default.yaml")


def emitted(result) -> tuple:
    """The decisions that are sent (shadow rules only record theirs)."""
    return tuple(d for d in result.decisions if not d.shadow)


def scored(post_id="p-1", author="u-author", targets=("u-target",), created="2026-11-21T09:14:03.120Z", **scores):
    message = json.loads((SCHEMA_DIR / "examples" / "post-scores.json").read_text())
    message.update(post_id=post_id, author_id=author, targets=list(targets), scores={**BENIGN, **scores})
    message["post"].update(post_id=post_id, author_id=author, created_at=created)
    validate("post-scores", message)
    return message


def alert(status="opened", detected="2026-11-21T09:16:40.022Z", alert_id="a-1", top_post_ids=("p-1", "p-2")):
    message = json.loads((SCHEMA_DIR / "examples" / "target-alerts.json").read_text())
    message.update(status=status, detected_at=detected, event_time=detected, alert_id=alert_id, top_post_ids=list(top_post_ids))
    validate("target-alerts", message)
    return message


def assert_valid(decisions):
    for decision in decisions.decisions:
        validate(decision.topic, decision.message)
        reasons = decision.message["reasons"]
        assert reasons["rule_id"] == decision.rule_id
        assert reasons["policy_version"].startswith("2026-12-02.2+sha256:")
        assert reasons["model"]["version"]
        assert decision.message["evidence_post_ids"]
        assert decision.message["expires_at"] > format_time(NOW)


def test_credible_threat_escalates_on_its_own_at_critical(policy):
    result = decide_post(scored(threat=0.93, toxicity=0.9), policy=policy, cooldowns=Cooldowns(), now=NOW)
    assert_valid(result)
    assert result.matched_rules == ("threat.credible",)
    escalation = next(d.message for d in emitted(result) if d.topic == "escalations")
    assert (escalation["severity"], escalation["category"]) == ("critical", "threat")
    assert (escalation["author_id"], escalation["target_id"], escalation["campaign_id"]) == ("u-author", "u-target", None)
    assert escalation["evidence_post_ids"] == ["p-1"]
    assert escalation["reasons"]["scores"]["threat"] == 0.93
    assert escalation["reasons"]["thresholds"] == {"threat": 0.80}
    throttle = next(d.message for d in emitted(result) if d.topic == "platform-actions")
    assert throttle["kind"] == "throttle_author"
    assert throttle["subject"] == {"type": "author", "id": "u-author"}
    assert throttle["scope"] == {"max_posts_per_hour": 5}
    assert throttle["duration_s"] == 3600
    assert throttle["expires_at"] == format_time(NOW + timedelta(seconds=3600))


def test_threat_below_threshold_does_nothing(policy):
    result = decide_post(scored(threat=0.79, toxicity=0.9), policy=policy, cooldowns=Cooldowns(), now=NOW)
    assert result.decisions == () and result.matched_rules == ()


def test_doxxing_with_a_target_is_held_for_review_and_escalated(policy):
    message = scored()
    message["doxxing"] = {"detected": True, "kinds": ["phone"]}
    result = decide_post(message, policy=policy, cooldowns=Cooldowns(), now=NOW)
    assert_valid(result)
    kinds = sorted((d.topic, d.message.get("kind") or d.message["category"]) for d in emitted(result))
    assert kinds == [("escalations", "doxxing"), ("platform-actions", "hold_for_review")]
    hold = next(d.message for d in emitted(result) if d.topic == "platform-actions")
    assert hold["subject"] == {"type": "post", "id": "p-1"}
    assert hold["reasons"]["doxxing_kinds"] == ["phone"]

    untargeted = copy.deepcopy(message)
    untargeted["targets"] = []
    assert decide_post(untargeted, policy=policy, cooldowns=Cooldowns(), now=NOW).decisions == ()


def test_pile_on_limits_replies_to_the_target_and_escalates(policy):
    result = decide_alert(alert(), policy=policy, cooldowns=Cooldowns(), now=NOW)
    assert_valid(result)
    limit = next(d for d in emitted(result) if d.topic == "platform-actions")
    assert limit.key == "u-maria"
    assert limit.message["kind"] == "limit_replies_to_target"
    assert limit.message["subject"] == {"type": "target", "id": "u-maria"}
    assert limit.message["scope"] == {"non_followers": True, "account_age_below_days": 30}
    assert limit.message["duration_s"] == 1800
    assert limit.message["evidence_post_ids"] == ["p-1", "p-2"]
    assert limit.message["reasons"]["campaign_id"] == "c7d1f0a2-6a55-5b0e-8f7e-1e2d3c4b5a69"
    assert limit.message["reasons"]["alert_id"] == "a-1"
    escalation = next(d.message for d in emitted(result) if d.topic == "escalations")
    assert (escalation["category"], escalation["severity"], escalation["target_id"]) == ("pile_on", "high", "u-maria")


def test_closed_campaign_takes_no_action(policy):
    assert decide_alert(alert(status="closed"), policy=policy, cooldowns=Cooldowns(), now=NOW).decisions == ()


def test_allowlisted_author_is_skipped_with_a_reason(policy):
    result = decide_post(
        scored(author="news-verified-0001", threat=0.95), policy=policy, cooldowns=Cooldowns(), now=NOW
    )
    assert result.decisions == ()
    assert result.matched_rules == ("threat.credible",)
    assert {skip.kind for skip in result.skipped} == {"escalate", "throttle_author"}
    assert all(skip.reason.startswith("allowlist: verified newsroom") for skip in result.skipped)


def test_shadow_rule_decides_but_does_not_emit(policy):
    result = decide_post(scored(insult=0.98, toxicity=0.97), policy=policy, cooldowns=Cooldowns(), now=NOW)
    assert_valid(result)
    assert [d.rule_id for d in result.decisions if d.shadow] == ["insult.severe_author_throttle"]
    assert emitted(result) == ()


def test_cooldown_suppresses_duplicates_and_renews_the_limit_while_the_campaign_continues(policy):
    cooldowns = Cooldowns()
    first = decide_alert(alert(), policy=policy, cooldowns=cooldowns, now=NOW)
    soon = decide_alert(
        alert(status="escalating", detected="2026-11-21T09:21:40.022Z", alert_id="a-2"),
        policy=policy, cooldowns=cooldowns, now=NOW + timedelta(minutes=5),
    )
    assert soon.decisions == ()
    assert {(s.kind, s.reason) for s in soon.skipped} == {("limit_replies_to_target", "cooldown"), ("escalate", "cooldown")}
    later = decide_alert(
        alert(status="escalating", detected="2026-11-21T09:31:41.000Z", alert_id="a-3"),
        policy=policy, cooldowns=cooldowns, now=NOW + timedelta(minutes=15),
    )
    assert [d.message["kind"] for d in later.decisions] == ["limit_replies_to_target"]  # escalation still cooling
    renewal, original = later.decisions[0].message, first.decisions[0].message
    assert renewal["action_id"] != original["action_id"]
    assert renewal["expires_at"] > original["expires_at"]


def test_ids_are_deterministic_so_reprocessing_after_a_crash_repeats_them(policy):
    message = scored(threat=0.93)
    before = decide_post(message, policy=policy, cooldowns=Cooldowns(), now=NOW)
    after_crash = decide_post(message, policy=policy, cooldowns=Cooldowns(), now=NOW + timedelta(minutes=3))
    assert [d.id for d in before.decisions] == [d.id for d in after_crash.decisions]
    other_post = decide_post(scored(post_id="p-2", threat=0.93), policy=policy, cooldowns=Cooldowns(), now=NOW)
    # A new threat is a new case; the author throttle is the same one within its cooldown bucket.
    assert other_post.decisions[0].id != before.decisions[0].id
    assert other_post.decisions[1].id == before.decisions[1].id
    assert [d.id for d in decide_alert(alert(), policy=policy, cooldowns=Cooldowns(), now=NOW).decisions] == [
        d.id for d in decide_alert(alert(), policy=policy, cooldowns=Cooldowns(), now=NOW).decisions
    ]


def test_cooldown_memory_is_bounded():
    cooldowns = Cooldowns(max_entries=2)
    for key in "abc":
        cooldowns.mark(key, 0.0, 100)
    assert len(cooldowns) == 2 and cooldowns.ready("a", 1.0, 100)


def test_every_credible_threat_escalates_even_out_of_order(policy):
    cooldowns = Cooldowns()
    newer = decide_post(scored("p-new", threat=0.9, created="2026-11-21T09:30:00Z"), policy=policy, cooldowns=cooldowns, now=NOW)
    older = decide_post(scored("p-old", threat=0.9, created="2026-11-21T09:00:00Z"), policy=policy, cooldowns=cooldowns, now=NOW)
    assert [d.topic for d in newer.decisions] == ["escalations", "platform-actions"]
    assert [d.topic for d in older.decisions] == ["escalations"]  # the throttle is cooling down
    assert [(s.kind, s.reason) for s in older.skipped] == [("throttle_author", "cooldown")]


def test_a_threat_the_rule_layer_found_is_escalated_even_when_the_model_scores_it_low(policy):
    message = scored(threat=0.02)  # "I know where you live": not violent words, low threat score
    message["threats"] = {"detected": True, "kinds": ["knows_victim"]}
    result = decide_post(message, policy=policy, cooldowns=Cooldowns(), now=NOW)
    assert_valid(result)
    [escalation] = [d.message for d in emitted(result)]
    assert (escalation["severity"], escalation["category"]) == ("high", "threat")
    assert escalation["reasons"]["rule_id"] == "threat.structure"
    assert escalation["reasons"]["threat_kinds"] == ["knows_victim"]
    assert escalation["reasons"]["scores"]["threat_rule_detected"] == 1.0
    # A post-scores message from before the rule layer (no "threats") matches nothing, raises nothing.
    assert emitted(decide_post(scored(threat=0.02), policy=policy, cooldowns=Cooldowns(), now=NOW)) == ()


def test_extortion_the_rule_layer_found_is_escalated_at_high_severity(policy):
    message = scored(threat=0.02)  # "pay or your pictures go to your school": the model sees little
    message["extortion"] = {"detected": True, "kinds": ["intimate_images", "deadline"]}
    result = decide_post(message, policy=policy, cooldowns=Cooldowns(), now=NOW)
    assert_valid(result)
    [escalation] = [d.message for d in emitted(result)]
    assert (escalation["severity"], escalation["category"]) == ("high", "extortion")
    assert escalation["reasons"]["rule_id"] == "extortion.structure"
    assert escalation["reasons"]["extortion_kinds"] == ["intimate_images", "deadline"]
    assert escalation["reasons"]["scores"]["extortion_rule_detected"] == 1.0
    # A post-scores message from before the layer (no "extortion") matches nothing, raises nothing.
    assert emitted(decide_post(scored(threat=0.02), policy=policy, cooldowns=Cooldowns(), now=NOW)) == ()


def _in_german(message):
    message["language"] = {"detected": "de", "confidence": 0.97, "supported": False, "source": "detected"}
    message["post"]["text"] = "ich bringe dich um"
    validate("post-scores", message)
    return message


def test_score_rules_on_an_unsupported_language_are_skipped_as_unknown_not_passed_as_below_threshold(policy):
    # "ich bringe dich um" (I will kill you), scored as if it were English: THREAT 0.02.
    result = decide_post(_in_german(scored(threat=0.02)), policy=policy, cooldowns=Cooldowns(), now=NOW)
    assert result.decisions == () and result.matched_rules == ()
    skips = {(skip.rule_id, skip.kind): skip for skip in result.skipped}
    # Every rule that reads scores or an (English) rule layer, with its other conditions met.
    assert {rule for rule, _ in skips} == {"threat.credible", "threat.structure", "extortion.structure",
                                           "insult.severe_author_throttle"}
    credible = skips[("threat.credible", "escalate")]
    assert credible.subject_id == "p-1"
    assert credible.reason == "scores unknown: language de not supported by the model"
    assert skips[("threat.structure", "escalate")].reason.endswith("(the threat rule layer's patterns are English)")
    assert skips[("extortion.structure", "escalate")].reason.endswith("(the extortion rule layer's patterns are English)")


def test_rules_that_need_no_scores_still_act_on_an_unsupported_language(policy):
    message = _in_german(scored())
    message["doxxing"] = {"detected": True, "kinds": ["phone"]}
    result = decide_post(message, policy=policy, cooldowns=Cooldowns(), now=NOW)
    assert "doxxing.targeted" in result.matched_rules
    # A post aimed at nobody: rules that need a target are not "unknown", they do not apply.
    untargeted = decide_post(_in_german(scored(targets=())), policy=policy, cooldowns=Cooldowns(), now=NOW)
    assert {skip.rule_id for skip in untargeted.skipped} == {"threat.credible"}


def test_supported_and_unlabelled_posts_below_threshold_record_nothing(policy):
    english = scored(threat=0.02)  # the example says: en, supported
    before_the_field = scored(threat=0.02)
    del before_the_field["language"]
    for message in (english, before_the_field):
        assert decide_post(message, policy=policy, cooldowns=Cooldowns(), now=NOW).skipped == ()
