"""The classify step: raw posts -> validated -> scored in batches -> post-scores or dead letters.

Kafka-free: the classifier service hands it messages taken off the stream and sends what it
returns. Every input produces exactly one output (a score or a dead letter), which is what makes
`posts in = scores out + dead-lettered` hold.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from abusewatch.ingest.contract import Post, Rejection, format_time, utcnow, validate_post
from abusewatch.ingest.messages import PostScores
from abusewatch.scoring.doxxing import detect_personal_data
from abusewatch.scoring.extortion import detect_extortion
from abusewatch.scoring.hostility import detect_hostility
from abusewatch.scoring.language import LanguageIdentifier
from abusewatch.scoring.media.banks import HashBanks, MediaCheck
from abusewatch.scoring.threats import detect_threat
from abusewatch.common.settings import IngestSettings

log = logging.getLogger(__name__)

ScoreTexts = Callable[[Sequence[str]], Awaitable[list[dict[str, float]]]]
CANARY_TEXT = "hello, how are you today?"  # any ordinary post: it tells a broken scorer from a poison post


def _processing_error(exc: BaseException, post_id: str) -> Rejection:
    return Rejection("processing_error", f"{type(exc).__name__}: {exc}", post_id)


@dataclasses.dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message as taken off the posts topic."""

    key: bytes | None
    value: bytes | None
    partition: int
    offset: int
    received_at: float = dataclasses.field(default_factory=time.perf_counter)
    traceparent: bytes | None = None  # the trace the post continues (abusewatch.common.tracing), if any


