"""Signed checkpoints: Ed25519 signatures that vouch for segments of the hash chain.

A hash chain shows that records were not edited one at a time, but whoever can write the database
can recompute every hash from record k on and the chain verifies again. A signed checkpoint covers
the segment of seqs from_seq..seq: it signs the head hash at seq, the prev_hash the segment starts
from, and the SHA-256 of the list of the segment's record hashes. The list is kept with the
checkpoint, so any record of the segment (a case bundle holds a scattered few) can be shown to be
the record that was signed, with only the public key. Checkpoints live in their own table, never in
the chain rows an attacker would rewrite; a rewrite after signing changes a hash the signature
pins. docs/evidence.md ("Signed checkpoints") describes the format, the key and its rotation.

Kafka- and database-free: the store (store.py) decides when to sign and keeps the rows.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from abusewatch.evidence.chain import canonical_json
from abusewatch.evidence.settings import EvidenceSigningSettings

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "abusewatch-signed-checkpoint/v1"


# -- keys -------------------------------------------------------------------------------------


def key_id(public_key: Ed25519PublicKey) -> str:
    """Derived from the public key itself, so an id can never name the wrong key; a new key (rotation)
    gets a new id by construction."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def _key_bytes(text: str | bytes, what: str) -> tuple[bytes, bool]:
    """(bytes, is_pem): PEM text, or base64 of the 32 raw key bytes."""
    data = text.encode("ascii", "replace") if isinstance(text, str) else text
    data = data.strip()
    if data.startswith(b"-----BEGIN"):
        return data, True
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what}: neither PEM nor base64") from None
    if len(raw) != 32:
        raise ValueError(f"{what}: base64 must encode the 32 raw bytes of an Ed25519 key, got {len(raw)} bytes")
    return raw, False


