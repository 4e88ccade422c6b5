"""The pile-on detector: post-scores/v1 messages in, target-alerts/v1 messages out. No I/O.

Per target it keeps event-time window counters (all posts and abusive posts), an EWMA baseline of
abusive posts per bucket, and one evidence record per recent abusive post. A target's campaign
opens when, in some window, the abusive posts clear absolute floors (posts, capped per author, and
distinct authors; lower ones for a crowd coordinated beyond chance), stand out against the
target's own baseline (robust z-score) and make up a large share of everything the target received
(a lower share is enough when the crowd looks coordinated: new accounts, copy-paste, or authors of
other campaigns). The share test is what keeps
a pop star's 50,000 friendly replies quiet even though the classifier flags a few percent of them.
Several authors sending the target media that matched the same hash-bank entry open a campaign
whatever the floors and the share say (shared media).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, NamedTuple

from abusewatch.ingest.contract import format_time, utcnow
from abusewatch.ingest.messages import TargetAlert
from abusewatch.detection.features import ScoredPost, extract
from abusewatch.detection.neardup import NearDuplicateIndex
from abusewatch.detection.settings import DetectorSettings, Window
from abusewatch.detection.state import Campaign, Evidence, PACK, TargetState, unpack
from abusewatch.detection.stores import AuthorIndex, StateStore, TargetStates
from abusewatch.scoring.labels import LABELS

# Fixed forever: campaign and alert ids are uuid5 names under it, so a replay after a crash
# reproduces the ids and consumers deduplicate by alert_id.
ID_NAMESPACE = uuid.UUID("5f0c3c3e-8f61-4d56-9c53-6b3f1f1f2a05")

# Robust z-scores scale the mean absolute deviation to a standard deviation (normal data).
_MAD_TO_SIGMA = 1.2533

# Bank entries an alert lists in shared_media (and names in its reasons), most authors first: a
# reviewer needs the campaign's images, not every match in a busy window.
SHARED_MEDIA_IN_ALERT = 5


@dataclasses.dataclass
class DetectorStats:
    posts: int = 0
    target_posts: int = 0
    abusive_target_posts: int = 0
    hostile_reply_target_posts: int = 0  # of the abusive ones, counted as hostile replies
    new_account_target_posts: int = 0  # of the abusive ones, from new accounts (every hostile reply is one)
    unscored_target_posts: int = 0  # language not supported by the model: neither abusive nor benign
    late_dropped: int = 0
    duplicates_dropped: int = 0
    expired_targets: int = 0
    alerts: Counter = dataclasses.field(default_factory=Counter)


@dataclasses.dataclass(frozen=True, slots=True)
class WindowStats:
    size_s: int
    start_ts: float
    end_ts: float
    abusive_posts: int
    counted_abusive_posts: int  # at most max_posts_per_author per author
    total_posts: int
    authors: tuple[str, ...]  # distinct authors of abusive posts, first seen first
    new_account_share: float
    explicit_new_account_share: float  # over the abusive posts that are not hostile replies
    new_accounts: int  # abusive posts from new accounts (every hostile reply is one)
    non_follower_share: float
    near_duplicate_share: float
    repeat_author_share: float
    hostile_replies: int  # abusive posts counted only as hostile replies from new non-followers
    peak_minute_abusive_posts: int
    zscore: float
    poisson_p: float  # chance of at least abusive_posts in the window at the baseline rate
    baseline_per_min: float
    baseline_total_per_min: float
    evidence: tuple[Evidence, ...]

    @property
    def abusive_share(self) -> float:
        return self.abusive_posts / self.total_posts if self.total_posts else 0.0


class SharedMedia(NamedTuple):
    """One hash-bank entry that abusive posts' media matched: how many authors and posts."""

    bank: str
    bank_hash: str
    authors: int
    posts: int


def shared_media(evidence: Iterable[Evidence]) -> list[SharedMedia]:
    """Per bank entry the evidence's media matched: distinct authors and posts, most authors first
    (then most posts, then by name, so alerts are reproducible)."""
    authors: dict[tuple[str, str], set[str]] = {}
    posts: Counter[tuple[str, str]] = Counter()
    for e in evidence:
        for entry in e.media:
            authors.setdefault(entry, set()).add(e.author_id)
            posts[entry] += 1
    found = [SharedMedia(bank, bank_hash, len(authors[bank, bank_hash]), posts[bank, bank_hash])
             for bank, bank_hash in authors]
    return sorted(found, key=lambda s: (-s.authors, -s.posts, s.bank, s.bank_hash))


