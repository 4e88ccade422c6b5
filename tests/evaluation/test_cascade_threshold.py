"""The shipped cascade threshold keeps its promise with the shipped model: at most 1 point of
macro-F1 lost on every cascade dev set (the real model scores the real dev tweets; ~2,300 posts).

A threshold tuned for one model version is not safe for the next: 0.02, chosen for 0.1.0-quick,
cost 2.6 points on TweetEval hate with 0.2.0. This test fails when a new model is shipped without
re-running `abusewatch bench --tune-cascade`.
"""

from __future__ import annotations

import argparse

import pytest

from abusewatch.common import config
from abusewatch.scoring.inference import EngineSettings
from abusewatch.offline.bench.inference import MAX_CASCADE_F1_LOSS, tune_cascade
from abusewatch.scoring.model.artifact import DEFAULT_MODEL_DIR, load_artifact

pytestmark = [pytest.mark.evaluation]


def test_default_cascade_threshold_loses_at_most_one_point_of_macro_f1() -> None:
    settings = config.load(EngineSettings)
    model_dir = settings.model_dir or DEFAULT_MODEL_DIR
    report = tune_cascade(argparse.Namespace(model_dir=model_dir, datasets_dir=None), load_artifact(model_dir))
    assert settings.cascade_threshold <= report["ceiling"], "a skipped post could be flagged on its first-pass score"
    for dev in report["dev_sets"]:
        row = next(r for r in dev["curve"] if abs(r["threshold"] - settings.cascade_threshold) < 1e-9)
        loss = dev["transformer_alone"] - row["macro_f1"]
        assert loss <= MAX_CASCADE_F1_LOSS + 1e-9, (
            f"{dev['dev_set']}: cascade at {settings.cascade_threshold} loses {loss * 100:.1f} points of macro-F1 "
            f"(skips {row['skipped']:.0%}); re-run `abusewatch bench --tune-cascade` and update the default"
        )
