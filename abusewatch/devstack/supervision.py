"""When to restart a role process that exited, like a kubelet's restart policy (pure, no processes).

Each exit of a role is a failure. The delay before the restart doubles with every failure in the
last `window_s` seconds, from `base_s` up to `max_s`; failures older than the window are forgotten,
so a role that stayed up for a whole window restarts after `base_s` again. A role with at least
`crash_loop_failures` failures in the window is crash-looping: it is reported, and still restarted
every `max_s` (a kubelet's CrashLoopBackOff), so it comes back by itself once its cause is fixed.
"""

from __future__ import annotations

import dataclasses
from collections import deque

from abusewatch.common.backoff import Backoff
from abusewatch.common.settings import SupervisorSettings


@dataclasses.dataclass(frozen=True)
class RestartDecision:
    """What to do after a role exited: restart it after `delay_s`."""

    delay_s: float
    failures_in_window: int
    crash_looping: bool
    newly_crash_looping: bool  # this failure made it crash-looping (report once, not on every retry)


@dataclasses.dataclass(frozen=True)
class RestartPolicy:
    base_s: float
    max_s: float
    crash_loop_failures: int
    window_s: float

    def __post_init__(self) -> None:
        Backoff(self.base_s, self.max_s)  # raises on a bad pair
        if self.crash_loop_failures < 1 or self.window_s <= 0:
            raise ValueError("crash-loop detection needs at least 1 failure and a positive window")

    @classmethod
    def from_settings(cls, settings: SupervisorSettings) -> RestartPolicy:
        return cls(settings.restart_backoff_s, settings.restart_backoff_max_s,
                   settings.crash_loop_failures, settings.crash_loop_window_s)

    def delay(self, failures_in_window: int) -> float:
        """Backoff before the restart that follows the n-th failure in the window (n >= 1)."""
        return Backoff(self.base_s, self.max_s).delay(failures_in_window - 1)


class RoleRestarts:
    """One role's failure history under a RestartPolicy. Times are monotonic seconds."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self._failures: deque[float] = deque()
        self.crash_looping = False
        self.restarts = 0

    def failed(self, now: float) -> RestartDecision:
        """Record an exit at `now` and decide when to restart."""
        self._forget_before(now - self.policy.window_s)
        self._failures.append(now)
        count = len(self._failures)
        looping = count >= self.policy.crash_loop_failures
        newly = looping and not self.crash_looping
        self.crash_looping = looping
        self.restarts += 1
        return RestartDecision(self.policy.delay(count), count, looping, newly)

    def _forget_before(self, cutoff: float) -> None:
        while self._failures and self._failures[0] < cutoff:
            self._failures.popleft()
