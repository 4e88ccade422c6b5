"""Capped exponential backoff: one definition for every retry and restart delay."""

from __future__ import annotations

import dataclasses
import random


@dataclasses.dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry number `attempt` (0-based): initial_s * factor**attempt, at most max_s."""

    initial_s: float
    max_s: float
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(f"backoff must satisfy 0 < initial ({self.initial_s}) <= max ({self.max_s})")

    def delay(self, attempt: int) -> float:
        # Cap the exponent too: a long outage must not overflow the float.
        return min(self.max_s, self.initial_s * self.factor ** min(attempt, 64))

    def jittered(self, attempt: int, rng: random.Random | None = None) -> float:
        """delay(attempt) scaled by a random 50-100%: clients retrying one failure spread out
        instead of arriving together, and no wait is shorter than half the schedule's."""
        return self.delay(attempt) * (0.5 + 0.5 * (rng or random).random())