class PileOnDetector:
    """Feed it post-scores messages in (roughly) event-time order; it returns alerts to send."""

    def __init__(
        self,
        settings: DetectorSettings,
        store: StateStore | None = None,
        authors: AuthorIndex | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.store = store if store is not None else TargetStates()
        self.authors = authors if authors is not None else AuthorIndex(settings.author_index_size)
        self.stats = DetectorStats()
        self._clock = clock
        self._thresholds = tuple(settings.thresholds().items())
        self._new_account_s = settings.new_account_days * 86_400.0
        self._hostile_reply_age_s = self._new_account_s if settings.count_hostile_replies else None
        self._hostile_band = tuple(settings.hostile_band().items())
        self._windows = settings.windows()
        self._longest_s = self._windows[-1].size_s
        self._min_floor = min(w.coordinated_min_posts for w in self._windows)
        self._bucket_s = settings.bucket_s
        self._grace_s = settings.grace_s
        self._min_history_s = settings.min_history_s
        self._signing_share = settings.signature_share_of_coordinated * settings.coordinated_min_abusive_share
        self._keep_buckets = (self._longest_s + settings.grace_s) // settings.bucket_s + 1
        self._alpha = 1.0 - 0.5 ** (settings.bucket_s / settings.baseline_halflife_s)
        self._prior_weight = 1.0 - (1.0 - self._alpha) ** (settings.baseline_prior_s / settings.bucket_s)
        self._near_dups = NearDuplicateIndex(
            settings.minhash_num_perm, settings.near_duplicate_threshold, settings.near_duplicate_index_targets
        )
        self._open_campaigns: dict[str, None] = {}  # targets to visit in the lifecycle sweep
        self._watermark = -math.inf
        self._next_sweep = -math.inf
        self._first_ts: float | None = None  # event time of the first post this detector saw

    # -- input ---------------------------------------------------------------------------------

    def process(self, message: dict[str, Any], sweep: bool = True, ts: float | None = None) -> list[dict[str, Any]]:
        """One post-scores/v1 message -> the alerts it causes (often none). With sweep, campaign
        lifecycle and expiry run whenever event time has moved a bucket on; a caller that must
        control when state is written (the Faust service) passes sweep=False and calls `sweep()`
        once per batch. ts: the post's event time (epoch seconds), when the caller has parsed it."""
        post = extract(message, self._thresholds, self._hostile_reply_age_s, self._hostile_band, ts)
        self.stats.posts += 1
        if self._first_ts is None:
            self._first_ts = post.ts
        targets = post.targets
        alerts = self._observe(targets[0], post, post.follows_first_target) if targets else []
        if len(targets) > 1:
            # A hostile reply counts only towards the replied-to user, whom author_follows_target
            # describes; for the accounts it mentions it is an ordinary post.
            others = post._replace(abusive=False, hostile_reply=False) if post.hostile_reply else post
            for target in targets[1:]:
                alerts = alerts + self._observe(target, others, None)
        watermark = post.ts - self._grace_s
        if watermark > self._watermark:
            self._watermark = watermark
        if sweep and watermark >= self._next_sweep:
            alerts = alerts + self.sweep()
        return alerts

    def sweep(self) -> list[dict[str, Any]]:
        """`advance` to the watermark (newest event time seen minus the grace period) once event
        time has moved a bucket on since the last sweep; otherwise nothing."""
        if self._watermark < self._next_sweep:
            return []
        self._next_sweep = self._watermark + self._bucket_s
        return self.advance(self._watermark)

    @property
    def watermark(self) -> float:
        """Newest event time seen minus the grace period (-inf before the first post)."""
        return self._watermark

    def follow(self, watermark: float) -> list[dict[str, Any]]:
        """For a detector that sees one partition of a stream: the stream is complete up to
        `watermark` (every post up to it that this partition will get has been processed), so
        event time has moved on for its targets too, posts or not. The watermark moves there a
        bucket at a time, sweeping as posts would have (a campaign passes through cooling before it
        closes, as in an in-process replay).
        Once no campaign is open there is nothing to step for, and it jumps: a detector whose only
        post is years old catches up in one sweep, not one per bucket since then."""
        alerts: list[dict[str, Any]] = []
        while self._watermark < watermark:
            if self._open_campaigns and self._next_sweep > self._watermark:
                step = self._next_sweep
            else:  # expiry at the end forgets what expiry at each step would have
                step = watermark
            self._watermark = min(watermark, step)
            alerts.extend(self.sweep())
        return alerts

    def advance(self, watermark: float) -> list[dict[str, Any]]:
        """Move campaigns with no recent abuse to cooling / closed and forget idle targets."""
        alerts: list[dict[str, Any]] = []
        for target in list(self._open_campaigns):
            state = self.store.get(target)
            campaign = state.campaign if state is not None else None
            if campaign is None:
                del self._open_campaigns[target]
                continue
            idle_s = watermark - campaign.last_abusive_ts
            if idle_s >= self.settings.close_after_s:
                campaign.status = "closed"
                alerts.append(self._alert(target, state, campaign, watermark, ["no abusive posts for "
                                          f"{int(idle_s)}s >= {self.settings.close_after_s}s"], None))
                state.campaign = None
                del self._open_campaigns[target]
                self.store.put(target, state)
            elif idle_s >= self.settings.cooling_after_s and campaign.status != "cooling":
                campaign.status = "cooling"
                alerts.append(self._alert(target, state, campaign, watermark, ["no abusive posts for "
                                          f"{int(idle_s)}s >= {self.settings.cooling_after_s}s"], None))
                self.store.put(target, state)
        expired = self.store.expire(watermark - self.settings.idle_expiry_s)
        for target in expired:
            self._near_dups.forget(target)
        self.stats.expired_targets += len(expired)
        return alerts

    def flush(self) -> list[dict[str, Any]]:
        """End of input (replay): run the lifecycle as if event time had moved far ahead."""
        return self.advance(self._watermark + self.settings.close_after_s + self.settings.idle_expiry_s)

    # -- per target ----------------------------------------------------------------------------

    def _observe(self, target: str, post: ScoredPost, follows: bool | None) -> list[dict[str, Any]]:
        # The hot path: every post passes here once per target. Most are benign and touch only
        # the bucket counter.
        stats = self.stats
        stats.target_posts += 1
        ts = post.ts
        bucket = int(ts // self._bucket_s)
        state = self.store.get(target)
        if state is None:
            # Unknown to a detector that has been watching means quiet: no post for as long as it
            # has run, up to the idle expiry that forgets targets. Those empty buckets count as
            # observed history (see _usual_posts); right after a (re)start the span is ~0.
            quiet_buckets = int(min(max(ts - self._first_ts, 0.0), self.settings.idle_expiry_s) // self._bucket_s)
            state = TargetState(ts, bucket - 1 - quiet_buckets, self._prior_weight)
        elif bucket <= state.newest_ts // self._bucket_s - self._keep_buckets:
            # Older than every kept bucket. Anything newer is counted where it belongs: re-keying
            # interleaves the post-scores partitions, and catching up on a backlog reorders a
            # target's posts by minutes.
            stats.late_dropped += 1
            return []
        elif post.abusive and state.evidence and self._already_counted(target, state.evidence, post.post_id):
            stats.duplicates_dropped += 1  # redelivered (at-least-once): counted already
            return []
        if not post.scored and not post.abusive:
            # Scores in a language the model does not read are unknown: counting the post as benign
            # would dilute the abusive share of a pile-on in that language. It is counted apart, and
            # alerts on the target say how many such posts their window had.
            self._count_unscored(target, state, bucket)
            return []
        if ts > state.newest_ts:
            if bucket > state.newest_ts // self._bucket_s:
                self._roll(target, state, bucket)
            state.newest_ts = ts
        buckets = state.buckets
        count = buckets.get(bucket)
        if count is None and bucket < state.newest_ts // self._bucket_s:
            # A late post opens an older bucket: keep the dict in time order (_total_posts relies on it).
            buckets[bucket] = PACK + post.abusive
            state.buckets = dict(sorted(buckets.items()))
        else:
            buckets[bucket] = (count or 0) + PACK + post.abusive
        alerts: list[dict[str, Any]] = []
        if post.abusive:
            stats.abusive_target_posts += 1
            stats.hostile_reply_target_posts += post.hostile_reply
            alerts = self._on_abusive(target, state, post, follows)
            if post.new_account(self._new_account_s):
                stats.new_account_target_posts += 1
        self.store.put(target, state)
        return alerts

    def _count_unscored(self, target: str, state: TargetState, bucket: int) -> None:
        self.stats.unscored_target_posts += 1
        unscored = state.unscored if state.unscored is not None else {}
        unscored[bucket] = unscored.get(bucket, 0) + 1
        oldest = max(bucket, int(state.newest_ts // self._bucket_s)) - self._keep_buckets
        for key in [key for key in unscored if key <= oldest]:
            del unscored[key]
        state.unscored = unscored
        self.store.put(target, state)

    def _unscored_posts(self, state: TargetState, start: float) -> int:
        """Posts in the buckets after start whose language the model does not read."""
        if not state.unscored:
            return 0
        first = int(start // self._bucket_s) + 1
        return sum(count for key, count in state.unscored.items() if key >= first)

    def _already_counted(self, target: str, evidence: list[Evidence], post_id: str) -> bool:
        if len(evidence) < self.settings.hot_min_abusive_posts:
            return any(e.post_id == post_id for e in evidence)
        return self._near_dups.seen(target, evidence, post_id)

    def _roll(self, target: str, state: TargetState, bucket: int) -> None:
        """A new bucket started. Buckets leaving the longest window are folded into the baseline
        and dropped: the baseline only ever holds history older than every window it is compared
        with, so the first minutes of an attack never become the target's normal (and while a
        campaign is open nothing is folded at all). Evidence older than the window goes too."""
        leaving = bucket - self._keep_buckets  # buckets before this one have left the window
        if leaving - 1 > state.folded_bucket:
            if state.campaign is None:
                self._fold(state, leaving - 1)
            buckets = state.buckets
            stale = []
            for key in buckets:  # in time order: the stale ones come first
                if key >= leaving:
                    break
                stale.append(key)
            for key in stale:
                del buckets[key]
            state.folded_bucket = leaving - 1
        evidence = state.evidence
        if evidence:
            horizon = state.newest_ts - self._longest_s - self.settings.grace_s
            if evidence[0].ts < horizon:
                cut = bisect.bisect_left(evidence, horizon, key=_event_time)  # kept in time order
                self._near_dups.prune(target, [e.post_id for e in evidence[:cut]], len(evidence) - cut)
                state.evidence = evidence[cut:] or None

    def _fold(self, state: TargetState, last: int) -> None:
        alpha, keep = self._alpha, 1.0 - self._alpha
        mean, mad, total_mean = state.base_mean, state.base_mad, state.base_total
        previous = state.folded_bucket
        state.base_weight = 1.0 - (1.0 - state.base_weight) * keep ** (last - previous)

        def skip_empty(count: int) -> None:
            # Closed form of `count` EWMA steps over empty buckets (x = 0, so |x - mean| = mean).
            nonlocal mean, mad, total_mean
            if count <= 0:
                return
            factor = keep**count
            mad = factor * mad + alpha * mean * count * keep ** (count - 1)
            mean *= factor
            total_mean *= factor

        buckets = state.buckets
        if last - previous < len(buckets):
            keys = [k for k in range(previous + 1, last + 1) if k in buckets]
        else:
            keys = sorted(k for k in buckets if previous < k <= last)
        for key in keys:
            skip_empty(key - previous - 1)
            total, abusive = unpack(buckets[key])
            mad += alpha * (abs(abusive - mean) - mad)
            mean += alpha * (abusive - mean)
            total_mean += alpha * (total - total_mean)
            previous = key
        skip_empty(last - previous)
        state.base_mean, state.base_mad, state.base_total = mean, mad, total_mean

    def _on_abusive(self, target: str, state: TargetState, post: ScoredPost, follows: bool | None) -> list[dict]:
        evidence = state.evidence if state.evidence is not None else []
        if len(evidence) + 1 >= self.settings.hot_min_abusive_posts:
            # Unsigned posts still join the index (redelivery checks) as their own cluster. Hostile
            # replies are not signed: the near-duplicate share leaves them out (stock words).
            worth = not post.hostile_reply and self._worth_signing(state, evidence)
            signature = self._near_dups.signature(post.text) if worth else b""
            cluster = self._near_dups.add(target, evidence, post.post_id, post.author_id, signature)
        else:  # a lone abusive post: no index (most targets never get a second one)
            signature, cluster = b"", post.post_id
        item = Evidence(post.ts, post.post_id, post.author_id, post.new_account(self._new_account_s), follows,
                        post.scores(), cluster, signature, post.media, post.hostile_reply)
        if evidence and post.ts < evidence[-1].ts:
            bisect.insort(evidence, item, key=_event_time)  # late post: evidence stays in time order
        else:
            evidence.append(item)
        if len(evidence) > self.settings.max_evidence_posts:
            self._near_dups.remove(target, evidence.pop(0).post_id)
        state.evidence = evidence

        campaign = state.campaign
        if campaign is not None:
            if post.hostile_reply and not self._hostile_crowd(evidence, post.ts - self._longest_s):
                return []  # kept as evidence; one rude stranger neither prolongs nor escalates a campaign
            return self._continue_campaign(target, state, campaign, post)
        if len(evidence) >= self._min_floor:
            for window in self._windows:
                if not self._may_trigger(state, window.size_s, window.coordinated_min_posts):
                    continue
                stats = self._window_stats(target, state, window.size_s)
                reasons = self._trigger_reasons(stats, window)
                if reasons:
                    return [self._open_campaign(target, state, stats, post, reasons)]
        if post.media and len(evidence) >= self.settings.shared_media_min_authors:
            # Only a post whose media matched can complete a shared-media campaign: the others,
            # nearly all, skip this.
            return self._open_on_shared_media(target, state, post)
        return []

    def _hostile_crowd(self, evidence: Iterable[Evidence], start: float) -> bool:
        """Whether enough distinct authors sent hostile replies after start for them to count."""
        need = self.settings.min_hostile_reply_authors
        authors: set[str] = set()
        for e in evidence:
            if e.hostile_reply and e.ts > start:
                authors.add(e.author_id)
                if len(authors) >= need:
                    return True
        return False

    def _open_on_shared_media(self, target: str, state: TargetState, post: ScoredPost) -> list[dict]:
        """A campaign when, in some window (shortest first), enough distinct authors sent media
        matching one bank entry, whatever the floors, baseline, share and strangers tests say:
        spreading a victim's image is coordinated by definition, however quiet the rest is."""
        need = self.settings.shared_media_min_authors
        evidence = state.evidence or ()
        for window in self._windows:
            start = state.newest_ts - window.size_s
            shared = shared_media(e for e in evidence if e.ts > start)
            if shared and shared[0].authors >= need:
                return [self._open_campaign(target, state, self._window_stats(target, state, window.size_s), post, [])]
        return []

    def _shared_media_reasons(self, shared: list[SharedMedia], size_s: int) -> list[str]:
        need = self.settings.shared_media_min_authors
        return [
            f"shared_media_authors={s.authors}>={need} in {size_s}s: {s.posts} posts with media matching "
            f"{s.bank} entry {s.bank_hash}"
            for s in shared[:SHARED_MEDIA_IN_ALERT]
            if s.authors >= need
        ]

    # -- evaluation ----------------------------------------------------------------------------

    def platform_abusive_share(self) -> float:
        """The share of scored posts to targets that were abusive, over every post this detector has
        seen, with the configured share counted as expected_abusive_share_prior_posts posts before them."""
        s, stats = self.settings, self.stats
        seen = stats.target_posts - stats.unscored_target_posts - stats.late_dropped - stats.duplicates_dropped
        prior = s.expected_abusive_share_prior_posts
        if seen + prior <= 0:
            return s.expected_abusive_share
        return (stats.abusive_target_posts + s.expected_abusive_share * prior) / (seen + prior)

    def platform_new_account_share(self) -> float:
        """The share of abusive posts from new accounts (hostile replies included: they count only
        from new accounts), over every abusive post this detector has seen, with the configured share
        counted as expected_abusive_share_prior_posts posts before them."""
        s, stats = self.settings, self.stats
        prior = s.expected_abusive_share_prior_posts
        if stats.abusive_target_posts + prior <= 0:
            return s.expected_new_account_share
        return ((stats.new_account_target_posts + s.expected_new_account_share * prior)
                / (stats.abusive_target_posts + prior))

    def _may_trigger(self, state: TargetState, size_s: int, min_posts: int) -> bool:
        """Cheap necessary conditions (post count and the lowest share) before the full stats,
        which walk the evidence: a busy target gets abusive posts every few seconds."""
        start = state.newest_ts - size_s
        abusive = _abusive_after(state.evidence or (), start)
        if abusive < min_posts:
            return False
        return self._share_reaches(state, start, abusive, self.settings.coordinated_min_abusive_share)

    def _worth_signing(self, state: TargetState, evidence: list[Evidence]) -> bool:
        """Whether some window's abusive share, the post being added included, reaches the signing
        share. Near-duplicates only count at the coordinated share; the model's false positives
        among a viral crowd's replies stay far below it and would take most of the MinHash time."""
        if self._signing_share <= 0.0:
            return True
        for window in self._windows:
            start = state.newest_ts - window.size_s
            if self._share_reaches(state, start, _abusive_after(evidence, start) + 1, self._signing_share):
                return True
        return False

    def _share_reaches(self, state: TargetState, start: float, abusive: int, share: float) -> bool:
        """abusive / (posts after start) >= share; the bucket walk stops once the posts rule it out."""
        most_posts = abusive / share
        return self._total_posts(state, start, stop_above=most_posts) <= most_posts

    def _total_posts(self, state: TargetState, start: float, stop_above: float = math.inf) -> int:
        """Posts in the buckets after start; with stop_above, the walk may stop (and return a
        partial count) once the count exceeds it: busy targets fail the share test in a few buckets."""
        first = int(start // self._bucket_s) + 1
        packed = 0
        stop_packed = (stop_above + 1) * PACK
        # Buckets are kept in time order (see _observe), so walk from the newest and stop at the
        # window's start; packed values add up in place.
        for key, value in reversed(state.buckets.items()):
            if key < first:
                break
            packed += value
            if packed >= stop_packed:
                break
        return packed // PACK

    def _window_stats(self, target: str, state: TargetState, size_s: int) -> WindowStats:
        end = state.newest_ts
        start = end - size_s
        evidence = tuple(e for e in state.evidence or () if e.ts > start)
        if any(e.hostile_reply for e in evidence) and not self._hostile_crowd(evidence, start):
            evidence = tuple(e for e in evidence if not e.hostile_reply)  # a rude stranger, not a crowd
        total = self._total_posts(state, start)

        per_author: Counter[str] = Counter(e.author_id for e in evidence)
        cap = self.settings.max_posts_per_author
        counted = sum(min(n, cap) for n in per_author.values())
        cluster_authors: dict[str, set[str]] = {}
        for e in evidence:
            cluster_authors.setdefault(e.cluster, set()).add(e.author_id)
        abusive = len(evidence)
        # Copy-paste needs 3+ authors on one text: two strangers sending the same short insult
        # ("fuck you") is common and means nothing. Hostile replies are left out: a crowd's "ratio"
        # and "log off" are the same words by nature, not a script.
        near_dups = sum(1 for e in evidence if len(cluster_authors[e.cluster]) >= 3 and not e.hostile_reply)
        repeat = 0
        for author in per_author:
            entry = self.authors.get(author)
            if entry is not None and entry[1] != target:
                repeat += 1
        times = sorted(e.ts for e in evidence)
        peak, lo = 0, 0
        for hi, ts in enumerate(times):
            while ts - times[lo] >= 60.0:
                lo += 1
            peak = max(peak, hi - lo + 1)

        new_accounts = sum(e.new_account for e in evidence)
        hostile = sum(e.hostile_reply for e in evidence)
        others = abusive - hostile
        buckets_in_window = size_s / self._bucket_s
        mean, mad = state.base_mean / state.base_weight, state.base_mad / state.base_weight
        expected = mean * buckets_in_window
        mad_sigma = _MAD_TO_SIGMA * mad * math.sqrt(buckets_in_window)
        share = self.settings.expected_abusive_share
        volume_expected = self._usual_posts(state, start, size_s, max(total - abusive, 0)) * share / (1.0 - share)
        spread = max(mad_sigma, math.sqrt(expected), 1.0)
        per_min = 60.0 / self._bucket_s
        return WindowStats(
            size_s=size_s,
            start_ts=start,
            end_ts=end,
            abusive_posts=abusive,
            counted_abusive_posts=counted,
            total_posts=max(total, abusive),
            authors=tuple(per_author),
            new_account_share=new_accounts / abusive if abusive else 0.0,
            # A hostile reply counts only from a new account, so the posts it let in say nothing
            # about coordination: the coordination test takes the share over the other abusive posts.
            explicit_new_account_share=(new_accounts - hostile) / others if others else 0.0,
            new_accounts=new_accounts,
            non_follower_share=_non_follower_share(evidence),
            near_duplicate_share=near_dups / others if others else 0.0,
            repeat_author_share=repeat / len(per_author) if per_author else 0.0,
            hostile_replies=hostile,
            peak_minute_abusive_posts=peak,
            zscore=(abusive - expected) / spread,
            poisson_p=poisson_upper_tail(abusive, max(expected, mad_sigma**2, volume_expected)),
            baseline_per_min=mean * per_min,
            baseline_total_per_min=state.base_total / state.base_weight * per_min,
            evidence=evidence,
        )

    def _usual_posts(self, state: TargetState, start: float, size_s: int, unflagged_in_window: int) -> float:
        """How many posts the target usually gets in size_s seconds, from what came before the
        window: the kept buckets before it when they span at least one window (or min_history_s,
        if shorter), and the folded baseline once it holds real history (the larger of the two). A
        short history misjudges only a quiet target, which the floors and the share test guard; a
        busy one shows its volume within a minute. A cold target has neither and is judged by the
        window's own unflagged posts, which over-counts (they include the abusive posts of a
        pile-on that the model missed), so it is only the fallback."""
        bucket_s = self._bucket_s
        last_before = int(start // bucket_s)  # buckets up to this one lie before the window
        history_s = (last_before - state.folded_bucket) * bucket_s
        rates = []
        if history_s >= min(size_s, self._min_history_s):
            before = 0
            for key, value in state.buckets.items():  # in time order
                if key > last_before:
                    break
                before += value
            rates.append(before // PACK / history_s)
        if state.base_weight > self._prior_weight:  # grows only by folding buckets in
            rates.append(state.base_total / state.base_weight / bucket_s)
        if not rates:
            return float(unflagged_in_window)
        return max(rates) * size_s

    def _trigger_reasons(self, stats: WindowStats, window: Window) -> list[str]:
        """The reasons a window is a pile-on, or [] when it is not."""
        s = self.settings
        # The cheap floors first, at the lower, coordinated level: most windows fail here.
        if stats.counted_abusive_posts < window.coordinated_min_posts or len(stats.authors) < window.coordinated_min_authors:
            return []
        if stats.zscore < s.min_zscore or stats.poisson_p > s.max_poisson_p:
            return []
        if stats.non_follower_share < s.min_non_follower_share:
            return []
        coordination = []
        if stats.explicit_new_account_share >= s.coordinated_min_new_account_share:
            coordination.append(f"new_account_share={stats.explicit_new_account_share:.2f}>="
                                f"{s.coordinated_min_new_account_share}"
                                + (" (hostile replies left out)" if stats.hostile_replies else ""))
        scripted = []  # coordination that holds at any sample size: copy-paste, repeat campaigners
        if stats.near_duplicate_share >= s.coordinated_min_near_duplicate_share:
            scripted.append(
                f"near_duplicate_share={stats.near_duplicate_share:.2f}>={s.coordinated_min_near_duplicate_share}"
            )
        if stats.repeat_author_share >= s.coordinated_min_repeat_author_share:
            scripted.append(
                f"repeat_author_share={stats.repeat_author_share:.2f}>={s.coordinated_min_repeat_author_share}"
            )
        coordination += scripted
        min_posts, min_authors, floor_note = window.min_posts, window.min_authors, ""
        if stats.counted_abusive_posts < min_posts or len(stats.authors) < min_authors:
            # Below the ordinary floors only a crowd coordinated beyond chance reaches the lower
            # ones: half of 4 abusive posts from new accounts is ordinary at a viral account.
            young_crowd = self._young_crowd_reason(stats)
            if not young_crowd and not scripted:
                return []
            coordination += [young_crowd] if young_crowd else []
            min_posts, min_authors = window.coordinated_min_posts, window.coordinated_min_authors
            floor_note = " (coordinated crowd)"
        share = stats.abusive_share
        if share >= s.min_abusive_share and coordination:
            share_reason = f"abusive_share={share:.2f}>={s.min_abusive_share}"
        elif share >= s.min_abusive_share:
            # Nothing about the crowd looks coordinated: the share alone must be beyond chance
            # for the window's sample size (a viral burst's noisy first minute is not).
            platform_share = self.platform_abusive_share()
            share_p = binomial_upper_tail(stats.counted_abusive_posts, stats.total_posts, platform_share)
            if share_p > s.max_uncoordinated_share_p:
                return []
            share_reason = (
                f"abusive_share={share:.2f}>={s.min_abusive_share}, share_p={share_p:.1e}<="
                f"{s.max_uncoordinated_share_p:.0e} (binomial: {stats.counted_abusive_posts} of "
                f"{stats.total_posts} posts at the platform's measured share {platform_share:.3f})"
            )
        elif coordination and share >= s.coordinated_min_abusive_share:
            share_reason = f"abusive_share={share:.2f}>={s.coordinated_min_abusive_share} (coordinated)"
        else:
            return []
        return [
            f"abusive_posts={stats.counted_abusive_posts}>={min_posts} in {stats.size_s}s "
            f"(at most {s.max_posts_per_author} per author){floor_note}",
            f"distinct_authors={len(stats.authors)}>={min_authors}{floor_note}",
            f"zscore={stats.zscore:.1f}>={s.min_zscore} (baseline {stats.baseline_per_min:.2f}/min)",
            f"poisson_p={stats.poisson_p:.1e}<={s.max_poisson_p:.0e}",
            f"non_follower_share={stats.non_follower_share:.2f}>={s.min_non_follower_share}",
            share_reason,
            *coordination,
            *self._hostile_reply_reasons(stats),
        ]

    def _young_crowd_reason(self, stats: WindowStats) -> str:
        """A reason when the window's abusive posts come from new accounts far more often than the
        platform's abusive posts do, and make up a share of the window's posts far above the
        platform's flag rate (two binomial tests, each at max_young_crowd_p); else ''. Hostile
        replies (a crowd of them: _window_stats leaves a lone one out) count as from new accounts
        here and in the platform's share alike: they are rare among the platform's abusive posts,
        so 3 of them beside 1 new account's insult are a young crowd, as 4 insults would be."""
        s = self.settings
        if stats.abusive_posts <= 0:
            return ""
        new_share = self.platform_new_account_share()
        young_p = binomial_upper_tail(stats.new_accounts, stats.abusive_posts, new_share)
        if young_p > s.max_young_crowd_p:
            return ""
        flag_share = self.platform_abusive_share()
        share_p = binomial_upper_tail(stats.counted_abusive_posts, stats.total_posts, flag_share)
        if share_p > s.max_young_crowd_p:
            return ""
        return (f"young_crowd_p={young_p:.1e}<={s.max_young_crowd_p:.0e} (binomial: {stats.new_accounts} of "
                f"{stats.abusive_posts} abusive posts from new accounts, platform share {new_share:.3f}), "
                f"share_p={share_p:.1e}<={s.max_young_crowd_p:.0e} (binomial: {stats.counted_abusive_posts} of "
                f"{stats.total_posts} posts abusive, platform share {flag_share:.3f})")

    def _hostile_reply_reasons(self, stats: WindowStats) -> list[str]:
        if not stats.hostile_replies:
            return []
        band = (", or scored in the hostile band below the abusive thresholds ("
                + ", ".join(f"{label}>={value}" for label, value in self._hostile_band) + ")") if self._hostile_band else ""
        return [f"hostile_replies={stats.hostile_replies} of {stats.abusive_posts} abusive posts: dismissive, mocking "
                f"or menacing replies without profanity (hostility rule layer){band}, from new accounts that do not "
                f"follow the target"]

    # -- campaigns -----------------------------------------------------------------------------

    def _open_campaign(
        self, target: str, state: TargetState, stats: WindowStats, post: ScoredPost, reasons: list[str]
    ) -> dict[str, Any]:
        shared = shared_media(stats.evidence)
        reasons = reasons + self._shared_media_reasons(shared, stats.size_s)
        window_start = int(stats.start_ts // self._bucket_s) * self._bucket_s
        campaign_id = str(uuid.uuid5(ID_NAMESPACE, f"campaign/{target}/{_iso(window_start)}"))
        authors = dict.fromkeys(stats.authors[: self.settings.max_campaign_authors])
        campaign = Campaign(
            campaign_id=campaign_id,
            status="opened",
            opened_ts=post.ts,
            last_abusive_ts=post.ts,
            abusive_posts=stats.abusive_posts,
            authors=authors,
            linked_campaign_ids=self._links(target, authors),
        )
        state.campaign = campaign
        self._open_campaigns[target] = None
        return self._alert(target, state, campaign, post.ts, reasons, post, stats, shared)

    def _continue_campaign(self, target: str, state: TargetState, campaign: Campaign, post: ScoredPost) -> list[dict]:
        campaign.last_abusive_ts = max(campaign.last_abusive_ts, post.ts)
        campaign.abusive_posts += 1
        if len(campaign.authors) < self.settings.max_campaign_authors:
            campaign.authors[post.author_id] = None
        self._open_campaigns[target] = None
        if campaign.status == "cooling":
            reasons = ["abusive posts resumed after cooling"]
        elif campaign.abusive_posts >= campaign.alerted_abusive_posts * self.settings.escalation_factor:
            reasons = [
                f"campaign_abusive_posts={campaign.abusive_posts}>="
                f"{self.settings.escalation_factor}x{campaign.alerted_abusive_posts} at the last alert"
            ]
        else:
            return []
        campaign.status = "escalating"
        for linked in self._links(target, campaign.authors):
            if linked not in campaign.linked_campaign_ids:
                campaign.linked_campaign_ids.append(linked)
        return [self._alert(target, state, campaign, post.ts, reasons, post)]

    def _links(self, target: str, authors: dict[str, None]) -> list[str]:
        """Earlier campaigns on other targets that share enough of these authors."""
        shared: Counter[str] = Counter()
        for author in authors:
            entry = self.authors.get(author)
            if entry is not None and entry[1] != target:
                shared[entry[0]] += 1
        s = self.settings
        return sorted(
            campaign_id
            for campaign_id, count in shared.items()
            if count >= s.link_min_shared_authors and count / len(authors) >= s.link_min_author_share
        )

    # -- output --------------------------------------------------------------------------------

    def _alert(
        self,
        target: str,
        state: TargetState,
        campaign: Campaign,
        event_ts: float,
        reasons: list[str],
        post: ScoredPost | None,
        stats: WindowStats | None = None,
        shared: list[SharedMedia] | None = None,
    ) -> dict[str, Any]:
        if stats is None:
            stats = self._window_stats(target, state, self._longest_s)
        if shared is None:
            shared = shared_media(stats.evidence)
        campaign.alert_seq += 1
        campaign.alerted_abusive_posts = campaign.abusive_posts
        self.authors.record_campaign(campaign.campaign_id, target, campaign.authors)
        self.stats.alerts[campaign.status] += 1
        ranked = sorted(stats.evidence, key=lambda e: (-max(e.scores), e.post_id))
        counts = {
            "abusive_posts": stats.abusive_posts,
            "total_posts": stats.total_posts,
            "counted_abusive_posts": stats.counted_abusive_posts,
            "peak_minute_abusive_posts": stats.peak_minute_abusive_posts,
            "campaign_abusive_posts": campaign.abusive_posts,
            "campaign_authors": len(campaign.authors),
        }
        unscored = self._unscored_posts(state, stats.start_ts)
        if unscored:
            counts["unscored_posts"] = unscored
            reasons = [*reasons, f"unscored_posts={unscored} in {stats.size_s}s: in a language the model does not "
                       "read, counted neither abusive nor benign (not in total_posts)"]
        score_summary = {}
        if stats.evidence:
            for index, label in enumerate(LABELS):
                values = [e.scores[index] for e in stats.evidence]
                score_summary[label] = {"mean": round(sum(values) / len(values), 4), "max": round(max(values), 4)}
        return TargetAlert(
            alert_id=str(uuid.uuid5(ID_NAMESPACE, f"alert/{campaign.campaign_id}/{campaign.alert_seq}/{campaign.status}")),
            campaign_id=campaign.campaign_id,
            target_id=target,
            status=campaign.status,
            detected_at=format_time(self._clock()),
            event_time=_iso(event_ts),
            window={"start": _iso(stats.start_ts), "end": _iso(stats.end_ts), "size_s": stats.size_s},
            counts=counts,
            distinct_authors=len(stats.authors),
            new_account_share=round(stats.new_account_share, 4),
            non_follower_share=round(stats.non_follower_share, 4),
            near_duplicate_share=round(stats.near_duplicate_share, 4),
            shared_media=[s._asdict() for s in shared[:SHARED_MEDIA_IN_ALERT]] or None,
            baseline={
                "rate_per_min": round(stats.baseline_per_min, 4),
                "zscore": round(stats.zscore, 3),
                "total_rate_per_min": round(stats.baseline_total_per_min, 4),
                "repeat_author_share": round(stats.repeat_author_share, 4),
                "poisson_p": stats.poisson_p,
            },
            score_summary=score_summary,
            top_post_ids=[e.post_id for e in ranked[: self.settings.evidence_top_posts]],
            author_sample=sorted(stats.authors)[: self.settings.evidence_author_sample],
            linked_campaign_ids=list(campaign.linked_campaign_ids),
            model={"name": post.model["name"], "version": post.model["version"]} if post is not None and post.model else None,
            detector_version=self.settings.detector_version,
            reasons=reasons,
        ).to_message()


def _event_time(item: Evidence) -> float:
    return item.ts


def _abusive_after(evidence: list[Evidence] | tuple[()], start: float) -> int:
    """Evidence records newer than start (evidence is kept in time order)."""
    return len(evidence) - bisect.bisect_right(evidence, start, key=_event_time)


def _non_follower_share(evidence: tuple[Evidence, ...]) -> float:
    """Share of abusive posts whose author does not follow the target, among those where that is
    known; 1.0 when it is never known (unknown must not block an alert)."""
    known = [e.follows_target for e in evidence if e.follows_target is not None]
    return sum(not follows for follows in known) / len(known) if known else 1.0


def poisson_upper_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean), summed in log space from the count upwards (the
    interesting values are tiny, where 1 - cdf would round to 0)."""
    if count <= 0:
        return 1.0
    if mean <= 0.0:
        return 0.0
    log_term = -mean + count * math.log(mean) - math.lgamma(count + 1)
    total, term, i = 0.0, math.exp(log_term), count
    while term > total * 1e-12 and i < count + 10_000:
        total += term
        i += 1
        term *= mean / i
    return min(1.0, total)


def binomial_upper_tail(count: int, trials: int, rate: float) -> float:
    """P(X >= count) for X ~ Binomial(trials, rate). Summed outwards from the larger of `count` and
    the mode, where the terms are largest (so the first term cannot underflow to 0, as it would far
    below the mean), upwards and, when `count` lies below the mode, downwards to `count`."""
    if count <= 0:
        return 1.0
    if count > trials or rate <= 0.0:
        return 0.0
    if rate >= 1.0:
        return 1.0
    mode = min(trials, int((trials + 1) * rate))
    start = max(count, mode)
    log_choose = math.lgamma(trials + 1) - math.lgamma(start + 1) - math.lgamma(trials - start + 1)
    first = math.exp(log_choose + start * math.log(rate) + (trials - start) * math.log1p(-rate))
    odds = rate / (1.0 - rate)
    total, term, k = 0.0, first, start
    while k <= trials and term > total * 1e-12:
        total += term
        term *= (trials - k) / (k + 1) * odds
        k += 1
    term, k = first, start
    while k > count:  # count below the mode: the terms from the mode down to count
        term *= k / (trials - k + 1) / odds
        k -= 1
        total += term
        if term < total * 1e-12:
            break
    return min(1.0, total)


def _iso(ts: float) -> str:
    return format_time(datetime.fromtimestamp(ts, tz=timezone.utc))
