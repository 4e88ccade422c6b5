"""`abusewatch evidence`: export and verify case bundles, verify the locker, purge, export labels.

  abusewatch evidence export --target ID | --campaign ID --out DIR
  abusewatch evidence verify BUNDLE [--db]    check a bundle offline (and against the locker)
  abusewatch evidence verify --db             check the locker's whole hash chain
      ... [--public-key FILE]...             and the signed checkpoints, with only the public keys
  abusewatch evidence keygen --out FILE       a new Ed25519 signing key; prints its public key and id
  abusewatch evidence public-key [--out FILE] the configured signing key's public key
  abusewatch evidence purge                   delete records past retention (keeps a checkpoint)
  abusewatch evidence labels [--out FILE]     decided appeals, then suggestscore suggestions, as JSONL labels
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from abusewatch.common import config
from abusewatch.actions.appeals import appeal_labels
from abusewatch.evidence.records import suggestion_labels
from abusewatch.ingest.contract import utcnow
from abusewatch.evidence.bundle import (
    MANIFEST,
    export_bundle,
    verify_bundle,
    verify_bundle_against_store,
    verify_bundle_signatures,
)
from abusewatch.evidence.chain import canonical_json
from abusewatch.evidence.settings import EvidenceSettings, EvidenceSigningSettings
from abusewatch.evidence.signing import (
    SignatureReport,
    key_id,
    load_public_key,
    load_signer,
    private_key_pem,
    public_key_pem,
    public_keys_by_id,
)
from abusewatch.evidence.store import EvidenceStore, configure_signing, open_store


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
    verify.add_argument(
        "--public-key",
        action="append",
        default=[],
        metavar="FILE",
        help="Ed25519 public key (PEM) that signed checkpoints; repeat for rotated keys. Without one the"
        " signatures are not checked",
    )
    keygen = actions.add_parser("keygen", help="write a new Ed25519 signing key; print its public key and id")
    keygen.add_argument("--out", required=True, help="private key file to create (PEM, mode 0600, must not exist)")
    keygen.add_argument("--public-out", help="also write the public key (PEM) here")
    public = actions.add_parser("public-key", help="print (or write) the configured signing key's public key")
    public.add_argument("--out", help="file to write (default: stdout)")
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


def _write_new(path: str, data: bytes, mode: int) -> None:
    """Create `path` with `mode` from the start (a private key is never world-readable, even briefly)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def _keygen(args: argparse.Namespace) -> int:
    key = Ed25519PrivateKey.generate()
    try:
        _write_new(args.out, private_key_pem(key), 0o600)
        if args.public_out:
            _write_new(args.public_out, public_key_pem(key.public_key()), 0o644)
    except FileExistsError as exc:
        print(f"{exc.filename} exists: not overwriting a key", file=sys.stderr)
        return 2
    print(f"wrote signing key {args.out} (key id {key_id(key.public_key())}); its public key:")
    sys.stdout.write(public_key_pem(key.public_key()).decode("ascii"))
    return 0


def _public_key(args: argparse.Namespace) -> int:
    try:
        signer = load_signer(config.load(EvidenceSigningSettings))
    except ValueError as exc:
        print(f"invalid signing key: {exc}", file=sys.stderr)
        return 2
    if signer is None:
        print("no signing key configured (ABUSEWATCH_EVIDENCE_SIGNING_KEY or ..._KEY_FILE)", file=sys.stderr)
        return 2
    pem = public_key_pem(signer.public_key)
    if args.out:
        try:
            _write_new(args.out, pem, 0o644)
        except FileExistsError:
            print(f"{args.out} exists: not overwriting it", file=sys.stderr)
            return 2
        print(f"wrote public key {signer.key_id} to {args.out}")
    else:
        sys.stdout.write(pem.decode("ascii"))
    return 0


