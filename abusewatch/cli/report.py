"""`abusewatch report --from DATE --to DATE [--out DIR]`: the transparency report, per UTC day.

What it counts is described in abusewatch/evidence/report.py (shared with the console's Reports page).
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import Any

from abusewatch.common import config
from abusewatch.evidence.report import PERCENTILES, build_report, csv_text
from abusewatch.evidence.settings import EvidenceSettings
from abusewatch.evidence.store import open_store


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


def run(args: argparse.Namespace) -> int:
    store = open_store(args.dsn or config.load(EvidenceSettings).dsn)
    try:
        report = build_report(store, args.first_day, args.last_day)
    finally:
        store.close()
    print(render_text(report))
    if args.out:
        json_path, csv_path = write_report(report, args.out)
        print(f"wrote {json_path} and {csv_path}")
    return 0
