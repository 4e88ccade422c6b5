"""Where the detector keeps per-target state and the author -> campaign index.

`StateStore` is the small interface the detector needs; `TargetStates` is the in-process
implementation used by replay, benchmarks and tests (the Faust service adapts a Table to it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from typing import Protocol

from abusewatch.detection.state import TargetState


class StateStore(Protocol):
    def get(self, target: str) -> TargetState | None: ...

    def put(self, target: str, state: TargetState) -> None: ...

    def expire(self, cutoff_ts: float) -> list[str]:
        """Forget targets whose newest event is older than cutoff_ts and that have no open
        campaign; return their ids."""
        ...


def stale_targets(states: Iterable[tuple[str, TargetState]], cutoff_ts: float) -> tuple[list[str], list[str]]:
    """(target, state) pairs in least-recently-updated order, walked up to the first updated at or
    after cutoff_ts (posts come in event-time order, so the rest are recent too): the targets to
    forget, and the stale ones with an open campaign, which stay (moved behind the recent ones)."""
    forget: list[str] = []
    with_campaign: list[str] = []
    for target, state in states:
        if state.newest_ts >= cutoff_ts:
            break
        (forget if state.campaign is None else with_campaign).append(target)
    return forget, with_campaign


class TargetStates:
    """A dict kept in least-recently-updated order, so expiry pops from the front and stops at
    the first recent target instead of scanning every target."""

    def __init__(self) -> None:
        self._states: dict[str, TargetState] = {}

    def __len__(self) -> int:
        return len(self._states)

    def get(self, target: str) -> TargetState | None:
        return self._states.get(target)

    def put(self, target: str, state: TargetState) -> None:
        states = self._states
        states.pop(target, None)
        states[target] = state

    def expire(self, cutoff_ts: float) -> list[str]:
        states = self._states
        expired, with_campaign = stale_targets(states.items(), cutoff_ts)
        for target in expired:
            del states[target]
        for target in with_campaign:  # still open: move behind the recent ones
            self.put(target, states[target])
        return expired

    def items(self):
        return self._states.items()


class AuthorIndex:
    """author_id -> (campaign_id, target_id) of the latest campaign the author took part in,
    bounded: the least recently seen authors are forgotten first.

    With several detector workers each owns some targets, so each sees only its own campaigns.
    `on_update` (the service's publisher) receives the authors a campaign newly claims, and
    `record_campaign(..., publish=False)` applies what other workers published."""

    def __init__(self, capacity: int, on_update: Callable[[str, str, list[str]], None] | None = None) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._on_update = on_update

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, author: str) -> tuple[str, str] | None:
        return self._entries.get(author)

    def record(self, author: str, campaign_id: str, target: str) -> None:
        entries = self._entries
        entries[author] = (campaign_id, target)
        entries.move_to_end(author)
        if len(entries) > self._capacity:
            entries.popitem(last=False)

    def record_campaign(self, campaign_id: str, target: str, authors: Collection[str], publish: bool = True) -> None:
        """Record the campaign's authors; with publish, pass the ones whose entry changed to on_update."""
        entry = (campaign_id, target)
        changed = [author for author in authors if self._entries.get(author) != entry]
        for author in authors:
            self.record(author, campaign_id, target)
        if changed and publish and self._on_update is not None:
            self._on_update(campaign_id, target, changed)
