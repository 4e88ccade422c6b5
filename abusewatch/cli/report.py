"""`abusewatch report --from DATE --to DATE [--out DIR]`: the transparency report, per UTC day.

Computed from the evidence locker only: posts scored (the actions service's per-day counters),
actions by kind and by rule, revocations, shadow decisions, escalations by severity, appeals
(filed, decided, overturned) and the reversal rate (overturned / decided), and response times
from the triggering post's creation (or the alert's triggering event) to the decision being
issued: p50/p95/p99 by the nearest-rank method. Days follow each record's own time: scored_at
for counts of posts, issued_at / created_at for decisions, `at` for appeals.

`--statements-of-reasons` exports, for the same days, the DSA statements of reasons of the
restricting actions (abusewatch.integrations.statements) in request bodies of at most 100.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from abusewatch.common import config
from abusewatch.ingest.contract import parse_time
from abusewatch.evidence.settings import EvidenceSettings
from abusewatch.evidence.store import EvidenceStore, open_store

PERCENTILES = (50, 95, 99)


def percentile(sorted_values: list[float], p: int) -> float | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not sorted_values:
        return None
    return sorted_values[max(math.ceil(p / 100 * len(sorted_values)) - 1, 0)]


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


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_text(report: dict[str, Any]) -> str:
    lines = [
        f"abusewatch transparency report {report['from']} .. {report['to']} (UTC days)",
        f"{'day':<10} {'scored':>8} {'actions':>8} {'revoked':>8} {'escal.':>7} {'appeals':>8} {'overt.':>7}"
        f" {'rev.rate':>8} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7}",
    ]
    for entry in [*report["days"], report["total"]]:
        appeals, times = entry["appeals"], entry["response_time_s"]
        rate = "-" if appeals["reversal_rate"] is None else f"{appeals['reversal_rate']:.0%}"
        lines.append(
            f"{entry['day']:<10} {entry['posts_scored']:>8} {entry['actions']['total']:>8} {entry['revocations']:>8}"
            f" {entry['escalations']['total']:>7} {appeals['filed']:>8} {appeals['overturned']:>7} {rate:>8}"
            f" {_seconds(times['p50']):>7} {_seconds(times['p95']):>7} {_seconds(times['p99']):>7}"
        )
    total = report["total"]
    for title, counts in (
        ("actions by kind", total["actions"]["by_kind"]),
        ("actions by rule", total["actions"]["by_rule"]),
        ("escalations by severity", total["escalations"]["by_severity"]),
    ):
        lines.append(f"{title}: " + (", ".join(f"{name} {n}" for name, n in counts.items()) or "none"))
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out / "report.json", out / "report.csv"
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    rows = csv_rows(report)
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from", dest="first_day", required=True, type=date.fromisoformat, help="first UTC day, YYYY-MM-DD"
    )
    parser.add_argument(
        "--to", dest="last_day", required=True, type=date.fromisoformat, help="last UTC day, inclusive"
    )
    parser.add_argument("--out", help="also write report.json and report.csv into this directory")
    parser.add_argument("--dsn", help="evidence locker DSN (default: ABUSEWATCH_EVIDENCE_DSN)")
    parser.add_argument(
        "--statements-of-reasons", action="store_true",
        help="instead: the DSA statements of reasons for the actions issued in those days, as request bodies of "
             "at most 100 statements (into --out as statements-of-reasons-NNNN.json, else one JSON line each)",
    )


def statement_batches(store: EvidenceStore, first_day: date, last_day: date) -> list[dict[str, Any]]:
    """The statements of reasons for the decisions recorded in those days, batched for the API."""
    from abusewatch.integrations.settings import StatementSettings
    from abusewatch.integrations.statements import StatementOptions, batches, restricts, statements

    settings = config.load(StatementSettings)
    options = StatementOptions(settings.territorial_scope, settings.terms_url)
    start, end = f"{first_day.isoformat()}T00:00:00", f"{(last_day + timedelta(days=1)).isoformat()}T00:00:00"
    payloads = [r.payload for r in store.by_kind("decision", occurred_from=start, occurred_to=end)]
    originals = {}
    for payload in payloads:
        revokes = payload["message"].get("revokes") if restricts(payload) else None
        if revokes:
            found = store.by_key(f"decision:{revokes}", kinds=("decision",))
            if found:
                originals[revokes] = found[0].payload
    return list(batches(statements(payloads, options, originals)))


def export_statements(args: argparse.Namespace, store: EvidenceStore) -> int:
    found = statement_batches(store, args.first_day, args.last_day)
    if not args.out:
        for batch in found:
            print(json.dumps(batch, separators=(",", ":")))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for number, batch in enumerate(found, 1):
        (out / f"statements-of-reasons-{number:04d}.json").write_text(json.dumps(batch, indent=2) + "\n", encoding="utf-8")
    total = sum(len(batch["statements"]) for batch in found)
    print(f"wrote {total} statements of reasons in {len(found)} files to {out}")
    return 0


def run(args: argparse.Namespace) -> int:
    store = open_store(args.dsn or config.load(EvidenceSettings).dsn)
    if args.statements_of_reasons:
        try:
            if args.last_day < args.first_day:
                raise ValueError(f"--to {args.last_day} is before --from {args.first_day}")
            return export_statements(args, store)
        finally:
            store.close()
    try:
        report = build_report(store, args.first_day, args.last_day)
    finally:
        store.close()
    print(render_text(report))
    if args.out:
        json_path, csv_path = write_report(report, args.out)
        print(f"wrote {json_path} and {csv_path}")
    return 0
