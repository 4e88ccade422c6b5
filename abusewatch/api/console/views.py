"""What the console's pages show, computed from evidence-locker records. Pure: records in, dicts out.

Record kinds and keys are those abusewatch/evidence/records.py writes (alert, post, decision, appeal)
plus `review` (a reviewer claiming an escalation, written by the console itself).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from abusewatch.api.cases import open_campaigns_from_alerts
from abusewatch.evidence import ChainRecord
from abusewatch.ingest.contract import parse_time
from abusewatch.ingest.messages import SEVERITIES


def severity_rank(severity: str | None) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _age_s(since: str, now: datetime) -> float:
    return max((now - parse_time(since)).total_seconds(), 0.0)


def campaign_rows(
    alerts: Iterable[ChainRecord], escalations: Iterable[ChainRecord], now: datetime
) -> list[dict[str, Any]]:
    """The open campaigns (abusewatch.api.cases.open_campaigns_from_alerts, the API's own reading)
    as the live table's rows, most recent activity first. Severity is the highest of the campaign's
    escalations (none yet: empty)."""
    worst: dict[str, str] = {}
    for record in escalations:
        message = record.payload["message"]
        campaign_id = message.get("campaign_id") or message["reasons"].get("campaign_id")
        if campaign_id and severity_rank(message["severity"]) < severity_rank(worst.get(campaign_id)):
            worst[campaign_id] = message["severity"]
    rows = []
    for campaign in open_campaigns_from_alerts(alerts):
        alert = campaign["latest_alert"]
        last_activity = alert.get("event_time") or alert["detected_at"]
        rows.append({
            "campaign_id": campaign["campaign_id"],
            "target_id": campaign["target_id"],
            "status": campaign["status"],
            "alerts": campaign["alerts"],
            "first_detected_at": campaign["first_detected_at"],
            "abusive_posts": alert["counts"]["abusive_posts"],
            "total_posts": alert["counts"]["total_posts"],
            "distinct_authors": alert["distinct_authors"],
            "new_account_share": alert["new_account_share"],
            "non_follower_share": alert["non_follower_share"],
            "last_activity_at": last_activity,
            "severity": worst.get(campaign["campaign_id"]),
            "age_s": _age_s(campaign["first_detected_at"], now),
            "idle_s": _age_s(last_activity, now),
        })
    return sorted(rows, key=lambda row: row["last_activity_at"], reverse=True)


@dataclasses.dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    minute: str


@dataclasses.dataclass(frozen=True)
class Chart:
    """Geometry of a per-minute chart, in SVG user units (the template draws it)."""

    width: int
    height: int
    bars: list[Bar]  # flagged replies per minute
    alert_marks: list[dict[str, Any]]  # x, label
    max_count: int
    first_minute: str | None
    last_minute: str | None


def timeline_chart(
    post_times: Iterable[str], alerts: Iterable[dict[str, Any]], *, width: int = 720, height: int = 160
) -> Chart:
    """Flagged replies per minute, with a mark at each alert's event time."""
    minutes = Counter(parse_time(at).replace(second=0, microsecond=0) for at in post_times)
    alert_times = [(parse_time(a.get("event_time") or a["detected_at"]), a) for a in alerts]
    points = list(minutes) + [at.replace(second=0, microsecond=0) for at, _ in alert_times]
    if not points:
        return Chart(width, height, [], [], 0, None, None)
    first, last = min(points), max(points)
    slots = int((last - first).total_seconds() // 60) + 1
    slot_width = width / slots
    top = max(minutes.values(), default=1)
    plot = height - 20  # room for the alert labels
    bars = []
    for index in range(slots):
        minute = first + timedelta(minutes=index)
        count = minutes.get(minute, 0)
        if count:
            bar_height = plot * count / top
            bars.append(Bar(index * slot_width, height - bar_height, max(slot_width - 1, 1), bar_height, count,
                            minute.strftime("%H:%M")))
    marks = [
        {"x": (at - first).total_seconds() / 60 * slot_width, "label": alert["status"],
         "title": f"{alert['status']} at {at.strftime('%H:%M:%S')}: {alert['counts']['abusive_posts']} abusive of "
                  f"{alert['counts']['total_posts']} posts, {alert['distinct_authors']} accounts"}
        for at, alert in alert_times
    ]
    return Chart(width, height, bars, marks, top, first.strftime("%Y-%m-%d %H:%M"), last.strftime("%H:%M"))


def account_age_days(post: dict[str, Any]) -> float | None:
    created = post.get("author_created_at")
    if not created:
        return None
    return round((parse_time(post["created_at"]) - parse_time(created)).total_seconds() / 86_400, 1)


def evidence_post(record: ChainRecord) -> dict[str, Any]:
    scored = record.payload["scored"]
    labels = sorted(scored["scores"].items(), key=lambda item: item[1], reverse=True)
    return {
        "post_id": scored["post_id"],
        "author_id": scored["author_id"],
        "created_at": scored["post"]["created_at"],
        "text": scored["post"]["text"],
        "top_labels": labels[:3],
        "rules": record.payload.get("matched_rules", []),
        "doxxing": (scored.get("doxxing") or {}).get("kinds", []),
        "threats": (scored.get("threats") or {}).get("kinds", []),
        "extortion": (scored.get("extortion") or {}).get("kinds", []),
        # What the hostility layer found ("dismissal", ...): why a post the model scored clean may be
        # evidence (the detector counts it only from new accounts not following the target).
        "hostility": [f"hostility: {kind}" for kind in (scored.get("hostility") or {}).get("kinds", [])],
        "model": scored["model"],
        "seq": record.seq,
        "hash": record.hash,
    }


def authors_of(posts: list[ChainRecord], other_campaigns: dict[str, set[str]]) -> list[dict[str, Any]]:
    """The accounts behind a campaign's evidence posts, most posts first. `other_campaigns` maps an
    author id to the campaigns (besides this one) whose alerts sampled them."""
    authors: dict[str, dict[str, Any]] = {}
    for record in posts:
        post = record.payload["scored"]["post"]
        author = authors.setdefault(post["author_id"], {"author_id": post["author_id"], "posts": 0})
        author["posts"] += 1
        author["account_age_days"] = account_age_days(post)
        author["followers"] = post.get("author_follower_count")
        author["follows_target"] = post.get("author_follows_target")
        author["other_campaigns"] = sorted(other_campaigns.get(post["author_id"], ()))
    return sorted(authors.values(), key=lambda author: (-author["posts"], author["author_id"]))


def reviews_by_decision(appeals: Iterable[ChainRecord], reviews: Iterable[ChainRecord]) -> dict[str, dict[str, Any]]:
    """decision id -> its review state: the latest claim and the latest decided appeal."""
    state: dict[str, dict[str, Any]] = defaultdict(dict)
    for record in reviews:
        review = record.payload
        state[review["escalation_id"]]["claim"] = review
    for record in appeals:
        appeal = record.payload
        if appeal["event"] == "decided":
            state[appeal["decision_id"]]["decided"] = appeal
    return state


def review_queue(
    escalations: Iterable[ChainRecord],
    state: dict[str, dict[str, Any]],
    *,
    now: datetime,
    sla_s: dict[str, float],
) -> list[dict[str, Any]]:
    """Undecided, unexpired escalations (shadow ones excluded), most severe first, then oldest."""
    queue = []
    for record in escalations:
        if record.payload["shadow"]:
            continue
        escalation = record.payload["message"]
        review = state.get(escalation["escalation_id"], {})
        if "decided" in review:
            continue
        if escalation.get("expires_at") and parse_time(escalation["expires_at"]) <= now:
            continue
        sla = sla_s.get(escalation["severity"])
        due = parse_time(escalation["created_at"]) + timedelta(seconds=sla) if sla is not None else None
        queue.append({
            "escalation": escalation,
            "rule_id": record.payload["rule_id"],
            "age_s": _age_s(escalation["created_at"], now),
            "due_at": due.isoformat() if due else None,
            "due_in_s": (due - now).total_seconds() if due else None,
            "claimed_by": review.get("claim", {}).get("reviewer_id"),
        })
    return sorted(queue, key=lambda item: (severity_rank(item["escalation"]["severity"]), -item["age_s"]))


def actions_in_force(decisions: Iterable[ChainRecord], *, now: datetime) -> list[dict[str, Any]]:
    """Applied, unexpired actions that no revoke names, soonest to expire first."""
    applied: dict[str, dict[str, Any]] = {}
    revoked: set[str] = set()
    for record in decisions:
        payload = record.payload
        if payload["topic"] != "platform-actions" or payload["shadow"]:
            continue
        message = payload["message"]
        if message["op"] == "revoke":
            revoked.add(message["revokes"])
        elif parse_time(message["expires_at"]) > now:
            applied[message["action_id"]] = {"action": message, "rule_id": payload["rule_id"],
                                             "expires_in_s": (parse_time(message["expires_at"]) - now).total_seconds()}
    return sorted((row for action_id, row in applied.items() if action_id not in revoked),
                  key=lambda row: row["action"]["expires_at"])


def shadow_hits(decisions: Iterable[ChainRecord]) -> dict[str, dict[str, int]]:
    """rule id -> UTC day -> shadow decisions recorded (what the rule would have done)."""
    hits: dict[str, Counter[str]] = defaultdict(Counter)
    for record in decisions:
        if record.payload["shadow"]:
            hits[record.payload["rule_id"]][record.occurred_at[:10]] += 1
    return {rule: dict(sorted(days.items())) for rule, days in hits.items()}


def day_bars(days: list[dict[str, Any]], value: str, *, width: int = 720, height: int = 120) -> dict[str, Any]:
    """Bars of one per-day figure of the transparency report ("actions.total", "escalations.total", ...)."""
    def pick(day: dict[str, Any]) -> float:
        found: Any = day
        for part in value.split("."):
            found = found[part]
        return found or 0

    counts = [pick(day) for day in days]
    top = max(counts, default=0) or 1
    slot = width / max(len(days), 1)
    bars = [
        {"x": i * slot, "width": max(slot - 2, 1), "height": (height - 14) * n / top, "y": height - (height - 14) * n / top,
         "count": n, "day": day["day"]}
        for i, (day, n) in enumerate(zip(days, counts))
    ]
    return {"width": width, "height": height, "bars": bars, "max": top}
