"""Per-target detector state: window counters, baseline, abusive-post evidence and the campaign.

One `TargetState` per target is all the detector keeps about that target, so it is what a Faust
table stores (`to_bytes` / `from_bytes`) and what the memory benchmark measures. Quiet targets, the
vast majority, hold a few floats and one or two counter buckets; evidence (one record per abusive
post) exists only while abusive posts are inside the longest window.
"""

from __future__ import annotations

import base64
from typing import NamedTuple

import orjson

# Window counters pack (total posts, abusive posts) into one int per bucket: one dict entry per
# bucket instead of two, which matters at a million targets.
PACK = 1 << 32


def unpack(value: int) -> tuple[int, int]:
    return divmod(value, PACK)


class Evidence(NamedTuple):
    """One abusive post aimed at the target."""

    ts: float  # event time, epoch seconds
    post_id: str
    author_id: str
    new_account: bool
    follows_target: bool | None  # None: unknown (posts/v1 says it only for the replied-to user)
    scores: tuple[float, ...]  # in abusewatch.scoring.labels.LABELS order
    cluster: str  # post_id of the first near-duplicate seen; its own post_id when none
    signature: bytes  # MinHash hash values (uint32), to rebuild the LSH index; b"" when not computed
    # (bank, bank_hash) of each hash-bank entry the post's media matched (not flooding), for shared
    # media; the shared empty tuple for the posts without, so they cost one slot.
    media: tuple[tuple[str, str], ...] = ()
    # Counted only as a hostile reply from a new non-follower (features.hostile_reply).
    hostile_reply: bool = False


class Campaign:
    """An open pile-on against the target: stable id, lifecycle status and what alerts reported."""

    __slots__ = (
        "campaign_id",
        "status",
        "opened_ts",
        "last_abusive_ts",
        "abusive_posts",
        "alerted_abusive_posts",
        "alert_seq",
        "authors",
        "linked_campaign_ids",
    )

    def __init__(
        self,
        campaign_id: str,
        status: str,
        opened_ts: float,
        last_abusive_ts: float,
        abusive_posts: int,
        alerted_abusive_posts: int = 0,
        alert_seq: int = 0,
        authors: dict[str, None] | None = None,
        linked_campaign_ids: list[str] | None = None,
    ) -> None:
        self.campaign_id = campaign_id
        self.status = status
        self.opened_ts = opened_ts
        self.last_abusive_ts = last_abusive_ts
        self.abusive_posts = abusive_posts
        self.alerted_abusive_posts = alerted_abusive_posts
        self.alert_seq = alert_seq
        self.authors = authors if authors is not None else {}
        self.linked_campaign_ids = linked_campaign_ids if linked_campaign_ids is not None else []

    def to_list(self) -> list:
        return [
            self.campaign_id,
            self.status,
            self.opened_ts,
            self.last_abusive_ts,
            self.abusive_posts,
            self.alerted_abusive_posts,
            self.alert_seq,
            list(self.authors),
            self.linked_campaign_ids,
        ]

    @classmethod
    def from_list(cls, items: list) -> Campaign:
        *head, authors, linked = items
        return cls(*head, authors=dict.fromkeys(authors), linked_campaign_ids=list(linked))


class TargetState:
    """Everything the detector remembers about one target."""

    __slots__ = (
        "newest_ts",
        "buckets",
        "folded_bucket",
        "base_weight",
        "base_mean",
        "base_mad",
        "base_total",
        "evidence",
        "campaign",
        "unscored",
    )

    def __init__(self, newest_ts: float, folded_bucket: int, base_weight: float) -> None:
        self.newest_ts = newest_ts  # newest event time seen for the target (its own watermark)
        self.buckets: dict[int, int] = {}  # bucket index -> total * PACK + abusive
        # Buckets up to folded_bucket are in the baseline or, for a new target, known empty (not seen
        # while the detector ran) and folded in as zeros once they leave the longest window.
        self.folded_bucket = folded_bucket
        # The EWMAs start at 0; base_weight (1 - (1 - alpha)^buckets) is how much history they hold,
        # to divide by (bias correction), starting from a prior of quiet buckets.
        self.base_weight = base_weight
        self.base_mean = 0.0  # EWMA of abusive posts per bucket
        self.base_mad = 0.0  # EWMA of absolute deviation from base_mean (robust spread)
        self.base_total = 0.0  # EWMA of all posts per bucket (reported as the target's usual rate)
        self.evidence: list[Evidence] | None = None
        self.campaign: Campaign | None = None
        # bucket index -> posts whose language the model does not read (kept out of `buckets`: their
        # scores are unknown); None until the target gets one, as most never do.
        self.unscored: dict[int, int] | None = None

    def to_bytes(self) -> bytes:
        evidence = media = hostile = None
        if self.evidence:
            evidence = [
                [e.ts, e.post_id, e.author_id, e.new_account, e.follows_target, e.scores, e.cluster,
                 base64.b64encode(e.signature).decode("ascii")]
                for e in self.evidence
            ]
            # Media entries go in a field of their own, by evidence position, not in the records: a
            # detector from before them reads records of exactly eight fields and ignores extra ones
            # at the end, so a rollback keeps working.
            media = [[position, e.media] for position, e in enumerate(self.evidence) if e.media] or None
            hostile = [position for position, e in enumerate(self.evidence) if e.hostile_reply] or None
        return orjson.dumps(
            [
                self.newest_ts,
                [[k, v] for k, v in self.buckets.items()],
                self.folded_bucket,
                self.base_weight,
                self.base_mean,
                self.base_mad,
                self.base_total,
                evidence,
                self.campaign.to_list() if self.campaign else None,
                [[k, v] for k, v in self.unscored.items()] if self.unscored else None,
                media,
                hostile,
            ]
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> TargetState:
        newest, buckets, folded, weight, mean, mad, total, evidence, campaign, *rest = orjson.loads(raw)
        state = cls(newest, folded, weight)
        state.buckets = {k: v for k, v in buckets}
        state.base_mean, state.base_mad, state.base_total = mean, mad, total
        if evidence:
            # Absent from state written before media entries were kept.
            media = {position: tuple((bank, bank_hash) for bank, bank_hash in entries)
                     for position, entries in (rest[1] if len(rest) > 1 and rest[1] else ())}
            hostile = frozenset(rest[2] or ()) if len(rest) > 2 else frozenset()  # absent before hostile replies
            state.evidence = [
                Evidence(ts, pid, aid, new, follows, tuple(scores), cluster, base64.b64decode(sig),
                         media.get(position, ()), position in hostile)
                for position, (ts, pid, aid, new, follows, scores, cluster, sig) in enumerate(evidence)
            ]
        if campaign:
            state.campaign = Campaign.from_list(campaign)
        if rest and rest[0]:  # absent from state written before unscored posts were counted
            state.unscored = {k: v for k, v in rest[0]}
        return state
