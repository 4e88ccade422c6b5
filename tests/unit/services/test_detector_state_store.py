"""The detector service's state store over a table (services/detector/state_store.py): expiry per
re-keyed partition. The table is a dict here: Faust's Table is a mapping, and what is under test is
the store's cache and expiry, not Faust."""

from __future__ import annotations

from types import SimpleNamespace

from abusewatch.detection.state import Campaign, TargetState
from abusewatch.services.detector.state_store import TableStateStore


def event(partition: int) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(partition=partition))


def store_with(targets: list[tuple[str, int, float]]) -> tuple[TableStateStore, dict]:
    """(target, partition, newest event time) put in that order, then flushed to the table."""
    table: dict[bytes, bytes] = {}
    store = TableStateStore(table, lambda _event: None, cache_targets=100)
    for target, partition, ts in targets:
        store.begin(event(partition))
        store.put(target, TargetState(ts, 0, 0.5))
    store.flush()
    return store, table


def test_expiry_forgets_the_partitions_old_targets_and_deletes_them_from_the_table():
    store, table = store_with([("a", 0, 100.0), ("b", 1, 110.0), ("c", 0, 120.0), ("d", 0, 500.0)])
    assert store.expire(200.0, partition=0) == ["a", "c"]
    store.flush()
    assert set(table) == {b"b", b"d"}  # b is partition 1's: its own detector expires it
    assert store.expire(200.0, partition=1) == ["b"]
    store.flush()
    assert set(table) == {b"d"}
    assert store.get("d") is not None


def test_expiry_stops_at_the_partitions_first_recent_target():
    # Posts reach the store in event-time order, so least recently used is oldest; a target touched
    # after a recent one waits for a later sweep, as in the in-process store (TargetStates).
    store, _ = store_with([("old", 0, 100.0), ("recent", 0, 500.0), ("old-but-touched-later", 0, 150.0)])
    assert store.expire(200.0, partition=0) == ["old"]
    store.get("recent")  # touched again: moves behind
    assert store.expire(200.0, partition=0) == ["old-but-touched-later"]


def test_open_campaigns_are_kept_and_move_behind_the_recent_targets():
    store, table = store_with([("attacked", 0, 100.0), ("quiet", 0, 110.0), ("recent", 0, 500.0)])
    store.get("attacked").campaign = Campaign("c1", "opened", 100.0, 100.0, 5)
    assert store.expire(200.0, partition=0) == ["quiet"]
    assert store.get("attacked") is not None
    # Now behind "recent": the next sweep stops before it instead of walking past it again.
    assert store.expire(600.0, partition=0) == ["recent"]
    assert store.get("attacked") is not None


def test_expiry_without_a_partition_covers_every_partition():
    store, _ = store_with([("a", 0, 100.0), ("b", 1, 110.0), ("c", 2, 900.0)])
    assert store.expire(200.0) == ["a", "b"]
