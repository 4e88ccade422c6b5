"""Near-duplicate texts across authors (MinHash LSH from datasketch)."""

from __future__ import annotations

from abusewatch.detection.neardup import NearDuplicateIndex, shingles
from abusewatch.detection.state import Evidence

SCRIPT = "you are a disgrace to journalism and everyone knows it, log off and never come back"


def evidence(post_id, author, signature, cluster=None):
    return Evidence(0.0, post_id, author, False, False, (0.9,) * 6, cluster or post_id, signature)


def test_shingles_ignore_mentions_links_punctuation_and_case():
    assert shingles(f"@alice {SCRIPT}!!! https://x.co/abc") == shingles(f"@bob {SCRIPT.upper()}")


def test_copies_by_other_authors_join_one_cluster_and_unrelated_texts_do_not():
    index = NearDuplicateIndex(num_perm=64, threshold=0.6, max_targets=10)
    kept = []
    first_sig = index.signature(SCRIPT)
    assert index.add("t", kept, "p1", "a1", first_sig) == "p1"
    kept.append(evidence("p1", "a1", first_sig))
    variant = index.signature(f"@victim {SCRIPT} 🤡")
    assert index.add("t", kept, "p2", "a2", variant) == "p1"
    other = index.signature("what a lovely photo of the harbour at sunset, thanks for sharing")
    assert index.add("t", kept, "p3", "a3", other) == "p3"


def test_an_author_repeating_himself_is_not_a_cross_author_near_duplicate():
    index = NearDuplicateIndex(num_perm=64, threshold=0.6, max_targets=10)
    assert index.add("t", [], "p1", "a1", index.signature(SCRIPT)) == "p1"
    assert index.add("t", [], "p2", "a1", index.signature(SCRIPT)) == "p2"


def test_index_is_rebuilt_from_stored_signatures():
    index = NearDuplicateIndex(num_perm=64, threshold=0.6, max_targets=10)
    stored = [evidence("p1", "a1", index.signature(SCRIPT))]
    fresh = NearDuplicateIndex(num_perm=64, threshold=0.6, max_targets=10)  # after a restart
    assert fresh.seen("t", stored, "p1")
    assert fresh.add("t", stored, "p2", "a2", fresh.signature(SCRIPT + " !!")) == "p1"


def test_ascii_and_non_ascii_texts_shingle_by_characters():
    # The ASCII fast path slices bytes; any other text slices characters. Both give 4-character
    # shingles, so a copy-paste with one accented letter still shares the rest of its shingles.
    assert shingles("abcdef") == {b"abcd", b"bcde", b"cdef"}
    assert shingles("abcdé") == {b"abcd", "bcdé".encode()}
    assert len(shingles(SCRIPT) & shingles(SCRIPT.replace("disgrace", "disgrâce"))) >= len(shingles(SCRIPT)) - 4


def test_pruned_posts_leave_the_index_and_a_stale_index_is_rebuilt():
    index = NearDuplicateIndex(num_perm=64, threshold=0.6, max_targets=10)
    index.add("t", [], "p1", "a1", index.signature(SCRIPT))
    index.prune("t", ["p1"], evidence_left=0)
    assert not index.seen("t", [], "p1")  # gone, and its text no longer clusters new posts
    assert index.add("t", [], "p2", "a2", index.signature(SCRIPT)) == "p2"
    # An index holding posts the evidence no longer has (state reloaded after a rebalance) is
    # dropped and rebuilt from the evidence.
    index.add("t", [], "p3", "a3", index.signature("something else entirely, about the weather today"))
    index.prune("t", [], evidence_left=1)
    assert not index.seen("t", [], "p2") and not index.seen("t", [], "p3")
