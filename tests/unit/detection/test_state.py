"""Per-target state: serialization for the Faust table, expiry of idle targets, memory bound."""

from __future__ import annotations

import orjson

from abusewatch.common import config
from abusewatch.detection import DetectorSettings, PileOnDetector, TargetState
from abusewatch.offline.bench.detection import measure, synthetic_messages
from abusewatch.detection.stores import AuthorIndex


def test_state_round_trips_through_bytes_with_evidence_and_campaign():
    detector = PileOnDetector(config.load(DetectorSettings, env={}))
    messages = list(synthetic_messages(20, span_s=120))
    for message in messages:
        message["scores"] = {**message["scores"], "toxicity": 0.95}
        message["targets"] = ["victim"]
        message["post"]["author_created_at"] = None
    alerts = [a for m in messages for a in detector.process(m)]
    assert alerts
    state = detector.store.get("victim")
    copy = TargetState.from_bytes(state.to_bytes())
    assert copy.to_bytes() == state.to_bytes()
    assert copy.campaign.campaign_id == alerts[0]["campaign_id"]
    assert copy.evidence == state.evidence and copy.buckets == state.buckets


def test_idle_targets_expire_but_open_campaigns_stay():
    settings = config.load(DetectorSettings, env={"ABUSEWATCH_DETECTOR_IDLE_EXPIRY_S": "600"})
    detector = PileOnDetector(settings)
    for message in synthetic_messages(1000, span_s=300):
        detector.process(message)
    assert len(detector.store) == 1000
    late = next(synthetic_messages(1))
    late["post"]["created_at"] = "2026-10-26T10:00:00.000+00:00"  # well after the synthetic hour
    late["targets"] = ["someone-else"]
    detector.process(late)
    assert len(detector.store) == 1  # every idle target was forgotten
    assert detector.stats.expired_targets == 1000


def test_author_index_is_bounded():
    index = AuthorIndex(capacity=3)
    for n in range(5):
        index.record(f"a{n}", f"c{n}", "t")
    assert len(index) == 3 and index.get("a0") is None and index.get("a4") == ("c4", "t")


def test_author_index_publishes_what_a_campaign_newly_claims_and_applies_others_silently():
    published = []
    index = AuthorIndex(capacity=10, on_update=lambda *update: published.append(update))
    index.record_campaign("c1", "t1", ["a", "b"])
    index.record_campaign("c1", "t1", ["a", "b", "c"])  # a later alert: only c is new
    index.record_campaign("c9", "t9", ["d"], publish=False)  # another worker's campaign
    index.record_campaign("c2", "t2", ["b", "d"])  # b and d move on to a new campaign
    assert published == [("c1", "t1", ["a", "b"]), ("c1", "t1", ["c"]), ("c2", "t2", ["b", "d"])]
    assert index.get("a") == ("c1", "t1") and index.get("d") == ("c2", "t2")


def test_memory_per_quiet_target_is_bounded():
    # 1,000,000 active targets must fit one worker: keep the per-target cost under 1.5 KB
    result = measure(5000)
    assert result["targets"] == 5000
    assert result["bytes_per_target_tracemalloc"] < 1500


def test_unscored_counts_round_trip_and_old_state_reads_without_them():
    state = TargetState(1_793_000_000.0, 10, 0.5)
    state.unscored = {12: 3, 13: 1}
    assert TargetState.from_bytes(state.to_bytes()).unscored == {12: 3, 13: 1}
    old = orjson.loads(TargetState(1_793_000_000.0, 10, 0.5).to_bytes())[:9]  # written before the field
    assert TargetState.from_bytes(orjson.dumps(old)).unscored is None


def test_evidence_media_entries_round_trip_and_records_without_them_stay_as_before():
    from abusewatch.detection.state import Evidence

    state = TargetState(1_793_000_000.0, 10, 0.5)
    plain = Evidence(1_793_000_000.0, "p1", "a1", True, None, (0.9,) * 6, "p1", b"")
    matched = plain._replace(post_id="p2", cluster="p2", media=(("ncii", "ab" * 32), ("csam", "cd" * 32)))
    state.evidence = [plain, matched]
    raw = state.to_bytes()
    assert TargetState.from_bytes(raw).evidence == [plain, matched]
    fields = orjson.loads(raw)
    # Records keep their eight fields (what a detector from before media entries reads, ignoring
    # fields after the tenth); the entries are an eleventh field, by evidence position.
    assert [len(row) for row in fields[7]] == [8, 8]
    assert fields[10] == [[1, [["ncii", "ab" * 32], ["csam", "cd" * 32]]]]
    # State written before media entries were kept reads as records without any.
    assert TargetState.from_bytes(orjson.dumps(fields[:10])).evidence == [plain, matched._replace(media=())]


def test_hostile_reply_marks_round_trip_and_state_from_before_them_reads_as_none():
    from abusewatch.detection.state import Evidence

    state = TargetState(1_793_000_000.0, 10, 0.5)
    explicit = Evidence(1_793_000_000.0, "p1", "a1", True, False, (0.9,) * 6, "p1", b"")
    hostile = explicit._replace(post_id="p2", cluster="p2", scores=(0.01,) * 6, hostile_reply=True)
    state.evidence = [explicit, hostile]
    raw = state.to_bytes()
    assert TargetState.from_bytes(raw).evidence == [explicit, hostile]
    fields = orjson.loads(raw)
    assert [len(row) for row in fields[7]] == [8, 8] and fields[11] == [1]
    assert TargetState.from_bytes(orjson.dumps(fields[:11])).evidence == [explicit, hostile._replace(hostile_reply=False)]
