"""What the detector reads from one post-scores/v1 message, extracted once per post."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from abusewatch.labels import LABELS

_DAY_S = 86_400.0


def epoch_seconds(value: str) -> float:
    # Python 3.11's fromisoformat reads the Z suffix; the schema rules out naive times.
    return datetime.fromisoformat(value).timestamp()


class ScoredPost(NamedTuple):
    # A NamedTuple rather than a frozen dataclass: built for every post on the hot path, and a
    # frozen dataclass's __init__ costs several times more.
    post_id: str
    author_id: str
    targets: list[str]
    ts: float  # event time (post created_at), epoch seconds
    abusive: bool
    label_scores: dict[str, float]
    new_account: bool
    follows_first_target: bool | None  # posts/v1 author_follows_target refers to the replied-to user
    text: str
    model: dict[str, str] | None

    def scores(self) -> tuple[float, ...]:
        """Scores in LABELS order (kept with evidence; computed for abusive posts only)."""
        return tuple(float(self.label_scores.get(label, 0.0)) for label in LABELS)


def extract(message: dict[str, Any], thresholds: tuple[tuple[str, float], ...], new_account_s: float) -> ScoredPost:
    post = message["post"]
    label_scores = message["scores"]
    ts = datetime.fromisoformat(post["created_at"]).timestamp()
    author_created = post.get("author_created_at")
    abusive = False
    for label, threshold in thresholds:
        if label_scores.get(label, 0.0) >= threshold:
            abusive = True
            break
    return ScoredPost(
        message["post_id"],
        message["author_id"],
        message["targets"],
        ts,
        abusive,
        label_scores,
        bool(author_created) and ts - datetime.fromisoformat(author_created).timestamp() < new_account_s,
        post.get("author_follows_target"),
        post["text"],
        message.get("model"),
    )


def fan_out(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """One post-scores message per target, for re-keying a stream by target. Each copy names only
    its target; author_follows_target is kept only for the first target (the replied-to user),
    which is the one it describes."""
    targets = message["targets"]
    if len(targets) == 1:
        return [(targets[0], message)]
    copies = []
    for position, target in enumerate(targets):
        copy = {**message, "targets": [target]}
        if position:
            copy["post"] = {**message["post"], "author_follows_target": None}
        copies.append((target, copy))
    return copies