def load_private_key(text: str | bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PKCS#8 PEM (as `abusewatch evidence keygen` writes) or base64 raw bytes."""
    data, is_pem = _key_bytes(text, "signing key")
    if not is_pem:
        return Ed25519PrivateKey.from_private_bytes(data)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"signing key: unreadable PEM ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"signing key: expected an Ed25519 key, got {type(key).__name__}")
    return key


def load_public_key(text: str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from SubjectPublicKeyInfo PEM or base64 raw bytes."""
    data, is_pem = _key_bytes(text, "public key")
    if not is_pem:
        return Ed25519PublicKey.from_public_bytes(data)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"public key: unreadable PEM ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"public key: expected an Ed25519 key, got {type(key).__name__}")
    return key


def public_keys_by_id(keys: Iterable[Ed25519PublicKey]) -> dict[str, Ed25519PublicKey]:
    return {key_id(key): key for key in keys}


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


# -- checkpoints ------------------------------------------------------------------------------


def hashes_digest(hashes: Sequence[str]) -> str:
    return hashlib.sha256(canonical_json(list(hashes)).encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """Vouches for records from_seq..seq: `hashes[i]` is the hash of record from_seq + i."""

    from_seq: int
    seq: int
    prev_hash: str  # prev_hash of record from_seq: links the segment to the one before
    head_hash: str
    hashes: tuple[str, ...]
    signed_at: str
    key_id: str
    signature: str  # base64 Ed25519 signature over message()

    def statement(self) -> dict[str, Any]:
        """What the signature covers (the hash list through its digest)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "from_seq": self.from_seq,
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "head_hash": self.head_hash,
            "hashes_sha256": hashes_digest(self.hashes),
            "signed_at": self.signed_at,
            "key_id": self.key_id,
        }

    def message(self) -> bytes:
        return canonical_json(self.statement()).encode("utf-8")

    def covers(self, seq: int) -> bool:
        return self.from_seq <= seq <= self.seq

    def signed_hash(self, seq: int) -> str:
        return self.hashes[seq - self.from_seq]

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hashes": list(self.hashes)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedCheckpoint:
        return cls(
            from_seq=int(data["from_seq"]),
            seq=int(data["seq"]),
            prev_hash=str(data["prev_hash"]),
            head_hash=str(data["head_hash"]),
            hashes=tuple(str(h) for h in data["hashes"]),
            signed_at=str(data["signed_at"]),
            key_id=str(data["key_id"]),
            signature=str(data["signature"]),
        )


class Signer:
    """Signs checkpoints with one private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    def sign(self, from_seq: int, prev_hash: str, hashes: Sequence[str], signed_at: str) -> SignedCheckpoint:
        if not hashes:
            raise ValueError("a checkpoint covers at least one record")
        unsigned = SignedCheckpoint(
            from_seq, from_seq + len(hashes) - 1, prev_hash, hashes[-1], tuple(hashes), signed_at, self.key_id, ""
        )
        signature = base64.b64encode(self._key.sign(unsigned.message())).decode("ascii")
        return dataclasses.replace(unsigned, signature=signature)


def checkpoint_problem(checkpoint: SignedCheckpoint, public_keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    """Why a checkpoint cannot be trusted, or None when its signature holds."""
    name = f"signed checkpoint {checkpoint.from_seq}..{checkpoint.seq}"
    key = public_keys.get(checkpoint.key_id)
    if key is None:
        return f"{name}: signed by key {checkpoint.key_id}, which is not among the given public keys"
    hashes = checkpoint.hashes
    if not hashes or len(hashes) != checkpoint.seq - checkpoint.from_seq + 1 or hashes[-1] != checkpoint.head_hash:
        return f"{name}: its hash list does not match its seq range and head (checkpoint altered)"
    try:
        key.verify(base64.b64decode(checkpoint.signature, validate=True), checkpoint.message())
    except (InvalidSignature, binascii.Error, ValueError):
        return f"{name}: signature does not verify with key {checkpoint.key_id} (checkpoint altered or forged)"
    return None


def _ranges(seqs: list[int]) -> list[str]:
    """[1, 2, 3, 7] -> ["1..3", "7..7"]: problems per run of seqs, not per record."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][1] + 1:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])
    return [f"{a}..{b}" for a, b in runs]


@dataclasses.dataclass(frozen=True, slots=True)
class SignatureReport:
    checkpoints: int  # valid signed checkpoints seen
    key_ids: tuple[str, ...]  # keys that signed them
    vouched: int  # records whose hash a valid checkpoint signed
    unsigned_tail: int  # records after the last valid checkpoint (only tolerated where allowed)
    problems: tuple[str, ...]


def verify_signed_records(
    records: Iterable[tuple[int, str]],
    checkpoints: Iterable[SignedCheckpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    allow_unsigned_tail: bool = False,
) -> SignatureReport:
    """Check that every (seq, hash) is the hash a validly signed checkpoint signed. Both iterables
    in seq order; they are walked side by side, so a whole locker is checked in bounded memory.

    A record whose hash differs from the signed one was rewritten after signing. A record no valid
    checkpoint covers is a problem, except, with `allow_unsigned_tail` (the locker itself), records
    after the last checkpoint: they are simply not signed yet.
    """
    problems: list[str] = []
    key_ids: set[str] = set()
    pending = iter(checkpoints)
    current: SignedCheckpoint | None = None
    valid = 0
    last_signed = 0

    def next_valid() -> SignedCheckpoint | None:
        nonlocal valid, last_signed
        for checkpoint in pending:
            problem = checkpoint_problem(checkpoint, public_keys)
            if problem:
                problems.append(problem)
                continue
            valid += 1
            last_signed = max(last_signed, checkpoint.seq)
            key_ids.add(checkpoint.key_id)
            return checkpoint
        return None

    rewritten: list[int] = []
    uncovered: list[int] = []
    vouched = 0
    current = next_valid()
    for seq, record_hash in records:
        while current is not None and current.seq < seq:
            current = next_valid()
        if current is None or not current.covers(seq):
            uncovered.append(seq)
        elif current.signed_hash(seq) != record_hash:
            rewritten.append(seq)
        else:
            vouched += 1
    while current is not None:  # the rest still has to verify (and counts for last_signed)
        current = next_valid()
    problems += [
        f"seq {r}: hash differs from the one a signed checkpoint vouches for (chain rewritten after signing)"
        for r in _ranges(rewritten)
    ]
    tail = [seq for seq in uncovered if seq > last_signed] if allow_unsigned_tail else []
    holes = uncovered[: len(uncovered) - len(tail)]
    problems += [
        f"seq {r}: no valid signed checkpoint vouches for these records (not yet signed when exported, or"
        " checkpoints removed)"
        for r in _ranges(holes)
    ]
    return SignatureReport(valid, tuple(sorted(key_ids)), vouched, len(tail), tuple(problems))


# -- configuration ----------------------------------------------------------------------------


def load_signer(settings: EvidenceSigningSettings) -> Signer | None:
    """The configured signer, or None (and a warning) when no key is configured. Raises ValueError on
    a bad or ambiguous key: better no service than one that silently stops signing."""
    if settings.signing_key and settings.signing_key_file:
        raise ValueError("set ABUSEWATCH_EVIDENCE_SIGNING_KEY or ABUSEWATCH_EVIDENCE_SIGNING_KEY_FILE, not both")
    if settings.signing_key_file:
        source = f"ABUSEWATCH_EVIDENCE_SIGNING_KEY_FILE={settings.signing_key_file}"
        try:
            text = Path(settings.signing_key_file).read_bytes()
        except OSError as exc:
            raise ValueError(f"{source}: cannot read the file: {exc}") from None
    elif settings.signing_key:
        source = "ABUSEWATCH_EVIDENCE_SIGNING_KEY"
        text = settings.signing_key.encode("utf-8")
    else:
        log.warning(
            "evidence checkpoints are NOT signed: no ABUSEWATCH_EVIDENCE_SIGNING_KEY(_FILE); case bundles will say"
            " so and a chain rewritten by someone with database access cannot be told from the original"
        )
        return None
    try:
        signer = Signer(load_private_key(text))
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    log.info("signing evidence checkpoints with key %s", signer.key_id)
    return signer
