"""Near-duplicate texts across authors: MinHash signatures and an LSH index per target (datasketch).

The signature of each abusive post is stored with its evidence (so state survives restarts); the
LSH index is a derived cache, rebuilt from stored signatures when a target is not in it.
"""

from __future__ import annotations

import re
import zlib
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from abusewatch.detection.state import Evidence

_SHINGLE = 4
_NOISE = re.compile(r"@\w+|https?://\S+|[^\w\s]")
_SPACE = re.compile(r"\s+")
_SEED = 1


def shingles(text: str) -> set[bytes]:
    """Character 4-grams of the text without mentions, links, punctuation and case: the parts a
    copy-paster keeps while changing the @-mention and adding emoji."""
    norm = _SPACE.sub(" ", _NOISE.sub(" ", text.lower())).strip()
    if len(norm) <= _SHINGLE:
        return {norm.encode()}
    if norm.isascii():  # one byte per character: slice the encoded text once (same shingles, cheaper)
        raw = norm.encode()
        return {raw[i : i + _SHINGLE] for i in range(len(raw) - _SHINGLE + 1)}
    return {norm[i : i + _SHINGLE].encode() for i in range(len(norm) - _SHINGLE + 1)}


class NearDuplicateIndex:
    """Per-target LSH indexes for the targets currently receiving abusive posts (LRU-bounded)."""

    def __init__(self, num_perm: int, threshold: float, max_targets: int) -> None:
        self._num_perm = num_perm
        self._max_targets = max_targets
        # crc32: stable across processes (signatures are stored) and ~5x cheaper than the sha1 default.
        # One sketch, cleared per text: building a MinHash re-validates its permutations each time.
        self._sketch = MinHash(num_perm=num_perm, seed=_SEED, hashfunc=zlib.crc32)
        self._scheme = self._sketch.scheme
        # Choosing the LSH bands integrates false positive/negative curves (milliseconds): do it
        # once, not for every target's index.
        optimal = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._lsh_params = (optimal.b, optimal.r)
        # target -> (lsh, post_id -> (cluster, author_id))
        self._indexes: OrderedDict[str, tuple[MinHashLSH, dict[str, tuple[str, str]]]] = OrderedDict()

    def signature(self, text: str) -> bytes:
        sketch = self._sketch
        sketch.clear()
        sketch.update_batch(shingles(text))
        return sketch.hashvalues.astype(np.uint32).tobytes()

    def _minhash(self, signature: bytes) -> LeanMinHash:
        # Lean: hash values only, all LSH needs; a full MinHash re-validates the permutations each time.
        values = np.frombuffer(signature, dtype=np.uint32).astype(np.uint64)
        return LeanMinHash(seed=_SEED, hashvalues=values, scheme=self._scheme)

    def _index_for(self, target: str, evidence: Iterable[Evidence]) -> tuple[MinHashLSH, dict[str, tuple[str, str]]]:
        entry = self._indexes.get(target)
        if entry is not None:
            self._indexes.move_to_end(target)
            return entry
        lsh = MinHashLSH(num_perm=self._num_perm, params=self._lsh_params)
        members: dict[str, tuple[str, str]] = {}
        for item in evidence:
            if item.post_id not in members:
                if item.signature:
                    lsh.insert(item.post_id, self._minhash(item.signature))
                members[item.post_id] = (item.cluster, item.author_id)
        self._indexes[target] = (lsh, members)
        if len(self._indexes) > self._max_targets:
            self._indexes.popitem(last=False)
        return lsh, members

    def seen(self, target: str, evidence: Iterable[Evidence], post_id: str) -> bool:
        """Whether the post is already in the target's evidence (redelivered: at-least-once)."""
        return post_id in self._index_for(target, evidence)[1]

    def add(self, target: str, evidence: Iterable[Evidence], post_id: str, author_id: str, signature: bytes) -> str:
        """Index the post; return its cluster: the cluster of a near-duplicate by another author
        if there is one, else the post's own id. Posts without a signature are their own cluster."""
        lsh, members = self._index_for(target, evidence)
        if not signature:
            members[post_id] = (post_id, author_id)
            return post_id
        minhash = self._minhash(signature)
        cluster = post_id
        for candidate in lsh.query(minhash):
            candidate_cluster, candidate_author = members[candidate]
            if candidate_author != author_id:
                cluster = candidate_cluster
                break
        lsh.insert(post_id, minhash)
        members[post_id] = (cluster, author_id)
        return cluster

    def forget(self, target: str) -> None:
        self._indexes.pop(target, None)

    def remove(self, target: str, post_id: str) -> None:
        entry = self._indexes.get(target)
        if entry is not None and entry[1].pop(post_id, None) is not None and post_id in entry[0]:
            entry[0].remove(post_id)

    def prune(self, target: str, dropped: Iterable[str], evidence_left: int) -> None:
        """Drop posts that left the target's evidence (the index must not grow without bound)."""
        entry = self._indexes.get(target)
        if entry is None:
            return
        lsh, members = entry
        for post_id in dropped:
            if members.pop(post_id, None) is not None and post_id in lsh:
                lsh.remove(post_id)
        if len(members) > evidence_left:
            # Members that are not evidence: the index outlived a state reloaded from elsewhere
            # (a partition moved away and back). Rebuild it from the evidence when next needed.
            del self._indexes[target]
