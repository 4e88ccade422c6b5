"""docs/detection.md's figures for the hostility rule layer ("The hostility rule layer", "Blind
check"): how often it fires on the real posts of the shared sets, and on the blind written set in
tests/data/hostility_blind. Fails when the patterns move a documented figure."""

from __future__ import annotations

from pathlib import Path

import pytest

from abusewatch.offline import data
from abusewatch.offline.hostility_eval import blind_rates, real_post_rates

pytestmark = [pytest.mark.evaluation]

BLIND = Path(__file__).resolve().parents[1] / "data" / "hostility_blind"


def test_the_layer_fires_on_few_real_clean_posts():
    result = real_post_rates(data.default_datasets_dir())
    assert result["clean_posts"] == 102_544
    assert result["clean_flagged"] == pytest.approx(519, abs=15)  # documented: 0.51 %
    for name, row in result["per_set"].items():
        if row["clean"]:
            assert row["clean_flagged"] / row["clean"] <= 0.015, name  # documented: at most 1.08 %


def test_the_blind_sets_recall_and_false_positives_stay_where_documented():
    result = blind_rates(BLIND)
    hostile, negatives = result["hostile"], result["negatives"]
    assert (hostile["posts"], negatives["posts"]) == (400, 400)
    assert hostile["flagged"] == pytest.approx(116, abs=8)  # documented: 116 of 400 (0.29)
    assert negatives["flagged"] <= 16  # documented: 12 of 400 (banter and quoted reports)
    for style in ("friendly", "disagreement", "ordinary"):  # documented: none flagged
        assert negatives["per_style"][style]["flagged"] <= 2, style
