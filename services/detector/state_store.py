"""The detector's per-target state in a Faust Table, behind the pure library's StateStore interface.

The table maps target id (bytes) -> TargetState.to_bytes(). Decoded states are cached between
batches and written back once per batch (one changelog record per touched target, not per post).
Faust routes table writes (changelog partition, RocksDB partition db) by the stream event being
processed; a batch spans partitions, so every table access runs under an event of the target's
own partition (the re-keyed topic and the table are keyed and partitioned alike).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from abusewatch.detection.state import TargetState
from abusewatch.detection.stores import stale_targets


class TableStateStore:
    def __init__(self, table: Any, set_current_event: Callable[[Any], None], cache_targets: int) -> None:
        self._table = table
        self._set_current_event = set_current_event
        self._cache_targets = cache_targets
        self._cache: OrderedDict[str, TargetState] = OrderedDict()  # least recently used first
        self._partition_of: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._deleted: set[str] = set()
        self._last_event: dict[int, Any] = {}  # partition -> newest event seen from it
        self._current_partition: int | None = None

    def begin(self, event: Any) -> None:
        """The event about to be processed: its partition owns the targets it touches."""
        self._last_event[event.message.partition] = event
        self._current_partition = event.message.partition

    @contextmanager
    def _under_partition(self, partition: int) -> Iterator[None]:
        self._set_current_event(self._last_event[partition])
        yield

    def get(self, target: str) -> TargetState | None:
        state = self._cache.get(target)
        if state is not None:
            self._cache.move_to_end(target)
            return state
        partition = self._partition_of.get(target, self._current_partition)
        if partition is None:
            return None
        with self._under_partition(partition):
            raw = self._table.get(target.encode())
        if raw is None:
            return None
        state = TargetState.from_bytes(raw)
        self._remember(target, state, partition)
        return state

    def put(self, target: str, state: TargetState) -> None:
        partition = self._partition_of.get(target, self._current_partition)
        self._remember(target, state, partition)
        self._dirty.add(target)
        self._deleted.discard(target)

    def _remember(self, target: str, state: TargetState, partition: int | None) -> None:
        self._cache[target] = state
        self._cache.move_to_end(target)
        if partition is not None:
            self._partition_of[target] = partition

    def partition(self, partition: int) -> PartitionStates:
        """The store as one partition's detector sees it: expiry covers that partition's targets only."""
        return PartitionStates(self, partition)

    def expire(self, cutoff_ts: float, partition: int | None = None) -> list[str]:
        """Forget cached targets (of `partition`, if given) older than cutoff_ts with no open campaign.
        The cache is in least-recently-used order and posts arrive in event-time order, so the walk
        (stale_targets, as for TargetStates) stops at the partition's first recent target instead of
        visiting every cached target once per partition per sweep. Open campaigns move behind."""
        partition_of = self._partition_of
        cached = self._cache.items()
        if partition is not None:
            cached = ((t, s) for t, s in cached if partition_of.get(t) == partition)
        expired, with_campaign = stale_targets(cached, cutoff_ts)
        for target in expired:
            del self._cache[target]
            self._dirty.discard(target)
            self._deleted.add(target)
        for target in with_campaign:
            self._cache.move_to_end(target)
        return expired

    def drop_partitions(self, partitions: set[int]) -> None:
        for target in [t for t, p in self._partition_of.items() if p in partitions]:
            self._cache.pop(target, None)
            self._dirty.discard(target)
            self._deleted.discard(target)
            del self._partition_of[target]
        for partition in partitions:
            self._last_event.pop(partition, None)

    def flush(self) -> int:
        """Write touched states to the table (and so to its changelog); returns how many."""
        by_partition: dict[int, list[str]] = {}
        for target in self._dirty | self._deleted:
            by_partition.setdefault(self._partition_of[target], []).append(target)
        for partition, targets in by_partition.items():
            with self._under_partition(partition):
                for target in targets:
                    if target in self._deleted:
                        self._table.pop(target.encode(), None)
                        del self._partition_of[target]
                    else:
                        self._table[target.encode()] = self._cache[target].to_bytes()
        written = len(self._dirty)
        self._dirty.clear()
        self._deleted.clear()
        self._evict()
        return written

    def _evict(self) -> None:
        # Clean states beyond the cache size go; open campaigns stay (the lifecycle sweep visits them).
        excess = len(self._cache) - self._cache_targets
        if excess <= 0:
            return
        for target in list(self._cache)[:excess]:
            if self._cache[target].campaign is None:
                del self._cache[target]
                self._partition_of.pop(target, None)


class PartitionStates:
    """A TableStateStore seen from one re-keyed partition's detector (see services/detector/app.py):
    each partition's event time advances on its own while catching up, so each expires its own."""

    def __init__(self, store: TableStateStore, partition: int) -> None:
        self._store = store
        self._partition = partition

    def get(self, target: str) -> TargetState | None:
        return self._store.get(target)

    def put(self, target: str, state: TargetState) -> None:
        self._store.put(target, state)

    def expire(self, cutoff_ts: float) -> list[str]:
        return self._store.expire(cutoff_ts, self._partition)
