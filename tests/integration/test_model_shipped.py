"""The shipped artifact: sensible scores on clear cases, and `abusewatch eval` (dev splits and --csv) end to end."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from abusewatch.cli.main import main
from abusewatch.scoring.model.artifact import load_artifact
from abusewatch.scoring.inference.direct import network_logits

pytestmark = [
    pytest.mark.integration,
]

THREATS = ["I will kill you", "I know where you live and I am going to hurt you", "you better watch your back, I'll shoot you"]
BENIGN = ["have a nice day", "thanks for sharing the recipe, it looks delicious", "the meeting moved to 3pm"]


@pytest.fixture(scope="module")
def artifact():
    torch.set_num_threads(2)
    return load_artifact()


def probabilities(artifact, texts):
    return artifact.calibration.probabilities(network_logits(artifact.network, artifact.tokenizer, artifact.max_length, texts))


def test_threats_score_higher_threat_than_benign_text(artifact):
    threat = artifact.labels.index("threat")
    threat_scores = probabilities(artifact, THREATS)[:, threat]
    benign = probabilities(artifact, BENIGN)
    assert threat_scores.min() > benign[:, threat].max()
    # Benign text is low on every label, not only on threat.
    assert benign.max() < 0.5


def test_manifest_has_a_threshold_and_calibration_for_every_label(artifact):
    assert set(artifact.thresholds) == set(artifact.labels)
    assert all(0.0 < value < 1.0 for value in artifact.thresholds.values())
    logits = np.zeros((1, len(artifact.labels)))
    assert artifact.calibration.probabilities(logits).shape == (1, len(artifact.labels))


def test_eval_csv_reports_metrics_for_a_small_file(artifact, tmp_path, capsys):
    path = tmp_path / "tiny.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([[text, 1] for text in THREATS] + [[text, 0] for text in BENIGN])
    assert main(["eval", "--csv", str(path), "--label", "threat", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    (row,) = results["per_label"]
    assert (row["label"], row["n"], row["positives"]) == ("threat", 6, 3)
    assert 0.0 <= row["roc_auc"] <= 1.0 and 0.0 <= row["baseline_roc_auc"] <= 1.0
    point = results["detector_operating_point"]
    assert (point["positives"], point["negatives"]) == (3, 3)
    # Benign small talk is flagged by no label at the default thresholds.
    assert point["negative_flagged"] == 0.0
    assert row["threshold"] == pytest.approx(artifact.thresholds["threat"])
    assert {"precision_at_threshold", "recall_at_threshold", "ece", "macro_f1"} <= set(row)


def test_replay_scores_a_contract_valid_posts_file_with_the_model(tmp_path, capsys):
    # mentioned_user_ids is optional in the contract: the one post-scores builder must not need it.
    path = tmp_path / "posts.jsonl"
    posts = [{"post_id": f"p{i}", "author_id": f"a{i}", "text": text, "created_at": f"2026-11-21T09:00:{i:02d}Z",
              "reply_to_user_id": "t1"} for i, text in enumerate(THREATS + BENIGN)]
    path.write_bytes(b"".join(json.dumps(post).encode() + b"\n" for post in posts))
    out = tmp_path / "alerts.jsonl"
    assert main(["replay", str(path), "--scorer", "model", "--json", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["posts"] == len(posts) and report["detector"]["posts"] == len(posts)
    assert out.exists()
