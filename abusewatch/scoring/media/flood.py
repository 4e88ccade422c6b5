"""Flood protection, as HMA plans it: a bank entry whose match rate jumps is flagged for review.

A hash that suddenly matches far more posts than before is more often a bad entry (a meme, a
blank frame, a logo added to a bank by mistake) than a wave of abuse; its matches are marked
`flooding`, so the policy can send them to a reviewer instead of acting on each one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class MatchRates:
    """Matches per bank entry in event-time tumbling windows: the current window and the one before.

    Bounded to `max_tracked` entries, the least recently matched dropped (a dropped entry starts
    again from nothing, which can only delay a flag)."""

    def __init__(self, window_s: int, min_matches: int, jump: float, max_tracked: int) -> None:
        self._window_s = window_s
        self._min_matches = min_matches
        self._jump = jump
        self._max_tracked = max_tracked
        self._counts: OrderedDict[Hashable, tuple[int, int, int]] = OrderedDict()  # window, count, previous

    def record(self, entry: Hashable, event_time: float) -> bool:
        """Count one match of `entry` at `event_time`; True when its rate has jumped (flooding)."""
        window = int(event_time // self._window_s)
        seen = self._counts.pop(entry, None)
        if seen is None:
            counts = (window, 1, 0)
        else:
            last_window, count, previous = seen
            if window == last_window or window < last_window:  # a late match counts in the current window
                counts = (last_window, count + 1, previous)
            else:
                counts = (window, 1, count if window == last_window + 1 else 0)
        self._counts[entry] = counts
        while len(self._counts) > self._max_tracked:
            self._counts.popitem(last=False)
        _, count, previous = counts
        return count >= self._min_matches and count >= self._jump * previous

    def __len__(self) -> int:
        return len(self._counts)
