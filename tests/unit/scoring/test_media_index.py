"""The PDQ index against a brute-force oracle: every hash within the radius, nothing beyond it, through
additions (tail and merges), removals and compaction."""

from __future__ import annotations

import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abusewatch.scoring.media.index import PdqIndex


def _random_codes(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.integers(0, 256, size=(count, 32), dtype=np.uint8)


def _flipped(code: np.ndarray, flips: int, rng: np.random.Generator) -> str:
    bits = np.unpackbits(code)
    bits[rng.choice(256, flips, replace=False)] ^= 1
    return np.packbits(bits).tobytes().hex()


def _oracle(live: dict[tuple[str, str], None], query: str, radius: int) -> list[tuple[int, tuple[str, str]]]:
    found = [((int(query, 16) ^ int(pdq, 16)).bit_count(), (bank, pdq)) for bank, pdq in live]
    return sorted(hit for hit in found if hit[0] <= radius)


def _assert_same_as_oracle(index: PdqIndex, live: dict[tuple[str, str], None], queries: list[str],
                           radius: int) -> None:
    for query, hits in zip(queries, index.search(queries, radius), strict=True):
        assert [(hit.distance, hit.key) for hit in hits] == _oracle(live, query, radius)


@pytest.mark.parametrize("radius", [0, 15, 16, 31, 40])
def test_search_finds_exactly_the_hashes_within_the_radius(radius):
    rng = np.random.default_rng(radius)
    codes = _random_codes(rng, 3_000)
    keys = [(f"bank-{i % 3}", code.tobytes().hex()) for i, code in enumerate(codes)]
    index = PdqIndex(keys)
    # Copies at and around the radius (the edge is where an off-by-one would show), plus random hashes.
    queries = [_flipped(codes[i], int(flips), rng) for i, flips in
               zip(rng.choice(len(codes), 60), rng.integers(max(radius - 3, 0), radius + 4, 60), strict=True)]
    queries += [code.tobytes().hex() for code in _random_codes(rng, 20)]
    _assert_same_as_oracle(index, dict.fromkeys(keys), queries, radius)
    assert any(index.search(queries, radius))


def test_the_same_hash_in_two_banks_is_two_hits():
    pdq = "ab" * 32
    index = PdqIndex([("ncii", pdq), ("csam", pdq), ("ncii", pdq)])
    assert len(index) == 2
    assert [hit.key for hit in index.search([pdq], 31)[0]] == [("csam", pdq), ("ncii", pdq)]


def test_additions_through_merges_and_removals_through_compaction_keep_the_search_exact():
    rng = np.random.default_rng(7)
    codes = _random_codes(rng, 2_000)
    keys = [("bank", code.tobytes().hex()) for code in codes]
    index = PdqIndex(keys[:500], tail_max=64)
    live = dict.fromkeys(keys[:500])
    for start in range(500, 2_000, 100):  # each batch overflows the tail: a merge
        assert index.add(keys[start:start + 100] + keys[:3]) == keys[start:start + 100]  # indexed ones are not new
        live.update(dict.fromkeys(keys[start:start + 100]))
    assert len(index) == 2_000
    assert index.remove(keys[:1_200] + [("other-bank", keys[1_500][1])]) == keys[:1_200]  # enough dead to compact
    for key in keys[:1_200]:
        del live[key]
    assert len(index) == 800 and keys[0] not in index and keys[1_999] in index
    queries = [_flipped(codes[i], 20, rng) for i in rng.choice(len(codes), 100)]
    _assert_same_as_oracle(index, live, queries, 31)
    assert index.add(keys[:10]) == keys[:10]  # removed keys can come back
    live.update(dict.fromkeys(keys[:10]))
    _assert_same_as_oracle(index, live, queries + [codes[i].tobytes().hex() for i in range(10)], 31)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.binary(min_size=32, max_size=32)), max_size=40),
       st.lists(st.integers(0, 39), max_size=20), st.integers(0, 255), st.integers(0, 48))
def test_any_sequence_of_additions_and_removals_matches_the_oracle(entries, removals, query_seed, radius):
    keys = [(bank, code.hex()) for bank, code in entries]
    index = PdqIndex(keys[: len(keys) // 2], tail_max=4)
    index.add(keys[len(keys) // 2:])
    gone = [keys[i] for i in removals if i < len(keys)]
    index.remove(gone)
    live = dict.fromkeys(key for key in keys if key not in set(gone))
    assert len(index) == len(live)
    rng = np.random.default_rng(query_seed)
    queries = [_flipped(np.frombuffer(bytes.fromhex(pdq), np.uint8), int(rng.integers(0, 40)), rng)
               for _, pdq in keys[:8]] + [_random_codes(rng, 1)[0].tobytes().hex()]
    _assert_same_as_oracle(index, live, queries, radius)


@pytest.mark.skipif(not hasattr(numba.core.config, "CACHE_LOCATOR_CLASSES"),
                    reason="this Numba cannot be told which cache locators to try")
def test_without_a_writable_cache_location_the_kernels_compile_instead_of_failing(tmp_path):
    # A read-only install with no NUMBA_CACHE_DIR: IPython's locator is the only one offered, and it
    # declines outside IPython, which is what Numba sees when it has nowhere to write.
    script = ("from abusewatch.scoring.media.index import PdqIndex\n"
              "index = PdqIndex([('ncii', 'ab' * 32)])\n"
              "print(index.search(['ab' * 31 + 'aa'], 31)[0][0].distance)\n")
    env = {**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "numba.core.caching.IPythonCacheLocator"}
    env.pop("NUMBA_CACHE_DIR", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "1"


def test_entry_ids_follow_their_keys_through_updates_merges_and_compaction():
    rng = np.random.default_rng(3)
    keys = [("ncii", code.tobytes().hex()) for code in _random_codes(rng, 300)]
    index = PdqIndex(keys[:100], [f"case-{i}" for i in range(100)], tail_max=16)
    index.add(keys[100:], [f"case-{i}" for i in range(100, 300)])
    index.add([keys[0], keys[1]], ["renamed", None])  # already present: only the ids change
    index.remove(keys[2:200])  # compaction
    def entry_id(key):
        (hit,) = [hit for hit in index.search([key[1]], 0)[0] if hit.key == key]
        return hit.entry_id
    assert [entry_id(keys[0]), entry_id(keys[1]), entry_id(keys[250])] == ["renamed", None, "case-250"]
    index.add([keys[5]])  # a removed key comes back without its old id
    assert entry_id(keys[5]) is None


def test_compaction_gives_the_tables_memory_back():
    rng = np.random.default_rng(11)
    keys = [("bank", code.tobytes().hex()) for code in _random_codes(rng, 4_000)]
    index = PdqIndex(keys, tail_max=64)
    fixed = PdqIndex().memory_bytes()  # the bucket offsets, whatever the size
    before = index.memory_bytes() - fixed
    index.remove(keys[:3_000])
    assert len(index) == 1_000 and index.memory_bytes() - fixed < before / 2
    _assert_same_as_oracle(index, dict.fromkeys(keys[3_000:]), [keys[3_500][1], keys[10][1]], 31)
