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