@dataclasses.dataclass
class ClassifiedBatch:
    """Outputs for one batch: (key, message) pairs for post-scores, and the rejected inputs with
    why (the service dead-letters them to posts-dlq). `origins` is parallel to `scores`: the input
    each score came from (tracing continues its trace)."""

    scores: list[tuple[bytes, dict[str, Any]]] = dataclasses.field(default_factory=list)
    origins: list[IncomingMessage] = dataclasses.field(default_factory=list)
    dead_letters: list[tuple[IncomingMessage, Rejection]] = dataclasses.field(default_factory=list)
    targets_dropped: int = 0  # targets beyond ABUSEWATCH_MAX_TARGETS_PER_POST, over the batch


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
        banks: HashBanks | None = None,
        *,
        language: LanguageIdentifier,
    ) -> None:
        self._score_texts = score_texts
        self._language = language
        self._banks = banks
        self._model_info = dict(model_info)
        self._ingest = ingest
        self._recent = RecentPostIds(ingest.dedup_window)

    def _validate(self, message: IncomingMessage) -> Post | Rejection:
        outcome = validate_post(
            message.value,
            max_text_chars=self._ingest.max_text_chars,
            max_message_bytes=self._ingest.max_message_bytes,
            max_targets=self._ingest.max_targets,
            max_ahead_s=self._ingest.max_ahead_s,
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
                batch.dead_letters.append((message, outcome))
            else:
                valid.append((message, outcome))
                batch.targets_dropped += outcome.targets_dropped
        if not valid:
            return batch
        probabilities = await self._score_isolating([post.text for _, post in valid])
        media_checks = self._check_media_isolating([post for _, post in valid])
        scored_at = format_time(utcnow())
        now = time.perf_counter()
        for (message, post), scores, media in zip(valid, probabilities, media_checks, strict=True):
            if isinstance(scores, BaseException) or isinstance(media, BaseException):
                failure = scores if isinstance(scores, BaseException) else media
                batch.dead_letters.append((message, _processing_error(failure, post.post_id)))
                continue
            try:
                scored = self._post_scores(post, scores, scored_at, (now - message.received_at) * 1e3, media)
            except Exception as exc:  # noqa: BLE001 - one post's fault must not stop the stream
                log.exception("building post-scores failed for post %r", post.post_id)
                batch.dead_letters.append((message, _processing_error(exc, post.post_id)))
                continue
            batch.scores.append((post.post_id.encode(), scored))
            batch.origins.append(message)
        return batch

    async def _score_isolating(self, texts: list[str]) -> list[dict[str, float] | BaseException]:
        """Score a batch; if it fails, score each text alone so that one poison post fails alone.
        When every text fails and a canary text fails too, the scorer itself is broken: that error
        is raised (the service restarts) rather than dead-lettering a whole batch of good posts."""
        try:
            return list(await self._score_texts(texts))
        except Exception as batch_error:  # noqa: BLE001 - sorted out below
            log.warning("scoring a batch of %d failed (%r); scoring its posts one by one", len(texts), batch_error)
            outcomes: list[dict[str, float] | BaseException] = []
            for text in texts:
                try:
                    outcomes.append((await self._score_texts([text]))[0])
                except Exception as exc:  # noqa: BLE001
                    outcomes.append(exc)
            if all(isinstance(outcome, BaseException) for outcome in outcomes):
                await self._score_texts([CANARY_TEXT])  # raises if the scorer is broken
            return outcomes

    def _check_media_isolating(self, posts: list[Post]) -> list[MediaCheck | None | BaseException]:
        """Match the batch's media against the hash banks in one search; if that fails, post by
        post, so that one post's fault fails that post alone."""
        if self._banks is None:
            return [None] * len(posts)
        media = [(post.raw.get("media") or [], post.created_at.timestamp()) for post in posts]
        try:
            return list(self._banks.check(media))
        except Exception as batch_error:  # noqa: BLE001 - sorted out below
            log.warning("matching the media of a batch of %d failed (%r); post by post", len(posts), batch_error)
            outcomes: list[MediaCheck | None | BaseException] = []
            for one in media:
                try:
                    outcomes.append(self._banks.check([one])[0])
                except Exception as exc:  # noqa: BLE001
                    outcomes.append(exc)
            return outcomes

    def _post_scores(
        self, post: Post, scores: dict[str, float], scored_at: str, latency_ms: float,
        media: MediaCheck | None = None,
    ) -> dict[str, Any]:
        return post_scores_message(
            post.raw, post.targets, scores, self._model_info, scored_at=scored_at, latency_ms=latency_ms,
            rules=rule_findings(post.text, post.targets), media_matches=media.to_field() if media is not None else None,
            language=self._language.identify(post.text, post.raw.get("lang")).to_field(),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class RuleFindings:
    """What the text rule layers found in one post: the kinds each found, None when it found nothing."""

    doxxing_kinds: tuple[str, ...] | None = None
    threat_kinds: tuple[str, ...] | None = None
    extortion_kinds: tuple[str, ...] | None = None
    hostility_kinds: tuple[str, ...] | None = None


def rule_findings(text: str, targets: Sequence[str]) -> RuleFindings:
    """The rule layers beside the model, for the classifier, replay and the simulator alike. Each
    reports only for a post aimed at someone (a reply-to or a mention): personal data in a post aimed
    at nobody is people sharing their own contact details, and a threat, a demand or a dismissive
    reply needs someone to receive it."""
    if not targets:
        return RuleFindings()
    personal_data = detect_personal_data(text)
    threat = detect_threat(text)
    extortion = detect_extortion(text)
    hostility = detect_hostility(text)
    return RuleFindings(
        doxxing_kinds=personal_data.kinds if personal_data.detected else None,
        threat_kinds=threat.kinds if threat.detected else None,
        extortion_kinds=extortion.kinds if extortion.detected else None,
        hostility_kinds=hostility.kinds if hostility.detected else None,
    )


def post_scores_message(
    post: dict[str, Any],
    targets: Sequence[str],
    scores: dict[str, float],
    model: dict[str, str],
    *,
    scored_at: str,
    latency_ms: float,
    rules: RuleFindings | None = None,
    media_matches: dict[str, Any] | None = None,
    language: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The post-scores/v1 message for a validated post (`post` as received, `targets` as the
    contract derives them): the one builder, for the classifier, the simulator and replay.
    `rules`: what the rule layers found (`rule_findings`); None when no rule layer ran (the
    label-proxy simulator), which leaves the optional threats, extortion and hostility fields out rather than claiming
    nothing was found. `media_matches`: what the hash banks found for a post with media
    (`MediaCheck.to_field`), None for one without. `language`: the post's language
    (`PostLanguage.to_field`); None (the simulator, which writes English, and `replay --scorer
    model`) leaves the optional field out, which readers take as supported."""
    found = rules or RuleFindings()

    def layer(kinds: Sequence[str] | None) -> dict[str, Any] | None:
        return {"detected": kinds is not None, "kinds": list(kinds or ())} if rules is not None else None

    return PostScores(
        post_id=post["post_id"],
        author_id=post["author_id"],
        targets=list(targets),
        scores={label: round(float(value), 6) for label, value in scores.items()},
        doxxing={"detected": found.doxxing_kinds is not None, "kinds": list(found.doxxing_kinds or ())},
        threats=layer(found.threat_kinds),
        extortion=layer(found.extortion_kinds),
        hostility=layer(found.hostility_kinds),
        media_matches=media_matches,
        language=language,
        model=model,
        post=post,
        scored_at=scored_at,
        latency_ms=round(latency_ms, 3),
    ).to_message()
