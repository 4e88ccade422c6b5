"""docs/threats.md's figures for the threat rule layer on the written corpus's dev templates
(abusewatch threat-corpus): templates the rules were not written from, threats and their hard
negatives. Fails when the rules or the corpus move a documented figure."""

from __future__ import annotations

import pytest

from abusewatch.offline.threat_corpus import rows
from abusewatch.scoring.threats import detect_threat

pytestmark = [pytest.mark.evaluation]


def test_rule_layer_precision_recall_and_hard_negatives_on_the_dev_templates():
    dev = [row for row in rows() if row["split"] == "dev"]
    flagged = [(row, detect_threat(str(row["text"])).detected) for row in dev]
    threats = [hit for row, hit in flagged if row["label"] == 1]
    negatives = [(row["family"], hit) for row, hit in flagged if row["label"] == 0]
    true_positives = sum(threats)
    false_positives = sum(hit for _, hit in negatives)
    assert (len(threats), len(negatives)) == (53, 52)
    assert true_positives / (true_positives + false_positives) >= 0.95  # documented: 1.00
    assert true_positives / len(threats) >= 0.75  # documented: 0.792 (misses: veiled threats, "coming for you" + a time)
    for family in {family for family, _ in negatives}:  # every kind of hard negative <= 5 % flagged
        hits = [hit for f, hit in negatives if f == family]
        assert sum(hits) / len(hits) <= 0.05, family


def test_extortion_layer_precision_recall_and_hard_negatives_on_the_dev_templates():
    from abusewatch.offline.threat_corpus import EXTORTION, EXTORTION_NEGATIVES
    from abusewatch.scoring.extortion import detect_extortion

    dev = [row for row in rows(EXTORTION, EXTORTION_NEGATIVES) if row["split"] == "dev"]
    flagged = [(row, detect_extortion(str(row["text"])).detected) for row in dev]
    positives = [hit for row, hit in flagged if row["label"] == 1]
    negatives = [(row["family"], hit) for row, hit in flagged if row["label"] == 0]
    assert (len(positives), len(negatives)) == (30, 36)
    assert sum(positives) / len(positives) >= 0.90  # documented: 1.00 (30 of 30)
    for family in {family for family, _ in negatives}:  # documented: 0 of 36 flagged
        hits = [hit for f, hit in negatives if f == family]
        assert sum(hits) / len(hits) <= 0.05, family
