"""Scoring detector output against a scenario's ground truth (used by `abusewatch replay`)."""

from __future__ import annotations

import bisect
import dataclasses
import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

from abusewatch.common.stats import percentile
from abusewatch.detection.features import epoch_seconds

PILE_ON_KINDS = frozenset({"pile_on", "hop", "slow_burn", "mixed_pile_on"})
# Pile-ons whose waves last minutes (issue 21's delay targets: 20+ replies within 10 minutes); a
# slow burn spreads its posts over hours and is found on the hour window by design.
BURST_KINDS = PILE_ON_KINDS - {"slow_burn"}
# Episodes that must never alert; an alert on one is a false alert.
BENIGN_KINDS = frozenset({"persistent_abuser", "viral_benign", "friendly_flood", "disagreement_wave",
                          "viral_noisy_start"})
EPISODE_KINDS = PILE_ON_KINDS | BENIGN_KINDS


class TruthError(ValueError):
    """A ground-truth row the evaluation cannot score (an unknown kind would silently count as benign)."""


@dataclasses.dataclass(frozen=True)
class Episode:
    target: str
    start: float
    end: float
    kind: str
    name: str
    explicit_share: float | None = None  # mixed pile-ons: the share of explicit abuse

    @property
    def group(self) -> str:
        """The per-kind report's key: mixed pile-ons are reported per explicit-abuse share."""
        return self.kind if self.explicit_share is None else f"{self.kind}@{self.explicit_share:g}"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Episode:
        kind = row.get("kind", "pile_on")
        if kind not in EPISODE_KINDS:
            raise TruthError(f"unknown episode kind {kind!r} (episode {row.get('episode', '?')!r}); "
                             f"accepted kinds: {', '.join(sorted(EPISODE_KINDS))}")
        return cls(row["target"], epoch_seconds(row["start"]), epoch_seconds(row["end"]), kind,
                   row.get("episode", ""), row.get("explicit_share"))


