"""The default policy's known-media rules: a bank match holds the post and escalates, explainably."""

from datetime import datetime, timezone

import pytest

from abusewatch.detection.features import extract
from abusewatch.ingest.contract import validate
from abusewatch.policy import Cooldowns, decide_post
from tests.unit.policy.test_engine import NOW, emitted, policy, scored  # noqa: F401 - the policy fixture

PDQ = "b12348d99ef81f7c1965e385f945f718589380c31047616daf3cdedc839b30e3"


def with_match(bank, *, flooding=False, distance=6):
    message = scored(post_id="p-img")
    message["media_matches"] = {"checked": 1, "low_quality": 0, "matches": [{
        "media_index": 0, "media_id": "m-1", "bank": bank, "signal_type": "pdq", "hash": PDQ, "bank_hash": PDQ,
        "distance": distance, "entry_id": "case-9", "flooding": flooding}]}
    validate("post-scores", message)
    return message


def _decide(message, policy):
    result = decide_post(message, policy=policy, cooldowns=Cooldowns(), now=NOW)
    for decision in result.decisions:
        validate(decision.topic, decision.message)
    return result


def test_an_ncii_match_holds_the_post_and_escalates_with_bank_distance_and_hash(policy):
    result = _decide(with_match("ncii"), policy)
    assert result.matched_rules == ("media.ncii",)
    kinds = sorted((d.message.get("kind") or d.message["category"]) for d in emitted(result))
    assert kinds == ["hold_for_review", "ncii"]
    escalation = next(d.message for d in emitted(result) if d.topic == "escalations")
    assert escalation["severity"] == "high"
    reasons = escalation["reasons"]
    assert reasons["media_matches"][0]["bank"] == "ncii" and reasons["scores"]["media_match_distance"] == 6
    assert "bank ncii at distance 6" in reasons["summary"] and PDQ in reasons["summary"]


def test_a_csam_match_is_critical_and_notes_the_reporting_obligation(policy):
    escalation = next(d.message for d in emitted(_decide(with_match("csam"), policy)) if d.topic == "escalations")
    assert escalation["severity"] == "critical" and escalation["category"] == "csam"
    assert "NCMEC" in escalation["reasons"]["reviewer_note"]


def test_a_flooding_platform_removed_entry_is_sent_for_review_instead_of_acted_on(policy):
    result = _decide(with_match("platform-removed", flooding=True), policy)
    assert result.matched_rules == ("media.hash_flood",)
    (decision,) = emitted(result)
    assert decision.message["category"] == "known_media" and "[flooding]" in decision.message["reasons"]["summary"]


@pytest.mark.parametrize("bank", ["ncii", "csam"])
def test_a_victims_image_spreading_is_still_held_and_its_entry_also_reviewed(policy, bank):
    # A jump in matches is a spread as often as a bad entry: it must never lift the hold.
    result = _decide(with_match(bank, flooding=True), policy)
    assert result.matched_rules == (f"media.{bank}", "media.hash_flood")
    kinds = sorted((d.message.get("kind") or d.message["category"]) for d in emitted(result))
    assert kinds == sorted(["hold_for_review", bank, "known_media"])


def test_no_media_and_other_banks_match_nothing(policy):
    assert _decide(scored(), policy).matched_rules == ()
    assert _decide(with_match("some-other-bank"), policy).matched_rules == ()


@pytest.mark.parametrize("flooding, abusive", [(False, True), (True, False)])
def test_the_detector_counts_a_media_match_as_abusive(flooding, abusive):
    assert extract(with_match("ncii", flooding=flooding), (("toxicity", 0.8),)).abusive is abusive
