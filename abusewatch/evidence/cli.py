"""`abusewatch evidence`: export and verify case bundles, verify the locker, purge, export labels.

  abusewatch evidence export --target ID | --campaign ID --out DIR
  abusewatch evidence verify BUNDLE [--db]    check a bundle offline (and against the locker)
  abusewatch evidence verify --db             check the locker's whole hash chain
  abusewatch evidence purge                   delete records past retention (keeps a checkpoint)
  abusewatch evidence labels [--out FILE]     decided appeals as JSONL labels for retraining
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from abusewatch import config
from abusewatch.appeals import appeal_labels
from abusewatch.contract import utcnow
from abusewatch.evidence.bundle import export_bundle, verify_bundle, verify_bundle_against_store
from abusewatch.evidence.chain import canonical_json
from abusewatch.evidence.settings import EvidenceSettings
from abusewatch.evidence.store import EvidenceStore, open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", help="evidence locker DSN (default: ABUSEWATCH_EVIDENCE_DSN)")
    actions = parser.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write a case bundle directory")
    subject = export.add_mutually_exclusive_group(required=True)
    subject.add_argument("--target", help="target account id")
    subject.add_argument("--campaign", help="campaign id (from target-alerts)")
    export.add_argument("--out", required=True, help="bundle directory to create (must not exist)")
    verify = actions.add_parser("verify", help="verify a bundle offline, or the locker's chain with --db")
    verify.add_argument("bundle", nargs="?", help="bundle directory")
    verify.add_argument("--db", action="store_true", help="verify against the locker (the whole chain if no bundle)")
    purge = actions.add_parser("purge", help="delete records older than the retention period")
    purge.add_argument("--older-than-days", type=int, help="default: ABUSEWATCH_EVIDENCE_RETENTION_DAYS")
    labels = actions.add_parser("labels", help="decided appeals as JSONL labels for retraining")
    labels.add_argument("--out", help="file to write (default: stdout)")


def _store(args: argparse.Namespace, settings: EvidenceSettings) -> EvidenceStore:
    return open_store(args.dsn or settings.dsn)


def _report(problems: list[str], ok_line: str) -> int:
    for problem in problems:
        print(f"TAMPERED: {problem}")
    if problems:
        print(f"FAILED: {len(problems)} problem(s)")
        return 1
    print(ok_line)
    return 0


def run(args: argparse.Namespace) -> int:
    settings = config.load(EvidenceSettings)
    if args.action == "verify" and args.bundle and not args.db:
        return _report(verify_bundle(args.bundle), f"OK: bundle {args.bundle} is intact")
    if args.action == "verify" and not args.bundle and not args.db:
        print("give a BUNDLE directory, --db, or both", file=sys.stderr)
        return 2
    store = _store(args, settings)
    try:
        if args.action == "export":
            out = export_bundle(store, args.out, now=utcnow(), target_id=args.target, campaign_id=args.campaign)
            print(f"wrote case bundle {out}")
            return 0
        if args.action == "verify":
            if args.bundle:
                problems = verify_bundle(args.bundle) + verify_bundle_against_store(args.bundle, store)
                return _report(problems, f"OK: bundle {args.bundle} is intact and matches the locker")
            report = store.verify()
            ok_line = f"OK: {report.records} records, head seq {report.head_seq} {report.head_hash}"
            return _report(list(report.problems), ok_line)
        if args.action == "purge":
            days = settings.retention_days if args.older_than_days is None else args.older_than_days
            print(f"purged {store.purge(utcnow() - timedelta(days=days))} record(s) older than {days} days")
            return 0
        lines = [canonical_json(label) + "\n" for label in appeal_labels(store)]
        if args.out:
            with open(args.out, "w", encoding="utf-8") as out_file:
                out_file.writelines(lines)
            print(f"wrote {len(lines)} label(s) to {args.out}")
        else:
            sys.stdout.writelines(lines)
        return 0
    finally:
        store.close()
