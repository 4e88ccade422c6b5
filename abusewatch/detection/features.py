"""What the detector reads from one post-scores/v1 message, extracted once per post."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from abusewatch.labels import LABELS

_DAY_S = 86_400.0


def epoch_seconds(value: str) -> float:
    # Python 3.11's fromisoformat reads the Z suffix; contract.parse_time adds a check for naive
    # times, which the schema already rules out for post-scores.
    return datetime.fromisoformat(value).timestamp()


@dataclasses.dataclass(frozen=True, slots=True)
class ScoredPost:
    post_id: str
    author_id: str
    targets: tuple[str, ...]
    ts: float  # event time (post created_at), epoch seconds
    abusive: bool
    scores: tuple[float, ...]  # LABELS order
    new_account: bool
    follows_first_target: bool | None  # posts/v1 author_follows_target refers to the replied-to user
    text: str
    model: dict[str, str] | None


def extract(message: dict[str, Any], thresholds: dict[str, float], new_account_days: float) -> ScoredPost:
    post = message["post"]
    label_scores = message["scores"]
    ts = epoch_seconds(post["created_at"])
    author_created = post.get("author_created_at")
    new_account = bool(author_created) and ts - epoch_seconds(author_created) < new_account_days * _DAY_S
    return ScoredPost(
        post_id=message["post_id"],
        author_id=message["author_id"],
        targets=tuple(message["targets"]),
        ts=ts,
        abusive=any(label_scores.get(label, 0.0) >= threshold for label, threshold in thresholds.items()),
        scores=tuple(float(label_scores.get(label, 0.0)) for label in LABELS),
        new_account=new_account,
        follows_first_target=post.get("author_follows_target"),
        text=post["text"],
        model=message.get("model"),
    )
