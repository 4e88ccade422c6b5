"""`abusewatch simulate`'s issue-21 kinds: each in the ground truth, built as described, and the
label-proxy scorer's hostile band."""

from __future__ import annotations

import hashlib
import random

import orjson

from abusewatch.offline import corpus
from abusewatch.offline.evaluate_detection import EPISODE_KINDS, Episode
from abusewatch.detection.features import epoch_seconds, is_abusive
from abusewatch.detection.settings import DetectorSettings
from abusewatch.offline.simulate import ScenarioBuilder, ScenarioConfig, generate

NEW_KINDS = {"mixed_pile_on", "friendly_flood", "disagreement_wave", "viral_noisy_start"}


def _builder(**kinds) -> ScenarioBuilder:
    config = ScenarioConfig(seed=5, hours=1.0, targets=300, posts_per_s=1, pile_ons=0, hops=0, slow_burns=0,
                            persistent_abusers=0, viral_bursts=0, viral_posts=2000, **kinds)
    builder = ScenarioBuilder(config, corpus.load_texts())
    builder.build()
    return builder


def test_every_new_kind_is_in_the_ground_truth_and_accepted_by_the_evaluation(tmp_path):
    config = ScenarioConfig(seed=5, hours=1.0, targets=300, posts_per_s=1, pile_ons=0, hops=0, slow_burns=0,
                            persistent_abusers=0, viral_bursts=0, viral_posts=2000, mixed_pile_ons=2,
                            mixed_abuse_shares=(0.3, 0.2), friendly_floods=1, disagreement_waves=1,
                            noisy_viral_bursts=1)
    _, truth_path, _ = generate(config, tmp_path)
    rows = [orjson.loads(line) for line in truth_path.read_bytes().splitlines()]
    assert {r["kind"] for r in rows} == NEW_KINDS <= EPISODE_KINDS
    episodes = [Episode.from_row(r) for r in rows]
    assert sorted(e.group for e in episodes if e.kind == "mixed_pile_on") == ["mixed_pile_on@0.2", "mixed_pile_on@0.3"]


def test_mixed_pile_on_has_the_set_share_of_explicit_abuse_from_days_old_non_followers():
    builder = _builder(mixed_pile_ons=1, mixed_abuse_shares=(0.2,))
    episode = builder.truth[0]
    target = episode["target"]
    start, end = epoch_seconds(episode["start"]), epoch_seconds(episode["end"])
    crowd = [p for p in builder.posts if p.targets == (target,) and not p.follows and start <= p.ts <= end + 1]
    explicit = sum(p.abusive for p in crowd)
    hostile = sum(p.hostile for p in crowd)
    assert explicit == episode["abusive_posts"] and hostile == episode["hostile_posts"]
    assert abs(explicit / (explicit + hostile) - 0.2) < 0.03
    assert explicit + hostile >= 20 and episode["authors"] >= 10
    assert all(0 < p.ts - p.author_created_ts < 15 * 86_400 for p in crowd)  # days-old accounts
    assert any(p.follows and not p.abusive for p in builder.posts if p.targets == (target,))  # supporters


def test_friendly_flood_and_disagreement_wave_are_crowds_of_non_abusive_replies():
    builder = _builder(friendly_floods=1, disagreement_waves=1)
    by_kind = {row["kind"]: row for row in builder.truth}
    flood = [p for p in builder.posts if p.targets == (by_kind["friendly_flood"]["target"],)]
    assert len(flood) >= 200
    assert sum(p.ts - p.author_created_ts < 30 * 86_400 for p in flood) / len(flood) > 0.7  # new accounts
    assert sum("welcome" in p.text.lower() for p in flood) / len(flood) > 0.5
    assert sum(p.abusive or p.hostile for p in flood) / len(flood) < 0.05
    wave_target = by_kind["disagreement_wave"]["target"]
    wave = [p for p in builder.posts if p.targets[0] == wave_target and "disagree" in p.text.lower()]
    assert len(wave) >= 50 and sum(not p.follows for p in wave) / len(wave) > 0.8
    assert not any(p.abusive or p.hostile for p in wave)


def test_noisy_viral_burst_has_a_noisy_first_minute_then_a_benign_burst():
    builder = _builder(noisy_viral_bursts=1)
    episode = builder.truth[0]
    start = epoch_seconds(episode["start"])
    posts = [p for p in builder.posts if p.targets == (episode["target"],)]
    first = [p for p in posts if start <= p.ts < start + 60]
    rest = [p for p in posts if p.ts >= start + 60]
    assert 12 <= len(first) and len(rest) >= 80
    assert sum(p.abusive or p.hostile for p in first) / len(first) > sum(p.abusive or p.hostile for p in rest) / len(rest)


def test_label_proxy_puts_most_hostile_texts_in_a_band_below_the_abusive_thresholds():
    thresholds = tuple(DetectorSettings().thresholds().items())
    builder = _builder(mixed_pile_ons=3)
    hostile = sorted({p.text for p in builder.posts if p.hostile})
    scores = [corpus.proxy_scores(text, False, True) for text in hostile]
    flagged = sum(is_abusive(s, thresholds) for s in scores)
    low, high = corpus.PROXY_BAND_TOXICITY
    in_band = sum(not is_abusive(s, thresholds) and low <= s["toxicity"] <= high for s in scores)
    assert len(hostile) >= 50
    assert 0.02 < flagged / len(scores) < 0.25 and 0.4 < in_band / len(scores) < 0.75
    # The first draw alone decides the abusive flag, as before the band existed (older streams flag
    # the same posts).
    texts = builder.texts.benign[:300] + builder.texts.abusive[:300]
    first_draw = [random.Random(hashlib.blake2b(t.encode(), digest_size=8).digest()).random() for t in texts]
    expected = [d < 0.03 for d in first_draw[:300]] + [d < 0.75 for d in first_draw[300:]]
    assert [is_abusive(corpus.proxy_scores(t, i >= 300), thresholds) for i, t in enumerate(texts)] == expected
