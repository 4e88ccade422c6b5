"""The classify step: raw posts -> validated -> scored in batches -> post-scores or dead letters.

Kafka-free: the classifier service hands it messages taken off the stream and sends what it
returns. Every input produces exactly one output (a score or a dead letter), which is what makes
`posts in = scores out + dead-lettered` hold.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from abusewatch.contract import Post, Rejection, dead_letter, format_time, utcnow, validate_post
from abusewatch.doxxing import detect_personal_data
from abusewatch.settings import IngestSettings

ScoreTexts = Callable[[Sequence[str]], Awaitable[list[dict[str, float]]]]


@dataclasses.dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message as taken off the posts topic."""

    key: bytes | None
    value: bytes | None
    partition: int
    offset: int
    received_at: float = dataclasses.field(default_factory=time.perf_counter)


@dataclasses.dataclass
class ClassifiedBatch:
    """Outputs for one batch: (key, message) pairs for post-scores and for posts-dlq."""

    scores: list[tuple[bytes, dict[str, Any]]] = dataclasses.field(default_factory=list)
    dead_letters: list[tuple[bytes | None, dict[str, Any]]] = dataclasses.field(default_factory=list)


class RecentPostIds:
    """The last `capacity` post ids seen by this worker, to dead-letter duplicates.

    Bounded, and per worker by design: posts are keyed by post_id, so duplicates land on the same
    partition. After a restart or rebalance it starts empty and redelivered posts are scored again;
    consumers deduplicate post-scores by post_id (at-least-once).
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen_before(self, post_id: str) -> bool:
        """True if post_id was seen already; records it otherwise."""
        if post_id in self._ids:
            self._ids.move_to_end(post_id)
            return True
        self._ids[post_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return False


class PostClassifier:
    def __init__(
        self,
        score_texts: ScoreTexts,
        model_info: dict[str, str],
        ingest: IngestSettings,
        source_topic: str,
        service: str = "classifier",
    ) -> None:
        self._score_texts = score_texts
        self._model_info = dict(model_info)
        self._ingest = ingest
        self._source_topic = source_topic
        self._service = service
        self._recent = RecentPostIds(ingest.dedup_window)

    def _validate(self, message: IncomingMessage) -> Post | Rejection:
        outcome = validate_post(
            message.value,
            max_text_chars=self._ingest.max_text_chars,
            max_message_bytes=self._ingest.max_message_bytes,
        )
        if isinstance(outcome, Post) and self._recent.seen_before(outcome.post_id):
            return Rejection("duplicate_post_id", f"post_id {outcome.post_id!r} was already scored", outcome.post_id)
        return outcome

    async def classify(self, messages: Sequence[IncomingMessage]) -> ClassifiedBatch:
        batch = ClassifiedBatch()
        valid: list[tuple[IncomingMessage, Post]] = []
        for message in messages:
            outcome = self._validate(message)
            if isinstance(outcome, Rejection):
                batch.dead_letters.append((message.key, self._dead_letter(outcome, message)))
            else:
                valid.append((message, outcome))
        if not valid:
            return batch
        probabilities = await self._score_texts([post.text for _, post in valid])
        scored_at = format_time(utcnow())
        now = time.perf_counter()
        for (message, post), scores in zip(valid, probabilities, strict=True):
            batch.scores.append(
                (post.post_id.encode(), self._post_scores(post, scores, scored_at, (now - message.received_at) * 1e3))
            )
        return batch

    def _post_scores(
        self, post: Post, scores: dict[str, float], scored_at: str, latency_ms: float
    ) -> dict[str, Any]:
        personal_data = detect_personal_data(post.text)
        # Personal data alone is not doxxing (people share their own contact details); it is when the
        # post is aimed at someone.
        doxxing = personal_data.detected and bool(post.targets)
        return {
            "schema": "post-scores/v1",
            "post_id": post.post_id,
            "author_id": post.author_id,
            "targets": list(post.targets),
            "scores": {label: round(float(value), 6) for label, value in scores.items()},
            "doxxing": {"detected": doxxing, "kinds": list(personal_data.kinds) if doxxing else []},
            "model": self._model_info,
            "post": post.raw,
            "scored_at": scored_at,
            "latency_ms": round(latency_ms, 3),
        }

    def _dead_letter(self, rejection: Rejection, message: IncomingMessage) -> dict[str, Any]:
        return dead_letter(
            rejection,
            message.value,
            topic=self._source_topic,
            partition=message.partition,
            offset=message.offset,
            service=self._service,
        )
