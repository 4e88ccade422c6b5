"""The PDQ index: every bank's PDQ hashes in one FAISS binary index, searched by Hamming radius.

Small collections are searched exactly (IndexBinaryFlat, every hash compared). A large one (more
than `ivf_min_size` hashes when built) goes into FAISS's binary inverted-file index, as HMA does for
large banks: hashes are grouped around trained centroids and a lookup compares only the `nprobe`
closest groups, which makes it approximate: a copy far from its original can land in a group that
is not searched (measured in docs/benchmarks.md). Additions and removals apply in place; an IVF
index keeps the centroids it was trained with.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

import faiss
import numpy as np

from abusewatch.scoring.media.hashes import PDQ_BITS, pdq_bytes


@dataclasses.dataclass(frozen=True, slots=True)
class PdqHit:
    """A bank hash within the radius of a query, and how far."""

    key: tuple[str, str]  # (bank, PDQ hex) as added
    distance: int


class PdqIndex:
    def __init__(self, keys: Sequence[tuple[str, str]] = (), *, ivf_min_size: int = 200_000, nprobe: int = 16,
                 threads: int = 1) -> None:
        """An index of (bank, PDQ hex) keys. `threads`: FAISS threads per search (the classifier
        searches from its event loop; one keeps the rest of the process responsive)."""
        faiss.omp_set_num_threads(threads)
        self._ids: dict[tuple[str, str], int] = {}
        self._keys: dict[int, tuple[str, str]] = {}
        self._next_id = 0
        unique = list(dict.fromkeys(keys))
        codes = np.stack([pdq_bytes(pdq) for _, pdq in unique]) if unique else np.zeros((0, PDQ_BITS // 8), np.uint8)
        self.approximate = len(unique) > ivf_min_size
        if self.approximate:
            nlist = min(65_536, max(256, 2 ** round(math.log2(4 * math.sqrt(len(unique))))))
            index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(PDQ_BITS), PDQ_BITS, nlist)
            sample = np.random.default_rng(0).choice(len(unique), size=min(len(unique), nlist * 40), replace=False)
            index.train(codes[np.sort(sample)])
            index.nprobe = nprobe
            self._index: faiss.IndexBinary = index
        else:
            self._index = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(PDQ_BITS))
        self._add(unique, codes)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._ids

    def add(self, keys: Iterable[tuple[str, str]]) -> int:
        """Add keys not in the index yet; returns how many were new."""
        new = [key for key in dict.fromkeys(keys) if key not in self._ids]
        if new:
            self._add(new, np.stack([pdq_bytes(pdq) for _, pdq in new]))
        return len(new)

    def _add(self, keys: list[tuple[str, str]], codes: np.ndarray) -> None:
        if not keys:
            return
        ids = np.arange(self._next_id, self._next_id + len(keys), dtype=np.int64)
        self._next_id += len(keys)
        self._index.add_with_ids(codes, ids)
        for key, key_id in zip(keys, ids.tolist(), strict=True):
            self._ids[key] = key_id
            self._keys[key_id] = key

    def remove(self, keys: Iterable[tuple[str, str]]) -> int:
        """Remove keys (unknown ones are ignored); returns how many were removed."""
        ids = [self._ids.pop(key) for key in dict.fromkeys(keys) if key in self._ids]
        if ids:
            self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))
            for key_id in ids:
                del self._keys[key_id]
        return len(ids)

    def search(self, queries: Sequence[str], max_distance: int) -> list[list[PdqHit]]:
        """For each PDQ hex query, the indexed keys within max_distance, nearest first."""
        if not queries or not self._ids:
            return [[] for _ in queries]
        # FAISS range search keeps distances strictly below the radius.
        lims, distances, ids = self._index.range_search(np.stack([pdq_bytes(q) for q in queries]), max_distance + 1)
        results = []
        for start, end in zip(lims[:-1].tolist(), lims[1:].tolist(), strict=True):
            hits = [PdqHit(self._keys[i], int(d)) for d, i in zip(distances[start:end].tolist(), ids[start:end].tolist(),
                                                              strict=True) if i in self._keys]
            results.append(sorted(hits, key=lambda hit: (hit.distance, hit.key)))
        return results
