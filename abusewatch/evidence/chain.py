"""The hash chain: canonical JSON, SHA-256 and the record envelope every hash covers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64  # prev_hash of the first record ever appended


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclasses.dataclass(frozen=True, slots=True)
class ChainRecord:
    """One stored record. `hash` covers every other field, `prev_hash` included."""

    seq: int
    kind: str
    occurred_at: str
    recorded_at: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def envelope(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "occurred_at": self.occurred_at,
            "recorded_at": self.recorded_at,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
        }

    def hash_is_valid(self) -> bool:
        return record_hash(self.envelope()) == self.hash

    def to_json(self) -> dict[str, Any]:
        return {**self.envelope(), "hash": self.hash}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChainRecord:
        return cls(
            seq=data["seq"],
            kind=data["kind"],
            occurred_at=data["occurred_at"],
            recorded_at=data["recorded_at"],
            payload=data["payload"],
            prev_hash=data["prev_hash"],
            hash=data["hash"],
        )


def record_hash(envelope: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(envelope).encode("utf-8")).hexdigest()
