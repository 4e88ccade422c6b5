"""Case bundles: everything the locker holds about one target or campaign, verifiable offline.

A bundle is a directory:
- records.jsonl: the chain records themselves (the source of truth; each hash recomputes);
- posts.csv, decisions.jsonl, alerts.jsonl, appeals.jsonl: readable views derived from them;
- checkpoints.jsonl: the signed checkpoints (signing.py) covering those records;
- manifest.json: format, subject, the locker's chain head at export, every record's seq and hash,
  the signing summary, and the SHA-256 of every other file.

`verify_bundle` checks every file hash, recomputes every record hash, and regenerates the views
from records.jsonl to check they were not edited. Checking the records against the locker itself
(`verify_bundle_against_store`) also catches a forger who rewrote records and manifest together;
so does, offline, checking the records against the signed checkpoints with the public keys.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from abusewatch.ingest.contract import format_time
from abusewatch.evidence.chain import ChainRecord, canonical_json
from abusewatch.evidence.signing import SignatureReport, SignedCheckpoint, verify_signed_records
from abusewatch.evidence.store import EvidenceStore
from abusewatch.scoring.labels import LABELS

BUNDLE_FORMAT = "abusewatch-case-bundle/v1"
MANIFEST = "manifest.json"
RECORDS = "records.jsonl"
CHECKPOINTS = "checkpoints.jsonl"


def case_records(
    store: EvidenceStore, *, target_id: str | None = None, campaign_id: str | None = None
) -> list[ChainRecord]:
    """The records about a target or a campaign, with the posts its alerts and decisions cite and
    the appeals against its decisions, in chain order."""
    if (target_id is None) == (campaign_id is None):
        raise ValueError("give exactly one of target_id or campaign_id")
    found = {r.seq: r for r in store.by_key(f"target:{target_id}" if target_id else f"campaign:{campaign_id}")}
    cited_posts: set[str] = set()
    for record in list(found.values()):
        if record.kind == "alert":
            cited_posts.update(record.payload["alert"]["top_post_ids"])
        elif record.kind == "decision":
            cited_posts.update(record.payload["message"]["evidence_post_ids"])
            found.update((r.seq, r) for r in store.by_key(f"appealed:{_decision_id(record)}"))
    for post_id in cited_posts:
        found.update((r.seq, r) for r in store.by_key(f"post:{post_id}", kinds=("post",)))
    return [found[seq] for seq in sorted(found)]


def _decision_id(record: ChainRecord) -> str:
    message = record.payload["message"]
    return message.get("action_id") or message["escalation_id"]


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(canonical_json(row) + "\n" for row in rows).encode("utf-8")


def _posts_csv(records: list[ChainRecord]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "post_id", "created_at", "url", "author_id", "targets", "text", *LABELS,
            "doxxing_kinds", "model", "matched_rules", "seq",
        ]
    )
    for record in records:
        if record.kind != "post":
            continue
        scored, post = record.payload["scored"], record.payload["scored"]["post"]
        writer.writerow(
            [
                scored["post_id"], post["created_at"], post.get("url") or "", scored["author_id"],
                ";".join(scored["targets"]), post["text"], *(scored["scores"][label] for label in LABELS),
                ";".join(scored["doxxing"]["kinds"]), f"{scored['model']['name']}@{scored['model']['version']}",
                ";".join(record.payload["matched_rules"]), record.seq,
            ]
        )
    return out.getvalue().encode("utf-8")


def derived_files(records: list[ChainRecord]) -> dict[str, bytes]:
    """The readable views, a pure function of the records (so verification can regenerate them)."""
    return {
        "posts.csv": _posts_csv(records),
        "decisions.jsonl": _jsonl(
            [{"seq": r.seq, **r.payload} for r in records if r.kind == "decision"]
        ),
        "alerts.jsonl": _jsonl([{"seq": r.seq, **r.payload["alert"]} for r in records if r.kind == "alert"]),
        "appeals.jsonl": _jsonl([{"seq": r.seq, **r.payload} for r in records if r.kind == "appeal"]),
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export_bundle(
    store: EvidenceStore,
    out_dir: str | Path,
    *,
    now: datetime,
    target_id: str | None = None,
    campaign_id: str | None = None,
) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=False)  # never mix two exports
    records = case_records(store, target_id=target_id, campaign_id=campaign_id)
    head_seq, head_hash = store.head()
    checkpoints = store.signed_checkpoints(covering=[r.seq for r in records])
    signed = {seq for c in checkpoints for seq in range(c.from_seq, c.seq + 1)}
    files = {
        RECORDS: _jsonl([r.to_json() for r in records]),
        CHECKPOINTS: _jsonl([c.to_json() for c in checkpoints]),
        **derived_files(records),
    }
    for name, data in files.items():
        (out / name).write_bytes(data)
    manifest = {
        "format": BUNDLE_FORMAT,
        "subject": {"target_id": target_id} if target_id else {"campaign_id": campaign_id},
        "exported_at": format_time(now),
        "chain_head": {"seq": head_seq, "hash": head_hash},
        "records": [{"seq": r.seq, "kind": r.kind, "hash": r.hash} for r in records],
        "signatures": {
            "scheme": "Ed25519 signed checkpoints (docs/evidence.md)",
            "checkpoints": len(checkpoints),
            "key_ids": sorted({c.key_id for c in checkpoints}),
            "unsigned_records": sorted(r.seq for r in records if r.seq not in signed),
        },
        "files": {name: _sha256(data) for name, data in sorted(files.items())},
        "hashing": "SHA-256 over canonical JSON (sorted keys, no spaces, UTF-8) of each record without its hash",
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def _read_records(path: Path) -> list[ChainRecord]:
    return [ChainRecord.from_json(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line]


def read_checkpoints(bundle: str | Path) -> list[SignedCheckpoint]:
    path = Path(bundle) / CHECKPOINTS
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return sorted((SignedCheckpoint.from_json(json.loads(line)) for line in lines if line), key=lambda c: c.seq)


def verify_bundle_signatures(bundle: str | Path, public_keys: Mapping[str, Any]) -> SignatureReport:
    """Every record of the bundle against its signed checkpoints, with only the public keys: a chain
    rewritten after signing (hashes recomputed consistently) fails here, offline."""
    root = Path(bundle)
    try:
        records = _read_records(root / RECORDS)
        checkpoints = read_checkpoints(root)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return SignatureReport(0, (), 0, 0, (f"cannot check signatures: {exc}",))
    return verify_signed_records(((r.seq, r.hash) for r in sorted(records, key=lambda r: r.seq)), checkpoints, public_keys)


def verify_bundle(bundle: str | Path) -> list[str]:
    """Problems found in a bundle directory; an empty list means it is intact (hashes, links and
    files; the signatures are checked by verify_bundle_signatures)."""
    root = Path(bundle)
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{MANIFEST}: unreadable: {exc}"]
    if manifest.get("format") != BUNDLE_FORMAT:
        return [f"{MANIFEST}: not a {BUNDLE_FORMAT} bundle"]
    problems = []
    listed = manifest["files"]
    present = {p.name for p in root.iterdir() if p.is_file()} - {MANIFEST}
    problems += [f"{name}: not listed in the manifest" for name in sorted(present - set(listed))]
    for name, expected in sorted(listed.items()):
        path = root / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif _sha256(path.read_bytes()) != expected:
            problems.append(f"{name}: SHA-256 does not match the manifest (file altered)")
    if not (root / RECORDS).is_file():
        return problems
    try:
        records = _read_records(root / RECORDS)
    except (ValueError, KeyError, TypeError) as exc:
        return [*problems, f"{RECORDS}: unreadable: {exc}"]
    problems += [f"{RECORDS}: seq {r.seq}: content does not match its hash" for r in records if not r.hash_is_valid()]
    if [{"seq": r.seq, "kind": r.kind, "hash": r.hash} for r in records] != manifest["records"]:
        problems.append(f"{RECORDS}: records differ from the manifest's list")
    for name, data in derived_files(records).items():
        if (root / name).is_file() and (root / name).read_bytes() != data:
            problems.append(f"{name}: differs from what {RECORDS} says")
    return problems


def verify_bundle_against_store(bundle: str | Path, store: EvidenceStore) -> list[str]:
    """Records of the bundle that the locker does not hold with the same hash."""
    problems = []
    for record in _read_records(Path(bundle) / RECORDS):
        stored = store.get(record.seq)
        if stored is None:
            problems.append(f"{RECORDS}: seq {record.seq}: not in the locker (purged by retention, or forged)")
        elif stored.hash != record.hash:
            problems.append(f"{RECORDS}: seq {record.seq}: hash differs from the locker's record")
    return problems
