"""The PDQ index: every bank's PDQ hashes, searched by Hamming radius with multi-index hashing.

Multi-index hashing (Norouzi, Punjani and Fleet, 2012; what HMA runs through FAISS's
IndexBinaryMultiHash): the 256 bits are cut into 16 chunks of 16 bits and each chunk has a table
from its value to the hashes that have it. Two hashes within distance r differ in at most r // 16
bits of some chunk (pigeonhole), so probing every table at the query's chunk value and at each value
within r // 16 flipped bits (17 probes per table at the default radius 31) finds every hash within
r: the search is exact, at any bank size. Each table entry carries the other half of its hash (128
bits), so a candidate is rejected on that half while the table is read in order, and the full hash
is fetched only for the few that pass. The kernels are compiled with Numba; FAISS's own multi-hash
index, the same search, is compared in docs/benchmarks.md ("PDQ index"). Chunks are read through
native-order views of the hash bytes, and the kernels assume the little-endian layout of those
views: a big-endian machine is refused at import rather than searched wrongly.

Additions land in a short unindexed tail that every search compares in full, and are merged into
the tables when the tail fills; removals mark a hash dead (searches skip it) until dead hashes
outnumber live ones and the index is rebuilt without them.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Sequence
from itertools import combinations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from abusewatch.scoring.media.hashes import PDQ_BITS

if sys.byteorder != "little":
    raise ImportError("the PDQ index's kernels read hashes in little-endian order; this machine is big-endian")

CHUNKS = 16  # tables; each indexes 16 bits, so a table has 65,536 buckets
CHUNK_VALUES = 1 << (PDQ_BITS // CHUNKS)
CODE_BYTES = PDQ_BITS // 8
CACHE_LINE_BYTES = 64
# Hashes added since the last merge; a search compares each in full, so the tail stays short.
TAIL_MAX = 16_384


def _kernel(function):  # type: ignore[no-untyped-def]
    """Compiled with Numba and cached on disk where there is a writable place (the package folder,
    NUMBA_CACHE_DIR, the user's cache); a read-only install without one compiles at each start
    instead of failing (Numba refuses cache=True with nowhere to write)."""
    try:
        return njit(nogil=True, cache=True)(function)
    except RuntimeError:
        return njit(nogil=True)(function)


@dataclasses.dataclass(frozen=True, slots=True)
class PdqHit:
    """A bank hash within the radius of a query, and how far."""

    key: tuple[str, str]  # (bank, PDQ hex in lowercase)
    distance: int
    entry_id: str | None  # the bank's id for the entry, when it gave one


@intrinsic
def _popcount(typingctx, value):  # type: ignore[no-untyped-def]
    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.call(builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)]), args)

    return types.int64(types.uint64), codegen  # a bit count, signed so sums compare with ints


@intrinsic
def _prefetch(typingctx, address):  # type: ignore[no-untyped-def]
    # A table's buckets sit at random places; asking for the next bucket while this one is compared
    # keeps the memory busy instead of waiting on it.
    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]), "llvm.prefetch.p0")
        # read, keep in all cache levels, data cache
        builder.call(function, [builder.inttoptr(args[0], byte_pointer), int32(0), int32(3), int32(1)])
        return context.get_dummy_value()

    return types.void(types.uint64), codegen


@_kernel
def _distance(a, b):  # type: ignore[no-untyped-def]
    return (_popcount(a[0] ^ b[0]) + _popcount(a[1] ^ b[1]) + _popcount(a[2] ^ b[2])
            + _popcount(a[3] ^ b[3]))


@_kernel
def _prefetch_bucket(other, table, start, end):  # type: ignore[no-untyped-def]
    line = np.uint64(CACHE_LINE_BYTES)
    address = np.uint64(other.ctypes.data + table * other.strides[0] + start * other.strides[1])
    stop = np.uint64(other.ctypes.data + table * other.strides[0] + end * other.strides[1])
    while address < stop:
        _prefetch(address)
        address += line


@_kernel
def _search(codes, alive, offsets, order, other, indexed, size, masks, mask_bits,
            queries, radius):  # type: ignore[no-untyped-def]
    """(query row, slot, distance) of every live hash within radius of each query; a hash near a
    query in several chunks is reported once per such chunk."""
    # Hits are appended inline in both loops below, not through a helper: passing these lists to
    # another kernel keeps Numba from optimising the bucket loop (several times slower).
    found_query = []
    found_slot = []
    found_distance = []
    probes = masks.shape[0]
    keys = np.empty(probes, dtype=np.int64)
    for row in range(queries.shape[0]):
        query = queries[row]
        for table in range(CHUNKS):
            value = (query[table >> 2] >> np.uint64((table & 3) * 16)) & np.uint64(CHUNK_VALUES - 1)
            # The entry carries the half of the hash this chunk is not in.
            half = 2 if table < CHUNKS // 2 else 0
            query_a = query[half]
            query_b = query[half + 1]
            for probe in range(probes):
                keys[probe] = value ^ masks[probe]
            _prefetch_bucket(other, table, offsets[table, keys[0]], offsets[table, keys[0] + 1])
            for probe in range(probes):
                if probe + 1 < probes:
                    following = keys[probe + 1]
                    _prefetch_bucket(other, table, offsets[table, following],
                                     offsets[table, following + 1])
                budget = radius - mask_bits[probe]
                for entry in range(offsets[table, keys[probe]], offsets[table, keys[probe] + 1]):
                    if _popcount(query_a ^ other[table, entry, 0]) + _popcount(query_b ^ other[table, entry, 1]) <= budget:
                        slot = order[table, entry]
                        if alive[slot]:
                            distance = _distance(query, codes[slot])
                            if distance <= radius:
                                found_query.append(row)
                                found_slot.append(slot)
                                found_distance.append(distance)
        for slot in range(indexed, size):
            if alive[slot]:
                distance = _distance(query, codes[slot])
                if distance <= radius:
                    found_query.append(row)
                    found_slot.append(slot)
                    found_distance.append(distance)
    return (np.array(found_query, dtype=np.int64), np.array(found_slot, dtype=np.int64),
            np.array(found_distance, dtype=np.int64))


@_kernel
def _find(codes, banks, alive, offsets, order, indexed, size, queries, query_banks):  # type: ignore[no-untyped-def]
    """The slot of each (hash, bank) if it is in the index and live, else -1 (one table suffices
    for an exact match)."""
    slots = np.full(queries.shape[0], -1, dtype=np.int64)
    for row in range(queries.shape[0]):
        query = queries[row]
        value = np.int64(query[0] & np.uint64(CHUNK_VALUES - 1))
        for entry in range(offsets[0, value], offsets[0, value + 1]):
            slot = order[0, entry]
            if alive[slot] and banks[slot] == query_banks[row] and _distance(query, codes[slot]) == 0:
                slots[row] = slot
                break
        if slots[row] < 0:
            for slot in range(indexed, size):
                if alive[slot] and banks[slot] == query_banks[row] and _distance(query, codes[slot]) == 0:
                    slots[row] = slot
                    break
    return slots


def _flip_masks(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Every 16-bit mask of at most radius // CHUNKS bits, and its bit count."""
    flips = max(radius, 0) // CHUNKS
    masks = [sum(1 << bit for bit in bits) for count in range(flips + 1)
             for bits in combinations(range(PDQ_BITS // CHUNKS), count)]
    return np.array(masks, dtype=np.uint64), np.array([bin(m).count("1") for m in masks], dtype=np.int64)


def _codes_of(hex_hashes: Sequence[str]) -> np.ndarray:
    return np.frombuffer(bytes.fromhex("".join(hex_hashes)), dtype=np.uint8).reshape(-1, CODE_BYTES)


class PdqIndex:
    def __init__(self, keys: Sequence[tuple[str, str]] = (), entry_ids: Sequence[str | None] | None = None, *,
                 tail_max: int = TAIL_MAX) -> None:
        """An index of (bank, PDQ hex) keys, each with an optional entry id; `tail_max` additions wait
        unindexed before a merge."""
        self._tail_max = tail_max
        self._bank_names: list[str] = []
        self._bank_ids: dict[str, int] = {}
        self._codes = np.zeros((0, CODE_BYTES), dtype=np.uint8)
        self._banks = np.zeros(0, dtype=np.uint16)
        self._alive = np.zeros(0, dtype=np.bool_)
        self._entry_ids = np.zeros(0, dtype=object)  # None, or the bank's id for the entry
        self._size = 0  # slots used, live or dead
        self._live = 0
        self._indexed = 0  # slots [0, indexed) are in the tables, the rest is the tail
        self._offsets = np.zeros((CHUNKS, CHUNK_VALUES + 1), dtype=np.int64)
        self._order = np.zeros((CHUNKS, 0), dtype=np.int32)
        self._other = np.zeros((CHUNKS, 0, 2), dtype=np.uint64)
        self.add(keys, entry_ids)
        self._merge()

    def __len__(self) -> int:
        return self._live

    def __contains__(self, key: tuple[str, str]) -> bool:
        return bool(self._slots([key])[0] >= 0)

    def memory_bytes(self) -> int:
        """Bytes held in arrays: hashes, tables, and the bank, liveness and entry id pointer of each slot
        (not the entry id strings)."""
        return sum(array.nbytes for array in (self._codes, self._banks, self._alive, self._entry_ids, self._offsets,
                                              self._order, self._other))

    def _bank_id(self, bank: str) -> int:
        if bank not in self._bank_ids:
            if len(self._bank_names) > np.iinfo(np.uint16).max:
                raise ValueError(f"at most {np.iinfo(np.uint16).max + 1} banks")
            self._bank_ids[bank] = len(self._bank_names)
            self._bank_names.append(bank)
        return self._bank_ids[bank]

    def _slots(self, keys: Sequence[tuple[str, str]]) -> np.ndarray:
        """The slot of each key, or -1 where it is not in the index."""
        slots = np.full(len(keys), -1, dtype=np.int64)
        rows = [i for i, key in enumerate(keys) if key[0] in self._bank_ids]
        if not rows or not self._size:
            return slots
        known = [keys[i] for i in rows]
        slots[rows] = _find(self._codes.view(np.uint64), self._banks, self._alive, self._offsets, self._order,
                            self._indexed, self._size, _codes_of([pdq for _, pdq in known]).view(np.uint64),
                            np.array([self._bank_ids[bank] for bank, _ in known], dtype=np.uint16))
        return slots

    def add(self, keys: Iterable[tuple[str, str]], entry_ids: Iterable[str | None] | None = None
            ) -> list[tuple[str, str]]:
        """Add keys not in the index yet, and set the entry id of each key given (None: no id; the
        last one given for a key wins); returns the keys that were new."""
        keys = list(keys)
        ids_of = dict(zip(keys, [None] * len(keys) if entry_ids is None else entry_ids, strict=True))
        unique = list(ids_of)
        slots = self._slots(unique)
        new = []
        for key, slot in zip(unique, slots.tolist(), strict=True):
            if slot < 0:
                new.append(key)
            else:
                self._entry_ids[slot] = ids_of[key]
        if not new:
            return []
        self._grow(self._size + len(new))
        end = self._size + len(new)
        self._codes[self._size:end] = _codes_of([pdq for _, pdq in new])
        self._banks[self._size:end] = [self._bank_id(bank) for bank, _ in new]
        self._alive[self._size:end] = True
        self._entry_ids[self._size:end] = [ids_of[key] for key in new]
        self._size = end
        self._live += len(new)
        if self._size - self._indexed > self._tail_max:
            self._merge()
        return new

    def remove(self, keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Remove keys (unknown ones are ignored); returns those that were removed."""
        unique = list(dict.fromkeys(keys))
        slots = self._slots(unique)
        removed = [key for key, slot in zip(unique, slots, strict=True) if slot >= 0]
        self._alive[slots[slots >= 0]] = False
        self._entry_ids[slots[slots >= 0]] = None
        self._live -= len(removed)
        if self._size - self._live > max(self._live, self._tail_max):
            self._compact()
        return removed

    def search(self, queries: Sequence[str], max_distance: int) -> list[list[PdqHit]]:
        """For each PDQ hex query, the indexed keys within max_distance, nearest first."""
        results: list[list[PdqHit]] = [[] for _ in queries]
        if not queries or not self._live:
            return results
        masks, mask_bits = _flip_masks(max_distance)
        rows, slots, distances = _search(
            self._codes.view(np.uint64), self._alive, self._offsets, self._order, self._other,
            self._indexed, self._size, masks, mask_bits, _codes_of(queries).view(np.uint64), max_distance)
        seen = set()
        for row, slot, distance in zip(rows.tolist(), slots.tolist(), distances.tolist(), strict=True):
            if (row, slot) not in seen:
                seen.add((row, slot))
                key = (self._bank_names[self._banks[slot]], self._codes[slot].tobytes().hex())
                results[row].append(PdqHit(key, distance, self._entry_ids[slot]))
        for hits in results:
            hits.sort(key=lambda hit: (hit.distance, hit.key))
        return results

    def _capacity(self, needed: int) -> int:
        # Room for a few merges and a sixteenth more, not double: the tables of a large bank are
        # gigabytes, and live additions are few beside it.
        return needed + max(4 * self._tail_max, needed // 16, 1024)

    def _grow(self, slots: int) -> None:
        if slots > len(self._codes):
            self._reallocate(("_codes", "_banks", "_alive", "_entry_ids"), 0, self._capacity(slots), self._size)

    def _reallocate(self, names: tuple[str, ...], axis: int, capacity: int, keep: int) -> None:
        """Give each named array `capacity` rows along `axis`, keeping the first `keep` (the rest are
        set when used)."""
        for name in names:
            old = getattr(self, name)
            shape = list(old.shape)
            shape[axis] = capacity
            grown = np.zeros(shape, dtype=old.dtype)
            kept = (slice(None),) * axis + (slice(0, keep),)
            grown[kept] = old[kept]
            setattr(self, name, grown)

    def _merge(self) -> None:
        """Put the tail into the tables: each new entry goes at the end of its bucket."""
        start, end = self._indexed, self._size
        if end == start:
            return
        if end > self._order.shape[1]:
            self._reallocate(("_order", "_other"), 1, self._capacity(end), start)
        chunks = self._codes[start:end].view(np.uint16)
        words = self._codes[start:end].view(np.uint64)
        new_slots = np.arange(start, end, dtype=np.int32)
        for table in range(CHUNKS):
            values = chunks[:, table]
            by_value = np.argsort(values, kind="stable")
            at = self._offsets[table, values[by_value].astype(np.int64) + 1]
            half = 2 if table < CHUNKS // 2 else 0
            for column, new in ((self._order, new_slots[by_value]), (self._other, words[by_value, half:half + 2])):
                column[table, :end] = np.insert(column[table, :start], at, new, axis=0)
            counts = np.bincount(values, minlength=CHUNK_VALUES)
            self._offsets[table, 1:] += np.cumsum(counts)
        self._indexed = end

    def _compact(self) -> None:
        """Rebuild without the dead slots."""
        live = np.flatnonzero(self._alive[:self._size])
        self._codes = self._codes[live].copy()
        self._banks = self._banks[live].copy()
        self._entry_ids = self._entry_ids[live].copy()
        self._alive = np.ones(len(live), dtype=np.bool_)
        self._size = self._live = len(live)
        self._indexed = 0
        self._offsets[:] = 0
        self._reallocate(("_order", "_other"), 1, 0, 0)  # the tables shrink with the hashes
        self._merge()
