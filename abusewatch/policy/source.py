"""Hot reload: the policy file is re-read when its modification time changes.

A bad new file never replaces a good policy: the error is logged, counted by the caller through
`last_error`, and the previous policy stays in force until the file is fixed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from abusewatch.common import resources
from abusewatch.policy.model import Policy, PolicyError, load_policy

log = logging.getLogger(__name__)


class PolicyFile:
    """The current policy of one file. The first load raises PolicyError (fail fast at startup)."""

    def __init__(
        self, path: str | Path, *, reload_interval_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = resources.shipped_or_local(path)
        self._reload_interval_s = reload_interval_s
        self._clock = clock
        self._mtime_ns = os.stat(self.path).st_mtime_ns if self.path.exists() else None
        self._policy = load_policy(self.path)
        self._checked_at = clock()
        self.last_error: str | None = None
        log.info("policy %s loaded from %s (%d rules)", self._policy.version, self.path, len(self._policy.rules))

    def current(self) -> Policy:
        """The policy in force, reloaded first if the interval passed and the file changed."""
        now = self._clock()
        if now - self._checked_at >= self._reload_interval_s:
            self._checked_at = now
            self.reload_if_changed()
        return self._policy

    def reload_if_changed(self) -> bool:
        """Re-read the file if its mtime changed; True when a new policy took effect."""
        try:
            mtime_ns = os.stat(self.path).st_mtime_ns
        except OSError as exc:
            self._reject(f"{self.path}: cannot stat policy file: {exc}")
            return False
        if mtime_ns == self._mtime_ns:
            return False
        # Remember the mtime even when the file is bad, so one broken save is logged once.
        self._mtime_ns = mtime_ns
        try:
            policy = load_policy(self.path)
        except PolicyError as exc:
            self._reject(str(exc))
            return False
        previous, self._policy, self.last_error = self._policy, policy, None
        log.info("policy reloaded: %s -> %s", previous.version, policy.version)
        return True

    def _reject(self, error: str) -> None:
        self.last_error = error
        log.error("policy reload rejected, keeping %s: %s", self._policy.version, error)
