"""The last resort behind every service's shutdown bound (ServiceSettings.shutdown_timeout_s)."""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

# Exit status of a service whose stop outlasted its bound (EX_TEMPFAIL: a restart is the remedy).
EXIT_SHUTDOWN_TIMEOUT = 75


class ShutdownDeadline:
    """The last resort behind the shutdown bound: once armed (when a stop begins), exit the process
    `timeout_s` later if it is still there, so an orchestrator never has to SIGKILL it. A thread
    timer, because a stop that hangs may be holding the event loop."""

    def __init__(self, role: str, timeout_s: float) -> None:
        self.role = role
        self.timeout_s = timeout_s
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.timeout_s, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        log.critical(
            "%s did not stop within %g s (ABUSEWATCH_SHUTDOWN_TIMEOUT_S); exiting now: what it had not "
            "committed is re-read by its successor", self.role, self.timeout_s,
        )
        logging.shutdown()
        os._exit(EXIT_SHUTDOWN_TIMEOUT)

