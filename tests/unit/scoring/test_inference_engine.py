"""The engine's queue, batcher and model stages around a trivial fake backend (no model needed).

The fake tokenizer turns each word into one token whose id is the word's length; the fake backend
returns, per post, the sum of its token ids and its token count, so every result can be checked
against its own text.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from abusewatch.common.config import load
from abusewatch.scoring.inference import EngineSettings, InferenceEngine, Overloaded
from abusewatch.scoring.inference.batching import TokenizedBatch, padding_efficiency
from abusewatch.scoring.inference.cascade import FirstPass
from abusewatch.scoring.inference.tokenization import PostTokenizer

LABELS = ("letters", "words")


class WordLengthTokenizer:
    pad_token_id = 0

    def __call__(self, texts, truncation, max_length, padding, return_attention_mask):
        return {"input_ids": [[len(word) for word in text.split()][:max_length] for text in texts]}


class RecordingBackend:
    """Answers [sum of ids, token count] per post; records batch shapes; can hold the model."""

    device = "fake"
    dtype = "fp32"
    runtime = "recording"

    def __init__(self, max_batch_tokens: int, model_seconds: float = 0.0) -> None:
        self.max_batch_tokens = max_batch_tokens
        self.model_seconds = model_seconds
        self.batches: list[TokenizedBatch] = []
        self.released = threading.Event()
        self.released.set()
        self.fail_next = False

    def health(self) -> bool:
        return True

    def prepare(self, batch: TokenizedBatch) -> TokenizedBatch:
        return batch

    def predict(self, batch: TokenizedBatch) -> np.ndarray:
        self.released.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("model exploded")
        time.sleep(self.model_seconds)
        self.batches.append(batch)
        ids = batch.input_ids * batch.attention_mask
        return np.stack([ids.sum(axis=1), batch.attention_mask.sum(axis=1)], axis=1).astype(np.float32)


def expected(text: str) -> dict[str, float]:
    words = text.split()
    return {"letters": float(sum(len(word) for word in words)), "words": float(len(words))}


def make_engine(
    backend: RecordingBackend | None = None, first_pass: FirstPass | None = None, **overrides
) -> tuple[InferenceEngine, RecordingBackend]:
    settings = load(EngineSettings, env={}, **overrides)
    backend = backend or RecordingBackend(settings.max_batch_tokens)
    engine = InferenceEngine(
        settings=settings,
        backend=backend,
        tokenizer=PostTokenizer(WordLengthTokenizer(), max_length=64),
        labels=LABELS,
        calibrate=lambda logits: logits,
        model_info={"name": "fake", "version": "0"},
        first_pass=first_pass,
        registry=CollectorRegistry(),
    )
    return engine, backend


def mixed_texts(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join("x" * int(rng.integers(1, 9)) for _ in range(int(rng.integers(1, 60)))) for _ in range(count)]


def test_results_come_back_in_order_with_their_own_scores() -> None:
    engine, _ = make_engine()
    texts = mixed_texts(300)
    assert engine.score_blocking(texts) == [expected(text) for text in texts]


def test_batches_stay_within_token_budget() -> None:
    engine, backend = make_engine(max_batch_tokens=256, max_batch_posts=32)
    engine.score_blocking(mixed_texts(300, seed=1))
    assert backend.batches
    for batch in backend.batches:
        posts, longest = batch.input_ids.shape
        assert posts <= 32
        assert posts == 1 or posts * longest <= 256


def test_length_sorting_cuts_padding() -> None:
    texts = mixed_texts(400, seed=2)
    engine, backend = make_engine(max_batch_tokens=1024)
    engine.score_blocking(texts)
    engine_efficiency = np.mean([padding_efficiency(batch.lengths) for batch in backend.batches])
    lengths = [len(text.split()) for text in texts]
    size = round(np.mean([len(batch.lengths) for batch in backend.batches]))
    arrival_efficiency = np.mean([padding_efficiency(lengths[i : i + size]) for i in range(0, len(lengths), size)])
    assert engine_efficiency > 0.85
    assert engine_efficiency > arrival_efficiency + 0.2


def test_partial_batch_leaves_after_max_wait() -> None:
    async def scenario() -> float:
        engine, _ = make_engine(max_wait_ms=80)
        await engine.start()
        started = time.monotonic()
        await engine.score(["one lonely post"])
        elapsed = time.monotonic() - started
        await engine.stop()
        return elapsed

    elapsed = asyncio.run(scenario())
    assert 0.07 <= elapsed < 0.5


def test_full_batch_does_not_wait_for_max_wait() -> None:
    async def scenario() -> float:
        engine, _ = make_engine(max_wait_ms=10_000, max_batch_posts=8)
        await engine.start()
        started = time.monotonic()
        await engine.score(["a b c d e f g h"] * 8)
        elapsed = time.monotonic() - started
        await engine.stop()
        return elapsed

    assert asyncio.run(scenario()) < 1.0


def test_full_queue_pushes_back() -> None:
    async def scenario() -> None:
        backend = RecordingBackend(max_batch_tokens=2048)
        engine, _ = make_engine(backend, queue_size=4, max_wait_ms=1)
        await engine.start()
        backend.released.clear()  # the model holds its first batch
        first = asyncio.create_task(engine.score(["a b", "c d", "e f", "g h"]))
        await asyncio.sleep(0.1)
        with pytest.raises(Overloaded):
            await engine.score(["no room"], wait=False)
        waiting = asyncio.create_task(engine.score(["waits for room"]))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        backend.released.set()
        assert await waiting == [expected("waits for room")]
        assert len(await first) == 4
        await engine.stop()

    asyncio.run(scenario())


def test_concurrent_callers_get_their_own_results() -> None:
    async def scenario() -> None:
        engine, backend = make_engine(max_wait_ms=2)
        backend.model_seconds = 0.005
        await engine.start()
        calls = [mixed_texts(int(size), seed=seed) for seed, size in enumerate(np.arange(1, 40, 3))]
        results = await asyncio.gather(*(engine.score(texts) for texts in calls))
        await engine.stop()
        for texts, result in zip(calls, results):
            assert result == [expected(text) for text in texts]
        assert max(batch.input_ids.shape[0] for batch in backend.batches) > 1

    asyncio.run(scenario())


def test_model_failure_reaches_the_callers_and_the_engine_recovers() -> None:
    async def scenario() -> None:
        engine, backend = make_engine()
        await engine.start()
        backend.fail_next = True
        with pytest.raises(RuntimeError, match="model exploded"):
            await engine.score(["doomed post"])
        assert not engine.ready
        assert await engine.score(["next post"]) == [expected("next post")]
        assert engine.ready
        await engine.stop()

    asyncio.run(scenario())


def test_stop_answers_admitted_posts_and_refuses_new_ones() -> None:
    async def scenario() -> None:
        engine, _ = make_engine(max_wait_ms=10_000)
        await engine.start()
        pending = asyncio.create_task(engine.score(["left in the queue"]))
        await asyncio.sleep(0.05)
        await engine.stop()
        assert await pending == [expected("left in the queue")]
        assert not engine.ready
        with pytest.raises(RuntimeError, match="not started"):
            await engine.score(["too late"])

    asyncio.run(scenario())


def test_metrics_count_posts_and_batches() -> None:
    registry = CollectorRegistry()
    settings = load(EngineSettings, env={})
    engine = InferenceEngine(
        settings=settings,
        backend=RecordingBackend(settings.max_batch_tokens),
        tokenizer=PostTokenizer(WordLengthTokenizer(), max_length=64),
        labels=LABELS,
        calibrate=lambda logits: logits,
        model_info={"name": "fake", "version": "0"},
        registry=registry,
    )
    engine.score_blocking(mixed_texts(50))
    assert registry.get_sample_value("abusewatch_inference_posts_scored_total", {"path": "transformer"}) == 50
    assert registry.get_sample_value("abusewatch_inference_batch_posts_sum") == 50
    assert registry.get_sample_value("abusewatch_inference_device_info", {"device": "fake", "dtype": "fp32", "runtime": "recording", "cascade": "False"}) == 1


def write_first_pass(directory, skip_below: float = 0.5):
    """A first-pass artefact over the fake labels: one word ("idiot") makes every label likely."""
    import json

    from abusewatch.scoring.inference.cascade import CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE, hashing_vectorizers

    features = [{"analyzer": "word", "ngram_range": [1, 1], "n_features": 1024}]
    column = hashing_vectorizers(features)[0].transform(["idiot"]).indices[0]
    coef = np.zeros((1024, len(LABELS)), dtype=np.float16)
    coef[column] = 20.0
    np.savez_compressed(directory / WEIGHTS_FILE, coef=coef, intercept=np.full(len(LABELS), -5.0, dtype=np.float32))
    config = {"format_version": FORMAT_VERSION, "name": "test-first-pass", "version": "0", "labels": list(LABELS),
              "features": features, "skip_below": dict.fromkeys(LABELS, skip_below), "teacher": {}}
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    return directory


def test_cascade_answers_benign_posts_without_the_model(tmp_path) -> None:
    first_pass = FirstPass(write_first_pass(tmp_path))
    engine, backend = make_engine(first_pass=first_pass)
    texts = ["have a lovely day with your family", "you stupid idiot", "see you at the game tonight"]
    results = engine.score_blocking(texts)
    decision = first_pass.decide(texts)
    assert decision.needs_transformer.tolist() == [False, True, False]
    for row in (0, 2):
        assert results[row] == dict(zip(LABELS, decision.probabilities[row].tolist()))
        assert all(value < 0.5 for value in results[row].values())
    assert results[1] == expected(texts[1])
    assert sum(batch.input_ids.shape[0] for batch in backend.batches) == 1


def test_cascade_never_skips_a_post_a_rule_layer_finds_something_in(tmp_path) -> None:
    # The model alone would let every post skip; the threat and personal-data layers keep two.
    first_pass = FirstPass(write_first_pass(tmp_path, skip_below=1.0))
    texts = ["i know where you live and where your kids go to school", "her number is 415-555-0134, call her", "lovely weather"]
    assert first_pass.decide(texts).needs_transformer.tolist() == [True, True, False]


def test_first_pass_rejects_an_artefact_that_does_not_match_its_weights(tmp_path) -> None:
    import json

    from abusewatch.scoring.inference.cascade import CONFIG_FILE

    write_first_pass(tmp_path)
    config = json.loads((tmp_path / CONFIG_FILE).read_text())
    config["features"][0]["n_features"] = 2048
    (tmp_path / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not match"):
        FirstPass(tmp_path)
    config["features"][0]["n_features"] = 1024
    del config["skip_below"]["words"]
    (tmp_path / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="missing for"):
        FirstPass(tmp_path)


def test_the_shipped_first_pass_covers_every_label_and_stays_small() -> None:
    from abusewatch.scoring.inference.cascade import SHIPPED_FIRST_PASS, shipped_root
    from abusewatch.scoring.labels import LABELS as MODEL_LABELS

    first_pass = FirstPass()
    assert first_pass.labels == MODEL_LABELS
    assert sum(path.stat().st_size for path in (shipped_root() / SHIPPED_FIRST_PASS).iterdir()) < 5 * 2**20


def test_settings_read_from_environment() -> None:
    settings = load(EngineSettings, env={"ABUSEWATCH_MAX_BATCH_TOKENS": "512", "ABUSEWATCH_CASCADE": "true"})
    assert settings.max_batch_tokens == 512
    assert settings.cascade is True


def test_a_caller_that_gives_up_frees_its_waiting_posts_slots() -> None:
    async def scenario() -> None:
        # The batcher waits for 8 posts (or 10 s): the 3 posts below stay queued until cancelled.
        engine, backend = make_engine(queue_size=4, max_batch_posts=8, max_wait_ms=10_000)
        await engine.start()
        gave_up = asyncio.create_task(engine.score(["a", "b c", "d e f"], wait=False))
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded):
            await engine.score(["x", "y"], wait=False)
        gave_up.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gave_up
        await asyncio.sleep(0)  # the posts' done-callbacks run on the next loop iteration
        # Its slots are free again (4 posts fit a queue of 4), and its posts never reach the model.
        kept = asyncio.create_task(engine.score(["g h", "i j", "k l", "m n"], wait=False))
        await asyncio.sleep(0.05)
        await engine.stop()
        assert await kept == [expected(text) for text in ["g h", "i j", "k l", "m n"]]
        assert sum(len(batch.lengths) for batch in backend.batches) == 4

    asyncio.run(scenario())
