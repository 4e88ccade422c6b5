"""Event time that stays safe while the detector catches up on a backlog. No Kafka.

A backlog's partitions are read at very different event-time rates: one can be an hour of event
time ahead of another. The newest post seen then says nothing about the posts still unread
elsewhere, and a watermark taken from it closes campaigns whose next posts are still on the way,
while a target's posts reach the detector out of order. So:

- the rekeyer merges its source partitions in event-time order (`EventTimeMerge`): a post waits
  until every partition that still has unread posts has been read up to its event time;
- the detect agent caps its lifecycle watermark at the low watermark of the re-keyed partitions
  it reads (`PartitionClock.low`).

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

    def add(self, partition: Hashable, items: Iterable[tuple[float | None, T]], now: float) -> None:
        """Items in the partition's order, each with its event time; an item without one (input that
        did not decode) takes its predecessor's, so it neither waits nor holds anything back."""
        queue = self._pending.setdefault(partition, deque())
        previous = queue[-1][0] if queue else -math.inf
        newest = -math.inf
        for ts, item in items:
            if ts is None:
                ts = previous
            queue.append((ts, item))
            previous = ts
            newest = max(newest, ts)
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
            while queue and queue[0][0] <= bound:
                ts, item = queue.popleft()
                released.append((ts, partition, item))
        released.sort(key=_event_time)  # stable: ties keep partition and offset order
        return released

    def drop(self, partitions: Iterable[Hashable]) -> None:
        """Revoked partitions: their pending items are not forwarded (their new owner re-reads them)."""
        for partition in partitions:
            self._pending.pop(partition, None)


def _event_time(entry: tuple[float, Hashable, object]) -> float:
    return entry[0]