def score_alerts(
    alerts: Iterable[dict[str, Any]], truth: list[Episode], benign_posts: int, match_slack_s: float,
    crowd_times: dict[Episode, list[float]] | None = None,
) -> dict[str, Any]:
    """Campaign-level precision, episode recall, detection delay (event-time seconds and, given
    crowd_times, crowd posts) and false alerts per million benign posts. crowd_times holds, per
    pile-on episode, the sorted event times of its target's posts from non-followers since the
    episode began (the crowd, as far as the stream can tell); the delay in posts is how many of
    them came up to the first alert, that alert's post included. A campaign (its first alert) is true when it opens on an episode's target between
    the episode's start and end + match_slack_s; campaigns matching no pile-on episode are false
    alerts (including ones on a persistent single abuser or a viral benign burst). An episode is
    detected by its target's first 'opened' or 'escalating' alert in that span: a second wave
    against a target whose campaign is still cooling is reported as the campaign resuming."""
    alerts = list(alerts)
    first_alert: dict[str, dict[str, Any]] = {}
    links: dict[str, list[str]] = {}
    for alert in alerts:
        first_alert.setdefault(alert["campaign_id"], alert)
        links.setdefault(alert["campaign_id"], [])
        links[alert["campaign_id"]].extend(alert.get("linked_campaign_ids") or ())
    by_target: dict[str, list[Episode]] = {}
    for episode in truth:
        by_target.setdefault(episode.target, []).append(episode)

    detected: dict[Episode, float] = {}  # episode -> first alert event time
    campaign_episode: dict[str, Episode] = {}
    false_campaigns: list[dict[str, Any]] = []
    for campaign_id, alert in first_alert.items():
        ts = epoch_seconds(alert["event_time"])
        # A target can host a pile-on and, overlapping it, a persistent abuser or a viral burst: the
        # alert is true if any pile-on episode spans it, whichever episode is listed first.
        spanning = [e for e in by_target.get(alert["target_id"], ()) if e.start <= ts <= e.end + match_slack_s]
        match = next((e for e in spanning if e.kind in PILE_ON_KINDS), spanning[0] if spanning else None)
        if match is None or match.kind not in PILE_ON_KINDS:
            false_campaigns.append({"campaign_id": campaign_id, "target_id": alert["target_id"],
                                    "event_time": alert["event_time"], "episode": match.name if match else None,
                                    "kind": match.kind if match else "background"})
            continue
        campaign_episode[campaign_id] = match
    for alert in alerts:
        if alert["status"] not in ("opened", "escalating"):
            continue
        ts = epoch_seconds(alert["event_time"])
        for episode in by_target.get(alert["target_id"], ()):
            if episode.kind in PILE_ON_KINDS and episode.start <= ts <= episode.end + match_slack_s:
                detected[episode] = min(ts, detected.get(episode, ts))

    def posts_before(episode: Episode) -> int | None:
        if crowd_times is None:
            return None
        return bisect.bisect_right(crowd_times.get(episode, []), detected[episode])

    def delays_of(episodes: list[Episode]) -> dict[str, Any]:
        hits = [e for e in episodes if e in detected]
        delays = [detected[e] - e.start for e in hits]
        row: dict[str, Any] = {
            "recall": len(hits) / len(episodes) if episodes else None,
            "delay_s_median": statistics.median(delays) if delays else None,
            "delay_s_p95": percentile(delays, 95),
        }
        if crowd_times is not None:
            counts = [posts_before(e) for e in hits]
            row["delay_posts_median"] = statistics.median(counts) if counts else None
            row["delay_posts_p95"] = percentile(counts, 95)
        return row

    alerted_campaigns = Counter(f["episode"] for f in false_campaigns if f["episode"])
    per_kind: dict[str, dict[str, Any]] = {}
    for group in sorted({e.group for e in truth}):
        episodes = [e for e in truth if e.group == group]
        row: dict[str, Any] = {"episodes": len(episodes), "detected": sum(1 for e in episodes if e in detected)}
        if episodes[0].kind in PILE_ON_KINDS:
            row.update(delays_of(episodes))
        else:
            row.update(recall=row["detected"] / len(episodes), delay_s_median=None, delay_s_p95=None,
                       episodes_alerted=sum(1 for e in episodes if alerted_campaigns[e.name]))
        per_kind[group] = row
    pile_ons = [e for e in truth if e.kind in PILE_ON_KINDS]
    overall = delays_of(pile_ons)
    bursts = [e for e in truth if e.kind in BURST_KINDS]
    # Linking: a later hop of a crowd should carry the campaign id of an earlier hop.
    hop_campaigns = {cid: e for cid, e in campaign_episode.items() if e.kind == "hop"}
    later_hops = [cid for cid, e in hop_campaigns.items()
                  if any(o.name == e.name and o.start < e.start for o in hop_campaigns.values())]
    linked_hops = [cid for cid in later_hops
                   if any(hop_campaigns.get(other) and hop_campaigns[other].name == hop_campaigns[cid].name
                          for other in links.get(cid, ()))]
    campaigns = len(first_alert)
    return {
        "campaigns": campaigns,
        "true_campaigns": campaigns - len(false_campaigns),
        "false_campaigns": len(false_campaigns),
        "precision": (campaigns - len(false_campaigns)) / campaigns if campaigns else None,
        "recall": overall["recall"],
        "delay_s_median": overall["delay_s_median"],
        "delay_s_p95": overall["delay_s_p95"],
        "delay_posts_median": overall.get("delay_posts_median"),
        "delay_posts_p95": overall.get("delay_posts_p95"),
        # the same over the pile-ons that last minutes (BURST_KINDS): what the delay targets are about
        "bursts": {"episodes": len(bursts), "detected": sum(1 for e in bursts if e in detected), **delays_of(bursts)},
        "benign_posts": benign_posts,
        "false_alerts_per_million_benign_posts": len(false_campaigns) / benign_posts * 1e6 if benign_posts else None,
        "later_hops_detected": len(later_hops),
        "later_hops_linked": len(linked_hops),
        "per_kind": per_kind,
        "false_campaign_examples": false_campaigns[:10],
    }
