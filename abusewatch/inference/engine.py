"""The inference engine: queue -> batcher -> backend, as three visible stages (after TEI's `Infer`).

    score(texts)    caller coroutine: first pass (cascade) + tokenization on the prepare thread,
                    then one queue slot per post (waits, or raises Overloaded, when full)
    batcher task    takes a window of queued posts once a batch's worth is there or the oldest has
                    waited max_wait_ms, sorts it by length, cuts batches under max_batch_tokens,
                    pads them on the prepare thread, and hands them on through a one-batch buffer
    model task      runs each batch on the model thread (backend.predict + calibration) and
                    resolves the callers' futures

The event loop never runs the model or the tokenizer, and the next batch is padded (and, on CUDA,
copied to the device) while the current one runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from abusewatch.inference.backends.base import Backend
from abusewatch.inference.batching import collate, padding_efficiency, plan_batches
from abusewatch.inference.cascade import LexicalFirstPass
from abusewatch.inference.metrics import EngineMetrics
from abusewatch.inference.queue import QueuedPost, RequestQueue
from abusewatch.inference.settings import EngineSettings
from abusewatch.inference.tokenization import PostTokenizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedPosts:
    """Output of the prepare stage for one `score()` call: which posts need the transformer."""

    token_ids: list[list[int]]  # for the posts in `transformer_rows`, in that order
    transformer_rows: list[int]
    first_pass: np.ndarray | None  # cascade probabilities for every post, when the cascade is on


class InferenceEngine:
    """Scores posts with the classifier: one calibrated probability per label, batched."""

    def __init__(
        self,
        *,
        settings: EngineSettings,
        backend: Backend,
        tokenizer: PostTokenizer,
        labels: Sequence[str],
        calibrate: Callable[[np.ndarray], np.ndarray],
        model_info: dict[str, str],
        first_pass: LexicalFirstPass | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._settings = settings
        self._backend = backend
        self._tokenizer = tokenizer
        self._labels = tuple(labels)
        self._calibrate = calibrate
        self._model_info = dict(model_info)
        self._first_pass = first_pass
        self._metrics = EngineMetrics(registry)
        self._started = False
        self._healthy = False

    @classmethod
    def from_settings(cls, settings: EngineSettings, registry: CollectorRegistry | None = None) -> InferenceEngine:
        """Load the model artifact from `settings.model_dir` and pick the backend."""
        from abusewatch.model.artifact import load_artifact

        return cls.from_artifact(load_artifact(settings.model_dir), settings, registry)

    @classmethod
    def from_artifact(
        cls, artifact: Any, settings: EngineSettings, registry: CollectorRegistry | None = None
    ) -> InferenceEngine:
        """An engine over an already loaded `ModelArtifact` (benchmarks build several from one)."""
        from abusewatch.inference.backends import select_backend

        tokenizer = PostTokenizer(artifact.tokenizer, artifact.max_length)
        backend = select_backend(settings, artifact.network, tokenizer.pad_token_id)
        first_pass = LexicalFirstPass(settings.cascade_threshold) if settings.cascade else None
        return cls(
            settings=settings,
            backend=backend,
            tokenizer=tokenizer,
            labels=artifact.labels,
            calibrate=artifact.calibration.probabilities,
            model_info={"name": artifact.name, "version": artifact.version},
            first_pass=first_pass,
            registry=registry,
        )

    @property
    def model_info(self) -> dict[str, str]:
        return dict(self._model_info)

    @property
    def device(self) -> str:
        return self._backend.device

    @property
    def dtype(self) -> str:
        return self._backend.dtype

    @property
    def ready(self) -> bool:
        """Started, and the model answered its health check and its latest batch."""
        return self._started and self._healthy

    async def start(self) -> None:
        """Start the stages on the running loop after a health check (which also warms the model)."""
        if self._started:
            return
        loop = asyncio.get_running_loop()
        self._queue = RequestQueue(self._settings.queue_size)
        # One batch buffered between batcher and model: the next batch is ready when one finishes.
        self._ready_batches: asyncio.Queue = asyncio.Queue(maxsize=1)
        self._prepare_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="abusewatch-prepare")
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="abusewatch-model")
        self._healthy = await loop.run_in_executor(self._model_thread, self._backend.health)
        if not self._healthy:
            self._shutdown_threads()
            raise RuntimeError(f"model health check failed on {self._backend.device}")
        self._batcher_task = asyncio.create_task(self._run_batcher(), name="abusewatch-batcher")
        self._model_task = asyncio.create_task(self._run_model(), name="abusewatch-model")
        self._started = True
        self._metrics.device.info({"device": self.device, "dtype": self.dtype, "cascade": str(self._first_pass is not None)})
        log.info(
            "inference engine ready: model %s %s on %s (%s), cascade %s, max_batch_tokens %d, max_wait_ms %g",
            self._model_info.get("name"),
            self._model_info.get("version"),
            self.device,
            self.dtype,
            f"on (threshold {self._first_pass.threshold})" if self._first_pass else "off",
            self._settings.max_batch_tokens,
            self._settings.max_wait_ms,
        )

    async def stop(self) -> None:
        """Answer every admitted post, then stop the stages."""
        if not self._started:
            return
        self._started = False
        self._queue.close()
        await self._batcher_task
        await self._model_task
        self._shutdown_threads()

    async def score(self, texts: Sequence[str], *, wait: bool = True) -> list[dict[str, float]]:
        """Calibrated probability per label for each text, in the order given.

        When the queue is full this waits for room, or raises `Overloaded` with `wait=False`
        (all of the call's posts are admitted or none).
        """
        if not self._started:
            raise RuntimeError("the inference engine is not started (await engine.start())")
        texts = list(texts)
        if not texts:
            return []
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(self._prepare_thread, self._prepare_posts, texts)
        if not wait:
            self._queue.try_acquire_slots(len(prepared.token_ids))
        futures = []
        for token_ids in prepared.token_ids:
            if wait:
                await self._queue.acquire_slot()
            future = loop.create_future()
            self._queue.put(QueuedPost(token_ids, future))
            futures.append(future)
        self._metrics.queue_depth.set(self._queue.depth)
        transformer_probabilities = await asyncio.gather(*futures)
        return self._assemble(len(texts), prepared, transformer_probabilities)

    def score_blocking(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """`score` for offline use (eval, replay, bench): same stages, on a private event loop."""

        async def start_score_stop() -> list[dict[str, float]]:
            await self.start()
            try:
                return await self.score(texts)
            finally:
                await self.stop()

        return asyncio.run(start_score_stop())

    def _prepare_posts(self, texts: list[str]) -> PreparedPosts:
        if self._first_pass is None:
            return PreparedPosts(self._tokenizer.encode(texts), list(range(len(texts))), None)
        first_pass = self._first_pass.probabilities(texts)
        rows = np.flatnonzero(self._first_pass.needs_transformer(first_pass)).tolist()
        token_ids = self._tokenizer.encode([texts[row] for row in rows]) if rows else []
        return PreparedPosts(token_ids, rows, first_pass)

    def _assemble(
        self, count: int, prepared: PreparedPosts, transformer_probabilities: Sequence[np.ndarray]
    ) -> list[dict[str, float]]:
        results: list[dict[str, float] | None] = [None] * count
        for row, probabilities in zip(prepared.transformer_rows, transformer_probabilities):
            results[row] = dict(zip(self._labels, probabilities.tolist()))
        if prepared.first_pass is not None:
            skipped = count - len(prepared.transformer_rows)
            if skipped:
                self._metrics.posts_scored.labels(path="cascade").inc(skipped)
            for row, result in enumerate(results):
                if result is None:
                    results[row] = dict.fromkeys(self._labels, float(prepared.first_pass[row]))
        return results  # type: ignore[return-value]

    async def _run_batcher(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self._settings
        while window := await self._queue.next_window(
            max_posts=settings.sort_window,
            fill_tokens=settings.max_batch_tokens,
            fill_posts=settings.max_batch_posts,
            max_wait_s=settings.max_wait_ms / 1000,
        ):
            self._metrics.queue_depth.set(self._queue.depth)
            for rows in plan_batches([post.length for post in window], settings.max_batch_tokens, settings.max_batch_posts):
                posts = [window[row] for row in rows]
                try:
                    prepared = await loop.run_in_executor(self._prepare_thread, self._prepare_batch, posts)
                except Exception as exc:
                    log.exception("preparing a batch of %d posts failed", len(posts))
                    self._fail(posts, exc)
                    continue
                await self._ready_batches.put((posts, prepared))
        await self._ready_batches.put(None)

    def _prepare_batch(self, posts: list[QueuedPost]) -> Any:
        lengths = [post.length for post in posts]
        self._metrics.batch_size.observe(len(posts))
        self._metrics.padding_efficiency.observe(padding_efficiency(lengths))
        return self._backend.prepare(collate([post.token_ids for post in posts], self._tokenizer.pad_token_id))

    async def _run_model(self) -> None:
        loop = asyncio.get_running_loop()
        while (item := await self._ready_batches.get()) is not None:
            posts, prepared = item
            started = time.monotonic()
            for post in posts:
                self._metrics.queue_wait.observe(started - post.enqueued_at)
            try:
                probabilities = await loop.run_in_executor(self._model_thread, self._predict_probabilities, prepared)
            except Exception as exc:
                log.exception("model failed on a batch of %d posts", len(posts))
                self._healthy = False
                self._fail(posts, exc)
                continue
            self._healthy = True
            self._metrics.model_time.observe(time.monotonic() - started)
            self._metrics.posts_scored.labels(path="transformer").inc(len(posts))
            for post, row in zip(posts, probabilities):
                if not post.future.done():
                    post.future.set_result(row)
            self._queue.release_slots(len(posts))

    def _predict_probabilities(self, prepared: Any) -> np.ndarray:
        return self._calibrate(self._backend.predict(prepared))

    def _fail(self, posts: list[QueuedPost], exc: Exception) -> None:
        for post in posts:
            if not post.future.done():
                post.future.set_exception(exc)
        self._queue.release_slots(len(posts))

    def _shutdown_threads(self) -> None:
        self._prepare_thread.shutdown(wait=False)
        self._model_thread.shutdown(wait=False)