def _public_keys(args: argparse.Namespace) -> dict[str, Ed25519PublicKey]:
    keys = []
    for path in args.public_key:
        with open(path, "rb") as key_file:
            keys.append(load_public_key(key_file.read()))
    return public_keys_by_id(keys)


def _signature_summary(report: SignatureReport | None) -> str:
    if report is None:
        return "signatures NOT checked (give --public-key): a consistently rewritten chain would pass"
    keys = ", ".join(report.key_ids) or "-"
    line = f"{report.vouched} record(s) vouched for by {report.checkpoints} signed checkpoint(s), keys {keys}"
    return line + (f"; {report.unsigned_tail} newest record(s) not signed yet" if report.unsigned_tail else "")


def _verify(args: argparse.Namespace, settings: EvidenceSettings) -> int:
    if not args.bundle and not args.db:
        print("give a BUNDLE directory, --db, or both", file=sys.stderr)
        return 2
    try:
        keys = _public_keys(args)
    except (OSError, ValueError) as exc:
        print(f"cannot read public key: {exc}", file=sys.stderr)
        return 2
    if args.bundle:
        problems = verify_bundle(args.bundle)
        signatures = verify_bundle_signatures(args.bundle, keys) if keys else None
        problems += list(signatures.problems) if signatures else []
        if not args.db:
            return _report(problems, f"OK: bundle {args.bundle} is intact; {_signature_summary(signatures)}")
    store = _store(args, settings)
    try:
        if args.bundle:
            problems += verify_bundle_against_store(args.bundle, store)
            summary = _signature_summary(signatures)
            ok_line = f"OK: bundle {args.bundle} is intact and matches the locker; {summary}"
            return _report(problems, ok_line)
        report = store.verify()
        signatures = store.verify_signatures(keys) if keys else None
        summary = _signature_summary(signatures)
        ok_line = f"OK: {report.records} records, head seq {report.head_seq} {report.head_hash}; {summary}"
        return _report(list(report.problems) + list(signatures.problems if signatures else ()), ok_line)
    finally:
        store.close()


def run(args: argparse.Namespace) -> int:
    settings = config.load(EvidenceSettings)
    if args.action == "verify":
        return _verify(args, settings)
    if args.action == "keygen":
        return _keygen(args)
    if args.action == "public-key":
        return _public_key(args)
    store = _store(args, settings)
    try:
        if args.action == "export":
            try:
                signer = configure_signing(store, config.load(EvidenceSigningSettings))
            except ValueError as exc:
                print(f"invalid signing key: {exc}", file=sys.stderr)
                return 2
            if signer is not None:
                store.sign_pending()  # so the bundle's newest records are vouched for too
            out = export_bundle(store, args.out, now=utcnow(), target_id=args.target, campaign_id=args.campaign)
            print(f"wrote case bundle {out}")
            signatures = json.loads((out / MANIFEST).read_text(encoding="utf-8"))["signatures"]
            if signatures["unsigned_records"]:
                print(
                    f"WARNING: {len(signatures['unsigned_records'])} record(s) not covered by a signed checkpoint"
                    f" ({signatures['checkpoints']} in the bundle): `verify --public-key` will fail for them;"
                    " configure ABUSEWATCH_EVIDENCE_SIGNING_KEY(_FILE) or export after the next checkpoint"
                )
            return 0
        if args.action == "purge":
            days = settings.retention_days if args.older_than_days is None else args.older_than_days
            print(f"purged {store.purge(utcnow() - timedelta(days=days))} record(s) older than {days} days")
            return 0
        lines = [canonical_json(label) + "\n" for label in appeal_labels(store)]
        lines += [canonical_json(label) + "\n" for label in suggestion_labels(store)]
        if args.out:
            with open(args.out, "w", encoding="utf-8") as out_file:
                out_file.writelines(lines)
            print(f"wrote {len(lines)} label(s) to {args.out}")
        else:
            sys.stdout.writelines(lines)
        return 0
    finally:
        store.close()
