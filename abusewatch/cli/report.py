"""`abusewatch report --from DATE --to DATE [--out DIR]`: the transparency report, per UTC day.

What it counts is described in abusewatch/evidence/report.py (shared with the console's Reports page).

`--statements-of-reasons` exports, for the same days, the DSA statements of reasons of the
restricting actions (abusewatch.integrations.statements) in request bodies of at most 100.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from abusewatch.common import config
from abusewatch.evidence.report import PERCENTILES, build_report, csv_text
from abusewatch.evidence.settings import EvidenceSettings
from abusewatch.evidence.store import EvidenceStore, open_store


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
    csv_path.write_text(csv_text(report), encoding="utf-8")
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
