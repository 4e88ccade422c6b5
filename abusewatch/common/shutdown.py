"""How a service process ends: at once when its stop is complete, and by a deadline when it is not.

The bound is ServiceSettings.shutdown_timeout_s (docs/operations.md, "Supervision and shutdown").
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import NoReturn

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


def exit_now(code: object) -> NoReturn:
    """End a service whose stop is complete (offsets committed, producers flushed, loop closed)
    with `code` (a SystemExit code), skipping the interpreter's finalization.

    Finalization is where a stopped service spent most of its exit time: full garbage collections
    over the model's and libraries' objects and native destructors, on the main thread with the GIL
    held, so that even the deadline's thread could not run. Nothing is left to save by then.
    """
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)  # what SystemExit("message") would print
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)
