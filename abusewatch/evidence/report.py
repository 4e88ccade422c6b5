"""The transparency report over the evidence locker, per UTC day: what `abusewatch report` prints
and the console charts.

Computed from the evidence locker only: posts scored (the actions service's per-day counters),
actions by kind and by rule, revocations, shadow decisions, escalations by severity, appeals
(filed, decided, overturned) and the reversal rate (overturned / decided), and response times
from the triggering post's creation (or the alert's triggering event) to the decision being
issued: p50/p95/p99 by the nearest-rank method. Days follow each record's own time: scored_at
for counts of posts, issued_at / created_at for decisions, `at` for appeals.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, timedelta
from typing import Any

from abusewatch.common.stats import percentile
from abusewatch.ingest.contract import parse_time
from abusewatch.evidence.store import EvidenceStore

PERCENTILES = (50, 95, 99)


class _Day:
    def __init__(self) -> None:
        self.posts_scored = 0
        self.actions_by_kind: Counter[str] = Counter()
        self.actions_by_rule: Counter[str] = Counter()
        self.escalations_by_severity: Counter[str] = Counter()
        self.revocations = 0
        self.shadow_decisions = 0
        self.appeals: Counter[str] = Counter()  # filed, decided, overturned
        self.response_times_s: list[float] = []

    def add(self, other: _Day) -> None:
        self.posts_scored += other.posts_scored
        self.actions_by_kind += other.actions_by_kind
        self.actions_by_rule += other.actions_by_rule
        self.escalations_by_severity += other.escalations_by_severity
        self.revocations += other.revocations
        self.shadow_decisions += other.shadow_decisions
        self.appeals += other.appeals
        self.response_times_s += other.response_times_s

    def summary(self, label: str) -> dict[str, Any]:
        times = sorted(self.response_times_s)
        decided = self.appeals["decided"]
        return {
            "day": label,
            "posts_scored": self.posts_scored,
            "actions": {
                "total": sum(self.actions_by_kind.values()),
                "by_kind": dict(sorted(self.actions_by_kind.items())),
                "by_rule": dict(sorted(self.actions_by_rule.items())),
            },
            "revocations": self.revocations,
            "shadow_decisions": self.shadow_decisions,
            "escalations": {
                "total": sum(self.escalations_by_severity.values()),
                "by_severity": dict(sorted(self.escalations_by_severity.items())),
            },
            "appeals": {
                "filed": self.appeals["filed"],
                "decided": decided,
                "overturned": self.appeals["overturned"],
                "reversal_rate": self.appeals["overturned"] / decided if decided else None,
            },
            "response_time_s": {
                "decisions": len(times),
                **{f"p{p}": percentile(times, p) for p in PERCENTILES},
            },
        }


def build_report(store: EvidenceStore, first_day: date, last_day: date) -> dict[str, Any]:
    if last_day < first_day:
        raise ValueError(f"--to {last_day} is before --from {first_day}")
    days = {first_day + timedelta(days=n): _Day() for n in range((last_day - first_day).days + 1)}
    start, end = f"{first_day.isoformat()}T00:00:00", f"{(last_day + timedelta(days=1)).isoformat()}T00:00:00"
    for day_text, posts in store.scored_posts(first_day.isoformat(), last_day.isoformat()).items():
        days[date.fromisoformat(day_text)].posts_scored = posts
    for record in store.by_kind("decision", occurred_from=start, occurred_to=end):
        day = days[parse_time(record.occurred_at).date()]
        payload, message = record.payload, record.payload["message"]
        if payload["shadow"]:
            day.shadow_decisions += 1
            continue
        if payload["topic"] == "escalations":
            day.escalations_by_severity[message["severity"]] += 1
            issued = message["created_at"]
        elif message["op"] == "revoke":
            day.revocations += 1
            continue  # a reversal is not a response to a post
        else:
            day.actions_by_kind[message["kind"]] += 1
            day.actions_by_rule[payload["rule_id"]] += 1
            issued = message["issued_at"]
        day.response_times_s.append((parse_time(issued) - parse_time(payload["trigger_time"])).total_seconds())
    for record in store.by_kind("appeal", occurred_from=start, occurred_to=end):
        day = days[parse_time(record.occurred_at).date()]
        appeal = record.payload
        day.appeals[appeal["event"]] += 1
        if appeal["event"] == "decided" and appeal["outcome"] == "overturned":
            day.appeals["overturned"] += 1
    total = _Day()
    for day in days.values():
        total.add(day)
    return {
        "from": first_day.isoformat(),
        "to": last_day.isoformat(),
        "days": [summary.summary(day.isoformat()) for day, summary in days.items()],
        "total": total.summary("total"),
    }


def csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per day plus a total row; columns for every kind, rule and severity seen."""
    rows = []
    for entry in [*report["days"], report["total"]]:
        row: dict[str, Any] = {
            "day": entry["day"],
            "posts_scored": entry["posts_scored"],
            "actions_total": entry["actions"]["total"],
            "revocations": entry["revocations"],
            "shadow_decisions": entry["shadow_decisions"],
            "escalations_total": entry["escalations"]["total"],
            "appeals_filed": entry["appeals"]["filed"],
            "appeals_decided": entry["appeals"]["decided"],
            "appeals_overturned": entry["appeals"]["overturned"],
            "reversal_rate": entry["appeals"]["reversal_rate"],
            **{f"response_p{p}_s": entry["response_time_s"][f"p{p}"] for p in PERCENTILES},
        }
        row |= {f"actions_kind_{k}": n for k, n in entry["actions"]["by_kind"].items()}
        row |= {f"actions_rule_{r}": n for r, n in entry["actions"]["by_rule"].items()}
        row |= {f"escalations_{s}": n for s, n in entry["escalations"]["by_severity"].items()}
        rows.append(row)
    columns = list(dict.fromkeys(column for row in rows for column in row))
    return [{column: row.get(column, 0) for column in columns} for row in rows]


def csv_text(report: dict[str, Any]) -> str:
    """csv_rows as CSV text, header first."""
    rows = csv_rows(report)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
