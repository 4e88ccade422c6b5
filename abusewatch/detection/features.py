"""What the detector reads from one post-scores/v1 message, extracted once per post."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from abusewatch.ingest.contract import parse_time
from abusewatch.scoring.labels import LABELS

_DAY_S = 86_400.0


def epoch_seconds(value: str) -> float:
    # The contract's parser, which validation used: it also reads a lowercase "z" suffix, which
    # Python 3.11's fromisoformat refuses (a post the classifier accepted must not fail here).
    return parse_time(value).timestamp()


class ScoredPost(NamedTuple):
    # A NamedTuple rather than a frozen dataclass: built for every post on the hot path, and a
    # frozen dataclass's __init__ costs several times more.
    post_id: str
    author_id: str
    targets: list[str]
    ts: float  # event time (post created_at), epoch seconds
    abusive: bool
    label_scores: dict[str, float]
    author_created_at: str | None
    follows_first_target: bool | None  # posts/v1 author_follows_target refers to the replied-to user
    text: str
    model: dict[str, str] | None
    # False when the model does not read the post's language (post-scores `language.supported`):
    # its scores are unknown, so it counts as neither abusive nor benign.
    scored: bool = True
    # The (bank, bank_hash) entries the post's media matched, flooding matches left out; () for
    # the posts without media, which are nearly all.
    media: tuple[tuple[str, str], ...] = ()
    # Abusive only because it is hostile (the hostility rule layer found it dismissive or menacing, or
    # its scores are in the optional band below the abusive thresholds) and its author is a new
    # account not following the (first) target: crowd evidence, not abuse in itself.
    hostile_reply: bool = False

    def new_account(self, new_account_s: float) -> bool:
        """Whether the author was younger than new_account_s at posting time (parsed only for
        abusive posts: the benign majority never needs it)."""
        return younger_than(self.author_created_at, self.ts, new_account_s)

    def scores(self) -> tuple[float, ...]:
        """Scores in LABELS order (kept with evidence; computed for abusive posts only)."""
        return tuple(float(self.label_scores.get(label, 0.0)) for label in LABELS)


def younger_than(author_created_at: str | None, ts: float, age_s: float) -> bool:
    """Whether an author created at author_created_at (None: unknown) was younger than age_s at ts."""
    return bool(author_created_at) and ts - epoch_seconds(author_created_at) < age_s


def is_abusive(label_scores: dict[str, float], thresholds: Iterable[tuple[str, float]]) -> bool:
    """The detector's definition of an abusive post: any label's score at or above its threshold.
    `abusewatch eval` applies the same function to report the detector's operating point."""
    for label, threshold in thresholds:
        if label_scores.get(label, 0.0) >= threshold:
            return True
    return False


def known_media(message: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The hash-bank entries, as (bank, bank_hash), that the post's media matched, each once (a
    flooding entry's match does not count: it waits for review). A post with any is abusive: a
    known abusive image aimed at someone is abusive whatever its text says, so a crowd spreading a
    victim's image counts towards a pile-on like a crowd of insults, and many authors sending the
    same entry is a campaign of its own (the detector's shared media)."""
    media_matches = message.get("media_matches")  # optional: only posts with media carry it
    if not media_matches or not media_matches["matches"]:
        return ()
    return tuple(dict.fromkeys((m["bank"], m["bank_hash"]) for m in media_matches["matches"] if not m["flooding"]))


def rule_layer_found(message: dict[str, Any]) -> bool:
    """Whether the threat or extortion rule layer found something in the post (reported only for
    posts aimed at someone). These are the menace the model scores low ("I know where you live"): a
    crowd of them is a pile-on whatever the scores say. Doxxing is not counted: personal data in a
    reply is as often people giving their own contact details to a support account. Older messages
    lack the optional fields and count as nothing found."""
    return any((message.get(layer) or {}).get("detected", False) for layer in ("threats", "extortion"))


def hostile_reply(message: dict[str, Any], ts: float, new_account_s: float,
                  band: tuple[tuple[str, float], ...] = ()) -> bool:
    """Whether the reply is hostile (the hostility rule layer found it dismissive, mocking or
    menacing, or its scores reach one of the `band` thresholds, below the abusive ones) and its
    author was a new account (younger than new_account_s) that does not follow the replied-to user
    (a post that replies to nobody has no such user: its mentions are not described).
    From anyone else such a reply is ordinary rudeness or banter and counts as nothing; from a crowd
    of strangers days old it is what most of a pile-on looks like. Older messages lack the field."""
    post = message["post"]
    if post.get("author_follows_target") is not False or not post.get("reply_to_user_id"):
        return False
    if not (message.get("hostility") or {}).get("detected", False) and not (band and is_abusive(message["scores"], band)):
        return False
    return younger_than(post.get("author_created_at"), ts, new_account_s)


def extract(message: dict[str, Any], thresholds: tuple[tuple[str, float], ...],
            hostile_reply_age_s: float | None = None, hostile_band: tuple[tuple[str, float], ...] = (),
            ts: float | None = None) -> ScoredPost:
    """The post as the detector reads it. hostile_reply_age_s: count hostile replies from accounts
    younger than this that do not follow the target as abusive (`hostile_reply`); None: do not.
    hostile_band: the score thresholds below the abusive ones at which a reply counts as hostile too
    (only when the model reads the post's language). ts: post.created_at as epoch seconds, when the
    caller has parsed it already (None: parsed here)."""
    post = message["post"]
    label_scores = message["scores"]
    language = message.get("language")  # optional: messages written before it are supported
    scored = language is None or language["supported"]
    media = known_media(message)
    if ts is None:
        ts = epoch_seconds(post["created_at"])
    abusive = (scored and is_abusive(label_scores, thresholds)) or bool(media) or rule_layer_found(message)
    hostile = (not abusive and hostile_reply_age_s is not None
               and hostile_reply(message, ts, hostile_reply_age_s, hostile_band if scored else ()))
    return ScoredPost(
        message["post_id"],
        message["author_id"],
        message["targets"],
        ts,
        abusive or hostile,
        label_scores,
        post.get("author_created_at"),
        post.get("author_follows_target"),
        post["text"],
        message.get("model"),
        scored,
        media,
        hostile,
    )


def fan_out(message: dict[str, Any], max_targets: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """One post-scores message per target (the first max_targets), for re-keying a stream by
    target. Each copy names only its target; author_follows_target is kept only for the first
    target (the replied-to user), which is the one it describes."""
    targets = message["targets"][:max_targets]
    if len(message["targets"]) == 1:
        return [(targets[0], message)]
    copies = []
    for position, target in enumerate(targets):
        copy = {**message, "targets": [target]}
        if position:
            copy["post"] = {**message["post"], "author_follows_target": None}
        copies.append((target, copy))
    return copies
