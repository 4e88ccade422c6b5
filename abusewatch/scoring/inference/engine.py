"""The inference engine: queue -> batcher -> backend, as three visible stages (after TEI's `Infer`).

    score(texts)    caller coroutine: one queue slot per post (waits for room when the queue is
                    full, or raises Overloaded with wait=False), then awaits the posts' futures
    batcher task    takes a window of queued posts once max_batch_posts are queued or the oldest
                    has waited max_wait_ms; on the prepare thread it runs the cascade's first pass
                    over the window (skipped posts are answered at once), tokenizes the rest, sorts
                    them by length and cuts batches under max_batch_tokens; each batch is padded
                    (on CUDA also copied to the GPU) and handed on through a one-batch buffer
    model task      runs each batch on the model thread (backend.predict + calibration) and
                    resolves the callers' futures

The event loop never runs the model, the tokenizer or the first pass, and the next window is
tokenized and the next batch prepared while the current batch is on the model.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from abusewatch.scoring.inference.backends.base import Backend
from abusewatch.scoring.inference.batching import collate, padding_efficiency, token_batches
from abusewatch.scoring.inference.cascade import FirstPass
from abusewatch.scoring.inference.metrics import EngineMetrics
from abusewatch.scoring.inference.queue import NotStarted, QueuedPost, RequestQueue
from abusewatch.scoring.inference.settings import EngineSettings
from abusewatch.scoring.inference.tokenization import PostTokenizer
from abusewatch.scoring.model.artifact import LANGUAGES_BEFORE_THE_FIELD

log = logging.getLogger(__name__)

Scores = dict[str, float]


@dataclass
class WindowPlan:
    """A window after the first pass and tokenization: answered posts, and batches for the model."""

    answered: list[tuple[QueuedPost, Scores]] = field(default_factory=list)
    batches: list[tuple[list[QueuedPost], list[list[int]]]] = field(default_factory=list)


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
        first_pass: FirstPass | None = None,
        registry: CollectorRegistry | None = None,
        languages: Sequence[str] = LANGUAGES_BEFORE_THE_FIELD,
    ) -> None:
        self._settings = settings
        self._backend = backend
        self._tokenizer = tokenizer
        self._labels = tuple(labels)
        self._calibrate = calibrate
        self._model_info = dict(model_info)
        self._languages = tuple(languages)
        self._first_pass = first_pass
        self._metrics = EngineMetrics(registry)
        self._started = False
        self._healthy = False

    @classmethod
    def from_settings(cls, settings: EngineSettings, registry: CollectorRegistry | None = None) -> InferenceEngine:
        """Load the model artifact from `settings.model_dir` and pick the backend."""
        from abusewatch.scoring.model.artifact import load_artifact

        return cls.from_artifact(load_artifact(settings.model_dir), settings, registry)

    @classmethod
    def from_artifact(
        cls, artifact: Any, settings: EngineSettings, registry: CollectorRegistry | None = None
    ) -> InferenceEngine:
        """An engine over an already loaded `ModelArtifact` (benchmarks build several from one)."""
        from abusewatch.scoring.inference.backends import select_backend

        tokenizer = PostTokenizer(artifact.tokenizer, artifact.max_length)
        backend = select_backend(settings, artifact.network, tokenizer.pad_token_id)
        first_pass = FirstPass(settings.cascade_dir) if settings.cascade else None
        if first_pass is not None:
            if set(first_pass.labels) != set(artifact.labels):
                raise ValueError(f"cascade first pass labels {first_pass.labels} differ from the model's {artifact.labels}")
            if first_pass.teacher and first_pass.teacher.get("version") != artifact.version:
                log.warning(
                    "cascade first pass was distilled from %s %s, the model is %s %s: its skip thresholds "
                    "were tuned for another model (re-run `abusewatch train-first-pass`)",
                    first_pass.teacher.get("name"), first_pass.teacher.get("version"), artifact.name, artifact.version,
                )
            for label, threshold in first_pass.skip_below.items():
                if threshold > artifact.thresholds.get(label, 1.0):
                    log.warning(
                        "cascade skip threshold %g for %s is above the model's threshold %g: posts that skip "
                        "the transformer can be flagged on their first-pass score alone",
                        threshold, label, artifact.thresholds[label],
                    )
        return cls(
            settings=settings,
            backend=backend,
            tokenizer=tokenizer,
            labels=artifact.labels,
            calibrate=artifact.calibration.probabilities,
            model_info={"name": artifact.name, "version": artifact.version},
            first_pass=first_pass,
            registry=registry,
            languages=artifact.languages,
        )

    @property
    def model_info(self) -> dict[str, str]:
        return dict(self._model_info)

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the model reads (its artifact's `languages`), its main one first."""
        return self._languages

    @property
    def device(self) -> str:
        return self._backend.device

    @property
    def dtype(self) -> str:
        return self._backend.dtype

    @property
    def runtime(self) -> str:
        return self._backend.runtime

    @property
    def cascade(self) -> FirstPass | None:
        """The cascade's first pass, when the cascade is on."""
        return self._first_pass

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
        self._metrics.queue_capacity.set(self._settings.queue_size)
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
        self._metrics.device.info({"device": self.device, "dtype": self.dtype, "runtime": self.runtime,
                                   "cascade": str(self._first_pass is not None)})
        log.info(
            "inference engine ready: model %s %s on %s (%s, %s), cascade %s, max_batch_tokens %d, max_wait_ms %g",
            self._model_info.get("name"),
            self._model_info.get("version"),
            self.device,
            self.dtype,
            self.runtime,
            f"on ({self._first_pass.info['name']} {self._first_pass.info['version']})" if self._first_pass else "off",
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

    async def score(self, texts: Sequence[str], *, wait: bool = True) -> list[Scores]:
        """Calibrated probability per label for each text, in the order given.

        When the queue is full this waits for room, or raises `Overloaded` with `wait=False`
        (all of the call's posts are admitted or none).
        """
        if not self._started:
            raise NotStarted("the inference engine is not started (await engine.start())")
        texts = list(texts)
        if not wait:
            self._queue.try_acquire_slots(len(texts))
        loop = asyncio.get_running_loop()
        futures = []
        for text in texts:
            if wait:
                await self._queue.acquire_slot()
            future = loop.create_future()
            self._queue.put(QueuedPost(text, future))
            futures.append(future)
        self._metrics.queue_depth.set(self._queue.depth)
        return list(await asyncio.gather(*futures))

    def score_blocking(self, texts: Sequence[str]) -> list[Scores]:
        """`score` for offline use (eval, replay, bench): same stages, on a private event loop.

        Starts and stops the engine around the call, so it cannot be used from inside a running
        event loop or while the engine is started; async code awaits `score` instead.
        """

        async def start_score_stop() -> list[Scores]:
            await self.start()
            try:
                return await self.score(texts)
            finally:
                await self.stop()

        return asyncio.run(start_score_stop())

    async def _run_batcher(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self._settings
        # Cut the next window only once the model has taken the batch before it: one batch is
        # prepared ahead, and under load the window grows while the model works, instead of
        # small batches being cut early and queued behind it.
        while True:
            await self._ready_batches.join()
            window = await self._queue.next_window(
                max_posts=settings.sort_window, fill_posts=settings.max_batch_posts, max_wait_s=settings.max_wait_ms / 1000
            )
            if not window:
                break
            self._metrics.queue_depth.set(self._queue.depth)
            try:
                plan = await loop.run_in_executor(self._prepare_thread, self._plan_window, window)
            except Exception as exc:
                log.exception("tokenizing a window of %d posts failed", len(window))
                self._fail(window, exc)
                continue
            for post, scores in plan.answered:
                if not post.future.done():
                    post.future.set_result(scores)
            if plan.answered:
                self._metrics.posts_scored.labels(path="cascade").inc(len(plan.answered))
                self._queue.release_slots(len(plan.answered))
            for posts, token_ids in plan.batches:
                try:
                    prepared = await loop.run_in_executor(self._prepare_thread, self._prepare_batch, token_ids)
                except Exception as exc:
                    log.exception("preparing a batch of %d posts failed", len(posts))
                    self._fail(posts, exc)
                    continue
                await self._ready_batches.put((posts, prepared))
        await self._ready_batches.put(None)

    def _plan_window(self, window: list[QueuedPost]) -> WindowPlan:
        plan = WindowPlan()
        to_model = window
        if self._first_pass is not None:
            decision = self._first_pass.decide([post.text for post in window])
            to_model = [post for post, needed in zip(window, decision.needs_transformer) if needed]
            for post, row, needed in zip(window, decision.probabilities.tolist(), decision.needs_transformer):
                if not needed:
                    scores = dict(zip(self._first_pass.labels, row))
                    plan.answered.append((post, {label: scores[label] for label in self._labels}))
        if to_model:
            for rows, token_ids in token_batches(self._tokenizer, [post.text for post in to_model], self._settings):
                plan.batches.append(([to_model[row] for row in rows], token_ids))
        return plan

    def _prepare_batch(self, token_ids: list[list[int]]) -> Any:
        self._metrics.batch_size.observe(len(token_ids))
        self._metrics.padding_efficiency.observe(padding_efficiency([len(ids) for ids in token_ids]))
        return self._backend.prepare(collate(token_ids, self._tokenizer.pad_token_id))

    async def _run_model(self) -> None:
        loop = asyncio.get_running_loop()
        while (item := await self._ready_batches.get()) is not None:
            self._ready_batches.task_done()
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
            for post, scores in zip(posts, probabilities):
                if not post.future.done():
                    post.future.set_result(scores)
            self._queue.release_slots(len(posts))

    def _predict_probabilities(self, prepared: Any) -> list[Scores]:
        probabilities = self._calibrate(self._backend.predict(prepared))
        return [dict(zip(self._labels, row)) for row in probabilities.tolist()]

    def _fail(self, posts: list[QueuedPost], exc: Exception) -> None:
        for post in posts:
            if not post.future.done():
                post.future.set_exception(exc)
        self._queue.release_slots(len(posts))

    def _shutdown_threads(self) -> None:
        self._prepare_thread.shutdown(wait=False)
        self._model_thread.shutdown(wait=False)
