"""Settings of the pile-on detector (issue 5): what counts as abusive, windows, floors, lifecycle."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from abusewatch.common.config import ConfigError, setting, settings_class
from abusewatch.scoring.labels import LABELS


@settings_class
class DetectorSettings:
    """Pile-on detection: per-target event-time windows, baselines, floors and campaign lifecycle."""

    abusive_thresholds: tuple[str, ...] = setting(
        "ABUSEWATCH_DETECTOR_ABUSIVE_THRESHOLDS",
        ("toxicity=0.8", "insult=0.65", "threat=0.5", "identity_attack=0.6", "sexual_harassment=0.6"),
        "label=threshold pairs: a post is abusive when any calibrated score reaches its threshold. An operating "
        "point on one model's scores: `abusewatch eval` shows what it flags; re-check it when the model changes. "
        "At least one pair; a malformed pair, a label the post-scores contract does not have or a repeated one "
        "fails at startup.",
    )
    windows_s: tuple[str, ...] = setting(
        "ABUSEWATCH_DETECTOR_WINDOWS_S",
        ("60", "600", "3600"),
        "Event-time sliding windows (seconds) evaluated per target.",
    )
    min_abusive_posts: tuple[str, ...] = setting(
        "ABUSEWATCH_DETECTOR_MIN_ABUSIVE_POSTS",
        ("6", "6", "15"),
        "Absolute floor per window (same order as windows): abusive posts, at most "
        "ABUSEWATCH_DETECTOR_MAX_POSTS_PER_AUTHOR counted per author. The shipped classifier flags about half "
        "of a generated pile-on's abusive posts (a third in many small ones), so a 20-post pile-on can show "
        "as 6-8 (docs/benchmarks.md).",
    )
    min_distinct_authors: tuple[str, ...] = setting(
        "ABUSEWATCH_DETECTOR_MIN_DISTINCT_AUTHORS",
        ("5", "5", "10"),
        "Absolute floor per window (same order as windows): distinct authors of abusive posts.",
    )
    coordinated_min_abusive_posts: tuple[str, ...] = setting(
        "ABUSEWATCH_DETECTOR_COORDINATED_MIN_ABUSIVE_POSTS",
        ("4", "6", "15"),
        "Lower absolute floor per window (same order as windows) for a crowd that looks coordinated (new "
        "accounts, copy-paste or repeat campaigners; see the coordinated_* settings): abusive posts, at most "
        "ABUSEWATCH_DETECTOR_MAX_POSTS_PER_AUTHOR per author. Every other test still applies. A crowd of "
        "young strangers is evidence the model's flags alone are not, so it needs fewer of them; a crowd that "
        "does not look coordinated needs ABUSEWATCH_DETECTOR_MIN_ABUSIVE_POSTS. Set it equal to that to turn "
        "the lower floor off.",
    )
    coordinated_min_distinct_authors: tuple[str, ...] = setting(
        "ABUSEWATCH_DETECTOR_COORDINATED_MIN_DISTINCT_AUTHORS",
        ("4", "5", "10"),
        "Lower absolute floor per window (same order as windows) for a crowd that looks coordinated: distinct "
        "authors of abusive posts.",
    )
    max_posts_per_author: int = setting(
        "ABUSEWATCH_DETECTOR_MAX_POSTS_PER_AUTHOR",
        2,
        "Abusive posts counted per author towards the floors, so one persistent abuser is not a crowd.",
    )
    min_abusive_share: float = setting(
        "ABUSEWATCH_DETECTOR_MIN_ABUSIVE_SHARE",
        0.3,
        "Abusive posts / all posts to the target in the window; keeps viral benign bursts quiet.",
    )
    coordinated_min_abusive_share: float = setting(
        "ABUSEWATCH_DETECTOR_COORDINATED_MIN_ABUSIVE_SHARE",
        0.2,
        "Lower share accepted when the crowd looks coordinated (new accounts, copy-paste, repeat campaigners). "
        "Not much lower: a viral benign burst whose copy-pasted meme the model scores toxic is copy-paste too "
        "(at 0.12, model 0.3.0 alerted on 4 of 4 such bursts in one scenario; docs/benchmarks.md).",
    )
    coordinated_min_new_account_share: float = setting(
        "ABUSEWATCH_DETECTOR_COORDINATED_MIN_NEW_ACCOUNT_SHARE",
        0.5,
        "Share of abusive posts from new accounts that counts as a coordination signal.",
    )
    coordinated_min_near_duplicate_share: float = setting(
        "ABUSEWATCH_DETECTOR_COORDINATED_MIN_NEAR_DUPLICATE_SHARE",
        0.3,
        "Share of abusive posts that near-duplicate another author's post that counts as coordination.",
    )
    coordinated_min_repeat_author_share: float = setting(
        "ABUSEWATCH_DETECTOR_COORDINATED_MIN_REPEAT_AUTHOR_SHARE",
        0.3,
        "Share of abusive authors already seen in another campaign that counts as coordination.",
    )
    shared_media_min_authors: int = setting(
        "ABUSEWATCH_DETECTOR_SHARED_MEDIA_MIN_AUTHORS",
        3,
        "Distinct authors who, within a window, sent a target media matching the same hash-bank entry (not "
        "flooding): a campaign, opened whatever the floors, baseline, share and strangers tests say "
        "(docs/detection.md, Shared media). Spreading one victim's image is coordinated by definition; "
        "flood protection keeps a bad entry (a meme in a bank) out.",
    )
    min_zscore: float = setting(
        "ABUSEWATCH_DETECTOR_MIN_ZSCORE",
        3.0,
        "Robust z-score of the window's abusive count against the target's own baseline.",
    )
    min_non_follower_share: float = setting(
        "ABUSEWATCH_DETECTOR_MIN_NON_FOLLOWER_SHARE",
        0.5,
        "Abusive posts from authors who do not follow the target (where known) must be at least this "
        "share: a pile-on comes from strangers; rudeness among a target's own followers is a conversation.",
    )
    max_poisson_p: float = setting(
        "ABUSEWATCH_DETECTOR_MAX_POISSON_P",
        1e-8,
        "Chance of at least this many abusive posts in the window given the target's baseline (Poisson, "
        "variance widened by the observed spread) must be below this. Windows slide and busy targets are "
        "many: a lenient level turns ordinary fluctuations of busy targets into alerts.",
    )
    max_uncoordinated_share_p: float = setting(
        "ABUSEWATCH_DETECTOR_MAX_UNCOORDINATED_SHARE_P",
        1e-4,
        "A window whose crowd does not look coordinated (no share of new accounts, near-duplicates or "
        "repeat authors reaches its level) must also pass a one-sided binomial test: its abusive posts "
        "(at most max_posts_per_author per author) among all its posts, against "
        "ABUSEWATCH_DETECTOR_EXPECTED_ABUSIVE_SHARE, must be this unlikely. A share floor does not "
        "know the sample size: 6 flagged of 17 replies in the first minute of a benign viral burst "
        "clears 30 % by chance; 6 of 6 is far beyond it. 1 turns the test off.",
    )
    expected_abusive_share: float = setting(
        "ABUSEWATCH_DETECTOR_EXPECTED_ABUSIVE_SHARE",
        0.05,
        "Share of ordinary posts the classifier flags abusive (platform-wide). Two uses: the prior of the "
        "share the detector measures for the uncoordinated binomial test "
        "(ABUSEWATCH_DETECTOR_EXPECTED_ABUSIVE_SHARE_PRIOR_POSTS), and, with the benign posts a target got in "
        "the window, a floor under the expected abusive count, so a busy target with little history (cold "
        "start) is judged against its own volume. That floor stays at this value: raised to the measured "
        "share it made the Poisson test miss a pile-on at a busy target (docs/benchmarks.md).",
    )
    expected_new_account_share: float = setting(
        "ABUSEWATCH_DETECTOR_EXPECTED_NEW_ACCOUNT_SHARE",
        0.1,
        "Share of the platform's abusive posts (hostile replies included) written by new accounts, before the "
        "detector has seen any: the prior of the share it measures, counted as "
        "ABUSEWATCH_DETECTOR_EXPECTED_ABUSIVE_SHARE_PRIOR_POSTS posts. The young-crowd test of the lower "
        "floors compares with the measured share.",
    )
    max_young_crowd_p: float = setting(
        "ABUSEWATCH_DETECTOR_MAX_YOUNG_CROWD_P",
        0.01,
        "A window below the ordinary floors reaches the coordinated ones (near-duplicates and repeat "
        "campaigners aside) only when it is a young crowd beyond chance, two binomial tests each at most this: "
        "the chance of at least that many of its abusive posts from new accounts (a crowd's hostile replies "
        "included), at the platform's measured share of them, and of at least that many abusive posts among "
        "all the window's posts, at the platform's measured flag rate. Together about as unlikely as ABUSEWATCH_DETECTOR_MAX_UNCOORDINATED_SHARE_P. A "
        "fixed share cannot tell 2 of 4 from new accounts (ordinary at a viral account) from 40 of 80.",
    )
    expected_abusive_share_prior_posts: int = setting(
        "ABUSEWATCH_DETECTOR_EXPECTED_ABUSIVE_SHARE_PRIOR_POSTS",
        10_000,
        "The uncoordinated binomial test compares with the platform's share of flagged posts as measured, not "
        "assumed: the share of the scored posts to targets this detector has seen that were abusive, with "
        "ABUSEWATCH_DETECTOR_EXPECTED_ABUSIVE_SHARE counted as this many posts seen beforehand (so a fresh "
        "detector starts at that share and a few posts cannot move it far). A model or community that flags "
        "more posts makes a chance cluster of flags likelier, and the test follows it.",
    )
    min_history_s: int = setting(
        "ABUSEWATCH_DETECTOR_MIN_HISTORY_S",
        60,
        "A target's posts before a window give its usual volume once they span this long (or the window, "
        "if shorter). Matters after a detector starts without state: a target quiet since then is judged "
        "quiet after a minute, not only after a whole window, and the pile-on's own unflagged posts no "
        "longer stand in for its usual volume.",
    )
    bucket_s: int = setting(
        "ABUSEWATCH_DETECTOR_BUCKET_S", 10, "Resolution of the per-target window counters (seconds)."
    )
    grace_s: int = setting(
        "ABUSEWATCH_DETECTOR_GRACE_S",
        30,
        "How far behind the newest event time seen a worker's watermark runs: campaigns cool and close, "
        "and targets expire, only by the watermark. Late posts are still counted while their bucket is "
        "inside the longest window.",
    )
    baseline_halflife_s: int = setting(
        "ABUSEWATCH_DETECTOR_BASELINE_HALFLIFE_S",
        2 * 3600,
        "Half-life of the per-target EWMA baseline of abusive posts per bucket (frozen during campaigns).",
    )
    baseline_prior_s: int = setting(
        "ABUSEWATCH_DETECTOR_BASELINE_PRIOR_S",
        900,
        "A target seen for the first time is assumed to have had this long without abusive posts (so the "
        "first minutes of an attack on a new target stand out, and bias-corrected EWMAs start sane).",
    )
    new_account_days: float = setting(
        "ABUSEWATCH_DETECTOR_NEW_ACCOUNT_DAYS", 30.0, "An author younger than this at posting time is a new account."
    )
    count_hostile_replies: bool = setting(
        "ABUSEWATCH_DETECTOR_COUNT_HOSTILE_REPLIES",
        True,
        "Count a reply the hostility rule layer found dismissive, mocking or menacing (post-scores "
        "`hostility`) as abusive when its author is a new account that does not follow the target: the "
        "bulk of a pile-on carries no profanity and the model scores it clean. Such replies from anyone "
        "else count as nothing, so civil crowds and friends' banter stay out, and every window test "
        "still applies (the crowd alone never alerts, the crowd plus hostility does).",
    )
    hostile_band_thresholds: tuple[str, ...] = setting(
        "ABUSEWATCH_DETECTOR_HOSTILE_BAND_THRESHOLDS",
        (),
        "label=threshold pairs below ABUSEWATCH_DETECTOR_ABUSIVE_THRESHOLDS: with "
        "ABUSEWATCH_DETECTOR_COUNT_HOSTILE_REPLIES, a reply whose calibrated scores reach one of them counts as "
        "a hostile reply, as the hostility rule layer's finds do (only from a new account that does not follow "
        "the target, and only in a crowd). Empty: off. Each must be below the label's abusive threshold.",
    )
    min_hostile_reply_authors: int = setting(
        "ABUSEWATCH_DETECTOR_MIN_HOSTILE_REPLY_AUTHORS",
        3,
        "Hostile replies count in a window only when at least this many distinct authors sent them: "
        "one rude stranger among a viral crowd's replies is not a hostile crowd.",
    )
    hot_min_abusive_posts: int = setting(
        "ABUSEWATCH_DETECTOR_HOT_MIN_ABUSIVE_POSTS",
        3,
        "Abusive posts in the longest window from which on each abusive post gets a MinHash signature "
        "(near-duplicate detection costs ~100 us a post plus an LSH index per target: only for targets "
        "receiving several).",
    )
    signature_share_of_coordinated: float = setting(
        "ABUSEWATCH_DETECTOR_SIGNATURE_SHARE_OF_COORDINATED",
        0.75,
        "An abusive post gets its MinHash signature only while some window's abusive share is at least this "
        "fraction of ABUSEWATCH_DETECTOR_COORDINATED_MIN_ABUSIVE_SHARE (0: always). Near-duplicates decide "
        "nothing below that share; the model's false positives among a busy or viral target's replies, a few "
        "percent of them, stay far below it and would take most of the MinHash time. The margin signs the "
        "posts of a copy-paste wave while its share is still rising.",
    )
    max_evidence_posts: int = setting(
        "ABUSEWATCH_DETECTOR_MAX_EVIDENCE_POSTS",
        400,
        "Abusive posts kept per target as evidence (oldest dropped); bounds memory of hot targets.",
    )
    minhash_num_perm: int = setting(
        "ABUSEWATCH_DETECTOR_MINHASH_PERM", 64, "MinHash permutations for near-duplicate texts."
    )
    near_duplicate_threshold: float = setting(
        "ABUSEWATCH_DETECTOR_NEAR_DUPLICATE_JACCARD", 0.6, "Jaccard similarity (character 4-grams) of near-duplicates."
    )
    near_duplicate_index_targets: int = setting(
        "ABUSEWATCH_DETECTOR_NEAR_DUPLICATE_INDEX_TARGETS",
        100_000,
        "LSH indexes kept in memory (least recently used dropped; rebuilt from stored signatures).",
    )
    escalation_factor: float = setting(
        "ABUSEWATCH_DETECTOR_ESCALATION_FACTOR",
        2.0,
        "An open campaign emits an 'escalating' alert each time its abusive posts grow by this factor.",
    )
    cooling_after_s: int = setting(
        "ABUSEWATCH_DETECTOR_COOLING_AFTER_S", 600, "No abusive post for this long (event time): campaign is cooling."
    )
    close_after_s: int = setting(
        "ABUSEWATCH_DETECTOR_CLOSE_AFTER_S", 3600, "No abusive post for this long (event time): campaign is closed."
    )
    idle_expiry_s: int = setting(
        "ABUSEWATCH_DETECTOR_IDLE_EXPIRY_S",
        3 * 3600,
        "Targets with no post for this long (event time) and no open campaign are forgotten.",
    )
    link_min_shared_authors: int = setting(
        "ABUSEWATCH_DETECTOR_LINK_MIN_SHARED_AUTHORS",
        3,
        "Authors a new campaign must share with an earlier one on another target to be linked to it.",
    )
    link_min_author_share: float = setting(
        "ABUSEWATCH_DETECTOR_LINK_MIN_AUTHOR_SHARE",
        0.2,
        "Share of a new campaign's authors that must come from the earlier campaign to link them.",
    )
    author_index_size: int = setting(
        "ABUSEWATCH_DETECTOR_AUTHOR_INDEX_SIZE",
        1_000_000,
        "Campaign authors remembered for linking (least recently seen forgotten first).",
    )
    max_campaign_authors: int = setting(
        "ABUSEWATCH_DETECTOR_MAX_CAMPAIGN_AUTHORS", 1000, "Authors remembered per campaign (for linking)."
    )
    evidence_top_posts: int = setting(
        "ABUSEWATCH_DETECTOR_TOP_POSTS", 10, "Post ids (highest scores first) carried in an alert."
    )
    evidence_author_sample: int = setting(
        "ABUSEWATCH_DETECTOR_AUTHOR_SAMPLE", 20, "Author ids carried in an alert."
    )
    detector_version: str = setting(
        "ABUSEWATCH_DETECTOR_VERSION", "pileon-1", "Written into every alert; part of no id."
    )

    def __post_init__(self) -> None:
        # One author is not a crowd: at 1 every matched post would open a campaign by itself.
        if self.shared_media_min_authors < 2:
            raise ConfigError(
                f"ABUSEWATCH_DETECTOR_SHARED_MEDIA_MIN_AUTHORS must be at least 2, got {self.shared_media_min_authors}")
        # A list that does not add up fails at startup, not at the first post.
        self.windows()
        abusive = self.thresholds()
        if not abusive:  # no score could make a post abusive: the model would be switched off unnoticed
            raise ConfigError(f"{_env('abusive_thresholds')} needs at least one label=threshold pair")
        for label, value in self.hostile_band().items():
            if label in abusive and value >= abusive[label]:
                raise ConfigError(f"{_env('hostile_band_thresholds')}: {label}={value} is not below "
                                  f"{_env('abusive_thresholds')}'s {label}={abusive[label]}")

    def thresholds(self) -> dict[str, float]:
        return _label_thresholds(_env("abusive_thresholds"), self.abusive_thresholds)

    def hostile_band(self) -> dict[str, float]:
        return _label_thresholds(_env("hostile_band_thresholds"), self.hostile_band_thresholds)

    def windows(self) -> tuple[Window, ...]:
        """The windows with their floors, shortest first."""
        columns = {
            "ABUSEWATCH_DETECTOR_WINDOWS_S": self.windows_s,
            "ABUSEWATCH_DETECTOR_MIN_ABUSIVE_POSTS": self.min_abusive_posts,
            "ABUSEWATCH_DETECTOR_MIN_DISTINCT_AUTHORS": self.min_distinct_authors,
            "ABUSEWATCH_DETECTOR_COORDINATED_MIN_ABUSIVE_POSTS": self.coordinated_min_abusive_posts,
            "ABUSEWATCH_DETECTOR_COORDINATED_MIN_DISTINCT_AUTHORS": self.coordinated_min_distinct_authors,
        }
        if len({len(values) for values in columns.values()}) != 1:
            raise ConfigError(f"{', '.join(columns)} need the same number of values")
        rows = [Window(*(int(v) for v in row)) for row in zip(*columns.values())]
        for w in rows:
            if w.coordinated_min_posts > w.min_posts or w.coordinated_min_authors > w.min_authors:
                raise ConfigError(f"the coordinated floors of the {w.size_s}s window ({w.coordinated_min_posts} "
                                  f"posts, {w.coordinated_min_authors} authors) must not exceed its floors "
                                  f"({w.min_posts}, {w.min_authors})")
        return tuple(sorted(rows))


class Window(NamedTuple):
    """One event-time window and its floors: abusive posts (capped per author) and distinct authors,
    for any crowd and for one that looks coordinated."""

    size_s: int
    min_posts: int
    min_authors: int
    coordinated_min_posts: int
    coordinated_min_authors: int


def _env(field: str) -> str:
    """The environment variable a DetectorSettings field is read from."""
    return next(f.metadata["env"] for f in dataclasses.fields(DetectorSettings) if f.name == field)


def _label_thresholds(env: str, pairs: tuple[str, ...]) -> dict[str, float]:
    """label=threshold pairs as a dict. A misspelt label would never be reached and silently switch
    its threshold off, so only the post-scores contract's labels are accepted."""
    thresholds = {}
    for item in pairs:
        label, equals, value = item.partition("=")
        label = label.strip()
        try:
            threshold = float(value)
        except ValueError:
            threshold = float("nan")
        if not equals or label not in LABELS or not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"{env}: {item!r} is not label=threshold with a threshold from 0 to 1 and one of "
                              f"the labels {', '.join(LABELS)}")
        if label in thresholds:
            raise ConfigError(f"{env}: {label} is given twice")
        thresholds[label] = threshold
    return thresholds
