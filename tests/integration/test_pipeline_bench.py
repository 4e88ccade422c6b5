"""`abusewatch bench --pipeline` end to end at a small size: every post comes back scored through
the embedded broker and the classifier service, and the engine-alone baseline of the same run is
reported beside it."""

from __future__ import annotations

import pytest

from abusewatch.offline.bench.pipeline import run_pipeline_benchmark

pytestmark = pytest.mark.integration


def test_pipeline_bench_scores_every_post_and_reports_its_share_of_the_engine():
    texts = [f"post {i}: what a match tonight, see you at the stadium" for i in range(40)]
    texts += ["you are a worthless idiot and everyone hates you", "go back to where you came from"]
    report = run_pipeline_benchmark(texts, backlog_posts=300, steady_rate=20.0, steady_seconds=2.0)

    assert report["backlog_scored"] == 300
    assert report["steady_scored"] == 40
    assert report["latency_ms_p50"] > 0
    engine = report["engine_alone_posts_per_s"]
    assert engine["before"] > 0 and engine["after"] > 0
    assert report["throughput_share_of_engine"] == pytest.approx(
        report["throughput_posts_per_s"] / ((engine["before"] + engine["after"]) / 2), rel=0.01
    )
