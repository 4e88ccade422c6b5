"""The engine over the real model artifact: batched scores equal the plain unbatched model's.

No fakes: the shipped network, tokenizer and calibration, on CPU. Posts are real tweets of mixed
lengths so batches carry padding, which must not change any score.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import torch
from prometheus_client import CollectorRegistry

from abusewatch.common import config
from abusewatch.scoring.inference import EngineSettings, InferenceEngine
from abusewatch.scoring.model.artifact import DEFAULT_MODEL_DIR, load_artifact

MODEL_DIR = Path(config.load(EngineSettings).model_dir or DEFAULT_MODEL_DIR)
POSTS_FILE = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "tweeteval_offensive" / "val_text.txt"
POSTS = 48
BF16_TOLERANCE = 0.01
FP32_TOLERANCE = 1e-4

pytestmark = [
    pytest.mark.integration,
]


@pytest.fixture(scope="module")
def artifact():
    return load_artifact(MODEL_DIR)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    lines = POSTS_FILE.read_text(encoding="utf-8").splitlines()
    # Every 7th tweet: a spread of lengths rather than one thread's replies.
    return lines[::7][:POSTS] + ["", "ok", "x " * 400]


@pytest.fixture(scope="module")
def unbatched(artifact, texts) -> np.ndarray:
    """The plain model, fp32, one post at a time: the reference."""
    rows = []
    with torch.inference_mode():
        for text in texts:
            encoded = artifact.tokenizer(text, truncation=True, max_length=artifact.max_length, return_tensors="pt")
            logits = artifact.network(encoded["input_ids"], encoded["attention_mask"])
            rows.append(artifact.calibration.probabilities(logits.numpy())[0])
    return np.stack(rows)


def engine_for(artifact, **overrides) -> InferenceEngine:
    settings = config.load(EngineSettings, env={}, model_dir=str(MODEL_DIR), **overrides)
    return InferenceEngine.from_artifact(artifact, settings, CollectorRegistry())


def as_matrix(results, labels) -> np.ndarray:
    return np.array([[result[label] for label in labels] for result in results])


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_fp32_engine_equals_unbatched_model(artifact, texts, unbatched, runtime: str) -> None:
    engine = engine_for(artifact, dtype="fp32", cpu_runtime=runtime, max_batch_tokens=512)
    assert engine.runtime.startswith(runtime)
    scores = as_matrix(engine.score_blocking(texts), artifact.labels)
    assert np.abs(scores - unbatched).max() < FP32_TOLERANCE


def test_default_engine_matches_unbatched_model_within_tolerance(artifact, texts, unbatched) -> None:
    engine = engine_for(artifact)
    scores = as_matrix(engine.score_blocking(texts), artifact.labels)
    assert engine.device == "cpu"
    assert np.abs(scores - unbatched).max() < BF16_TOLERANCE


def test_compiled_engine_matches_unbatched_model_within_tolerance(artifact, texts, unbatched) -> None:
    # torch.compile at the default dtype (bf16 where the CPU has it): the graphs are built at start
    # (health check), and batches of every size and length, one post alone included, reuse them.
    engine = engine_for(artifact, cpu_runtime="torch-compile", max_batch_tokens=512)
    assert engine.runtime.endswith("compiled")
    scores = as_matrix(engine.score_blocking(texts), artifact.labels)
    alone = as_matrix(engine.score_blocking(texts[:1]), artifact.labels)
    assert np.abs(scores - unbatched).max() < BF16_TOLERANCE
    assert np.abs(alone - unbatched[:1]).max() < BF16_TOLERANCE


def test_concurrent_callers_get_their_own_scores(artifact, texts, unbatched) -> None:
    calls = [list(range(start, len(texts), 5)) for start in range(5)]

    async def scenario():
        engine = engine_for(artifact, max_wait_ms=20)
        await engine.start()
        assert engine.ready
        assert engine.model_info == {"name": artifact.name, "version": artifact.version}
        results = await asyncio.gather(*(engine.score([texts[row] for row in rows]) for rows in calls))
        await engine.stop()
        return results

    for rows, results in zip(calls, asyncio.run(scenario())):
        assert np.abs(as_matrix(results, artifact.labels) - unbatched[rows]).max() < BF16_TOLERANCE


def test_cascade_scores_only_posts_the_first_pass_lets_through(artifact, texts, unbatched) -> None:
    engine = engine_for(artifact, cascade=True)
    scores = as_matrix(engine.score_blocking(texts), artifact.labels)
    decision = engine.cascade.decide(texts)
    skipped = ~decision.needs_transformer
    assert skipped.any() and not skipped.all()
    assert np.abs(scores[~skipped] - unbatched[~skipped]).max() < BF16_TOLERANCE
    columns = [engine.cascade.labels.index(label) for label in artifact.labels]
    assert np.allclose(scores[skipped], decision.probabilities[skipped][:, columns], atol=1e-6)
