"""The evidence locker: an append-only, hash-chained record of flagged posts, alerts, decisions and
appeals, in SQLite (embedded default) or PostgreSQL through one DB-API code path (store.py), with
case bundles that verify offline (bundle.py). docs/evidence.md describes the format.
"""

from abusewatch.evidence.chain import ChainRecord, GENESIS_HASH, canonical_json, record_hash
from abusewatch.evidence.store import ChainReport, EvidenceStore, NewRecord, open_store

__all__ = [
    "GENESIS_HASH",
    "ChainRecord",
    "ChainReport",
    "EvidenceStore",
    "NewRecord",
    "canonical_json",
    "open_store",
    "record_hash",
]
