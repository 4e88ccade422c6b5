"""simulate + replay on a small seeded scenario: the detector finds the injected pile-ons and
stays quiet on viral benign traffic and single abusers."""

from __future__ import annotations

import orjson
import pytest

from abusewatch.common import config

from abusewatch.ingest import contract
from abusewatch.offline.evaluate_detection import Episode, score_alerts
from abusewatch.offline.replay import benign_post_count, read_messages, replay
from abusewatch.detection.settings import DetectorSettings
from abusewatch.offline.simulate import ScenarioConfig, generate


def test_small_scenario_precision_recall_and_delay(tmp_path):
    scenario = ScenarioConfig(seed=11, hours=1.0, targets=500, posts_per_s=8, pile_ons=8, hops=1, slow_burns=1,
                              persistent_abusers=2, viral_bursts=1, viral_posts=6000)
    stream, truth_path, posts = generate(scenario, tmp_path)
    assert posts > 20_000
    result = replay(read_messages(stream, None), config.load(DetectorSettings, env={}))
    for alert in result.alerts:
        contract.validate("target-alerts", alert)
    truth = [Episode.from_row(orjson.loads(line)) for line in truth_path.read_bytes().splitlines()]
    assert {e.kind for e in truth} == {"pile_on", "hop", "slow_burn", "persistent_abuser", "viral_benign"}
    report = score_alerts(result.alerts, truth, benign_post_count(stream, truth), match_slack_s=600)
    assert report["per_kind"]["pile_on"]["recall"] >= 0.95
    assert report["recall"] >= 0.9
    assert report["precision"] >= 0.95
    assert report["per_kind"]["pile_on"]["delay_s_median"] <= 60
    assert report["later_hops_linked"] == report["later_hops_detected"] > 0


def test_replay_is_deterministic(tmp_path):
    scenario = ScenarioConfig(seed=3, hours=0.5, targets=200, posts_per_s=4, pile_ons=3, hops=0, slow_burns=0,
                              persistent_abusers=0, viral_bursts=0)
    stream, _, _ = generate(scenario, tmp_path)
    settings = config.load(DetectorSettings, env={})
    first = replay(read_messages(stream, None), settings).alerts
    second = replay(read_messages(stream, None), settings).alerts
    assert first and first == second


def test_alert_during_overlapping_episodes_counts_for_the_pile_on():
    # A persistent abuser listed first on the same target must not turn the pile-on's alert false.
    truth = [
        Episode("t1", 0.0, 7200.0, "persistent_abuser", "persistent-1"),
        Episode("t1", 3000.0, 3300.0, "pile_on", "pile-1"),
    ]
    alert = {"campaign_id": "c1", "target_id": "t1", "status": "opened", "event_time": "1970-01-01T00:51:00.000Z"}
    report = score_alerts([alert], truth, benign_posts=1000, match_slack_s=600)
    assert report["false_campaigns"] == 0
    assert report["per_kind"]["pile_on"]["detected"] == 1
    lone = score_alerts([{**alert, "event_time": "1970-01-01T00:10:00.000Z"}], truth, 1000, match_slack_s=600)
    assert lone["false_campaigns"] == 1  # only the single abuser spans it: a false alert


def test_burst_pile_ons_are_summarised_apart_from_slow_burns():
    truth = [Episode("t1", 0.0, 300.0, "pile_on", "pile-1"), Episode("t2", 0.0, 7200.0, "slow_burn", "slow-1"),
             Episode("t3", 0.0, 300.0, "hop", "hop-1")]
    alerts = [{"campaign_id": "c1", "target_id": "t1", "status": "opened", "event_time": "1970-01-01T00:00:20.000Z"},
              {"campaign_id": "c2", "target_id": "t2", "status": "opened", "event_time": "1970-01-01T00:30:00.000Z"}]
    crowd = {truth[0]: [1.0, 5.0, 20.0, 30.0], truth[1]: [float(i * 60) for i in range(40)]}
    report = score_alerts(alerts, truth, benign_posts=1000, match_slack_s=600, crowd_times=crowd)
    assert report["bursts"] == {"episodes": 2, "detected": 1, "recall": 0.5, "delay_s_median": 20.0,
                                "delay_s_p95": 20.0, "delay_posts_median": 3, "delay_posts_p95": 3}
    assert report["delay_s_median"] == (20.0 + 1800.0) / 2 and report["recall"] == 2 / 3
    assert report["per_kind"]["slow_burn"]["delay_posts_median"] == 31


def test_truth_with_an_unknown_kind_is_refused_with_the_accepted_kinds(tmp_path):
    from abusewatch.offline.evaluate_detection import EPISODE_KINDS
    from abusewatch.offline.replay import read_truth

    good = {"target": "t1", "start": "2026-11-02T06:00:00Z", "end": "2026-11-02T06:05:00Z", "kind": "pile_on"}
    path = tmp_path / "truth.jsonl"
    path.write_bytes(orjson.dumps(good) + b"\n" + orjson.dumps({**good, "kind": "pileon", "episode": "x"}) + b"\n")
    with pytest.raises(SystemExit) as refused:
        read_truth(path)
    message = str(refused.value)
    assert "\n" not in message and ":2:" in message and "'pileon'" in message
    assert all(kind in message for kind in EPISODE_KINDS)
    path.write_bytes(orjson.dumps(good) + b"\n")
    assert [e.kind for e in read_truth(path)] == ["pile_on"]


POST = {"post_id": "p1", "author_id": "a1", "text": "hello there", "created_at": "2026-11-21T09:00:00Z",
        "reply_to_user_id": "t1"}  # mentioned_user_ids is optional in the contract


def test_a_posts_file_without_a_scorer_gets_a_one_line_error_saying_what_to_pass(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_bytes(orjson.dumps(POST) + b"\n")
    with pytest.raises(SystemExit, match=r"posts.jsonl:1: not a post-scores/v1 message; for a posts/v1 file pass --scorer model"):
        list(read_messages(path, None))


def test_a_scored_file_given_to_the_model_scorer_or_a_bad_post_is_refused_before_scoring(tmp_path):
    from abusewatch.offline.simulate import score_message

    scored = tmp_path / "scores.jsonl"
    scored.write_bytes(orjson.dumps(score_message(POST, {}, {"name": "m", "version": "1"})) + b"\n")
    with pytest.raises(SystemExit, match=r"scores.jsonl:1: not a valid posts/v1 message: .*already scored: drop --scorer"):
        list(read_messages(scored, "model"))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(orjson.dumps(POST) + b"\n" + orjson.dumps({**POST, "text": " "}) + b"\n")
    with pytest.raises(SystemExit, match=r"bad.jsonl:2: not a valid posts/v1 message: empty_text"):
        list(read_messages(bad, "model"))


def test_the_simulator_builds_post_scores_with_the_classifier_builder():
    from abusewatch.offline.simulate import score_message

    message = score_message({**POST, "mentioned_user_ids": ["t2", "a1", "t1"]}, {"toxicity": 0.1234567},
                            {"name": "m", "version": "1"})
    contract.validate("post-scores", {**message, "scores": dict.fromkeys(
        ("toxicity", "threat", "insult", "identity_attack", "sexual_harassment", "obscene"), 0.0)})
    assert message["targets"] == ["t1", "t2"]  # reply first, the author and repeats left out (contract.targets_of)
    assert message["scores"] == {"toxicity": 0.123457}
