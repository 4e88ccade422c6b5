"""Event time that stays safe while the detector catches up on a backlog. No Kafka.

A backlog's partitions are read at very different event-time rates: one can be an hour of event
time ahead of another. The newest post seen then says nothing about the posts still unread
elsewhere, and a watermark taken from it closes campaigns whose next posts are still on the way,
while a target's posts reach the detector out of order. So:

- the rekeyer merges its source partitions in event-time order (`EventTimeMerge`): a post waits
  until every partition that still has unread posts has been read up to its event time;
- the rekeyer tells every re-keyed partition, in band, up to which event time its source
  partitions are complete (`EventTimeMerge.complete_to`, carried by a record header); a re-keyed
  partition's detector moves its lifecycle watermark there (`SourceFrontier`), so a quiet
  partition's campaigns cool and close without waiting for posts that are still on their way.
  In band, because the records on a partition are read in the order they were written: whatever
  the rekeyer sent to it before the marker has been read once the marker is. (A re-keyed
  partition's high watermark is no such evidence: it lags what the rekeyer has already sent.)

A partition with nothing unread (its position is at the broker's high watermark) holds nothing
back: whatever it delivers later is new traffic, so an idle partition never stalls live traffic.
A partition that reports unread posts but delivers none for `idle_s` seconds of wall-clock time
(stuck, or assigned with nothing left to read past its committed offset) stops holding the others
back, so such a partition delays the rest by at most that long.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclasses.dataclass(slots=True)
class _Partition:
    delivered_at: float  # wall-clock time of the last delivery (or of the assignment)
    newest_ts: float = -math.inf  # newest event time delivered
    unread: bool = True  # may hold undelivered posts; unknown counts as unread


class PartitionClock:
    """Per assigned partition: the newest event time it delivered and whether it has more to read."""

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self._partitions: dict[Hashable, _Partition] = {}

    def track(self, partitions: Iterable[Hashable], now: float) -> None:
        """The partitions assigned now: new ones start holding (nothing delivered yet), gone ones are dropped."""
        current = set(partitions)
        for partition in [p for p in self._partitions if p not in current]:
            del self._partitions[partition]
        for partition in current:
            if partition not in self._partitions:
                self._partitions[partition] = _Partition(now)

    def __len__(self) -> int:
        return len(self._partitions)

    def forget(self, partitions: Iterable[Hashable]) -> None:
        """Revoked partitions: what they delivered is void (their unsent posts are re-read), so one
        given back starts again from nothing delivered."""
        for partition in partitions:
            self._partitions.pop(partition, None)

    def delivered(self, partition: Hashable, ts: float, now: float) -> None:
        state = self._partitions.get(partition)
        if state is None:  # delivered before the assignment was tracked
            state = self._partitions[partition] = _Partition(now)
        state.delivered_at = now
        if ts > state.newest_ts:
            state.newest_ts = ts

    def set_unread(self, partition: Hashable, unread: bool) -> None:
        state = self._partitions.get(partition)
        if state is not None:
            state.unread = unread

    def unread(self, partition: Hashable) -> bool:
        state = self._partitions.get(partition)
        return state is None or state.unread

    def low(self, now: float) -> float:
        """The event time every partition has delivered its backlog up to: the least newest event
        time over partitions that still have unread posts and are not idle; inf when none has."""
        low = math.inf
        for state in self._partitions.values():
            if state.unread and now - state.delivered_at < self.idle_s and state.newest_ts < low:
                low = state.newest_ts
        return low


class EventTimeMerge(Generic[T]):
    """Items (posts) taken per source partition, released in event-time order across partitions:
    an item goes once no partition with unread posts can still deliver an older one. Within a
    partition an item waits for the items taken before it (offsets are committed per partition),
    but released items are sorted by event time, so a partition's may come out of offset order."""

    def __init__(self, idle_s: float) -> None:
        self.clock = PartitionClock(idle_s)
        self._pending: dict[Hashable, deque[tuple[float, T]]] = {}
        # Per partition, the pending entries (the same tuples) that are the least from their position
        # on, in increasing event time (a sliding-window minimum): its head is the partition's oldest
        # held item, so finding what is held costs a look per partition, not a scan of every item.
        self._least: dict[Hashable, deque[tuple[float, T]]] = {}
        self._newest_released = -math.inf
        # The event time up to which every item of the assigned partitions has been released
        # (as of the last release); -inf until something is.
        self.complete_to = -math.inf

    def add(self, partition: Hashable, items: Iterable[tuple[float | None, T]], now: float) -> None:
        """Items in the partition's order, each with its event time; an item without one (input that
        did not decode) takes its predecessor's, so it neither waits nor holds anything back."""
        queue = self._pending.setdefault(partition, deque())
        least = self._least.setdefault(partition, deque())
        previous = queue[-1][0] if queue else -math.inf
        newest = -math.inf
        for ts, item in items:
            if ts is None:
                ts = previous
            entry = (ts, item)
            queue.append(entry)
            while least and least[-1][0] > ts:
                least.pop()
            least.append(entry)
            previous = ts
            if ts > newest:
                newest = ts
        self.clock.delivered(partition, newest, now)

    def pending(self, partition: Hashable) -> int:
        queue = self._pending.get(partition)
        return len(queue) if queue else 0

    def release(self, now: float) -> list[tuple[float, Hashable, T]]:
        """(event time, partition, item) for the items that are safe to forward, oldest first
        (ties in partition order)."""
        bound = self.clock.low(now)
        released: list[tuple[float, Hashable, T]] = []
        for partition, queue in self._pending.items():
            least = self._least[partition]
            while queue and queue[0][0] <= bound:
                entry = queue.popleft()
                if least[0] is entry:
                    least.popleft()
                released.append((entry[0], partition, entry[1]))
        released.sort(key=_event_time)  # stable: ties keep partition and offset order
        if released:
            self._newest_released = max(self._newest_released, released[-1][0])
        # Items up to the bound are out, except any held behind a newer item of their partition;
        # none past the newest released was ever taken.
        held = min((least[0][0] for least in self._least.values() if least), default=math.inf)
        # Nothing assigned is nothing complete (the bound of no partitions is inf).
        self.complete_to = min(bound, self._newest_released, held) if len(self.clock) else -math.inf
        return released

    def drop(self, partitions: Iterable[Hashable]) -> None:
        """Revoked partitions: their pending items are not forwarded (their new owner re-reads them)."""
        partitions = list(partitions)
        for partition in partitions:
            self._pending.pop(partition, None)
            self._least.pop(partition, None)
        self.clock.forget(partitions)
        self.complete_to = -math.inf  # until the next release says again


def _event_time(entry: tuple[float, Hashable, object]) -> float:
    return entry[0]


class SourceFrontier:
    """What one re-keyed partition has been told by the rekeyers writing to it: per source
    partition, the event time up to which that partition's posts have all been written to it.
    Markers may come from several rekeyers (each owning some source partitions) and, after a
    rebalance, from a new owner that starts further back: each source partition keeps the
    furthest it was reported at."""

    def __init__(self) -> None:
        self._sources = 0
        self._complete: dict[int, float] = {}

    def update(self, sources: int, partitions: Iterable[int], complete_to: float) -> None:
        """A marker: of the source topic's `sources` partitions, `partitions` are complete up to `complete_to`."""
        self._sources = sources  # the latest count: a source topic may gain partitions
        for partition in partitions:
            if not 0 <= partition < sources:  # decode_frontier refuses these; kept bounded anyway
                continue
            if complete_to > self._complete.get(partition, -math.inf):
                self._complete[partition] = complete_to

    def complete_to(self) -> float:
        """The event time up to which every source partition is complete; -inf while one has not reported."""
        if not self._sources or len(self._complete) < self._sources:
            return -math.inf
        return min(self._complete.values())
