"""The shutdown deadline (abusewatch.common.shutdown): the last resort that ends a stop which hangs."""

from __future__ import annotations

import subprocess
import sys
import time

from abusewatch.common.shutdown import EXIT_SHUTDOWN_TIMEOUT

HANGING_STOP = """
import logging, threading, time
from abusewatch.common.shutdown import ShutdownDeadline
logging.basicConfig()
deadline = ShutdownDeadline("classifier", {timeout})
deadline.arm()
deadline.arm()  # a second signal does not move the deadline
threading.Event().wait(60)  # a stop that never finishes, holding the main thread
"""


def test_a_stop_that_hangs_ends_at_the_deadline_with_its_own_exit_code():
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", HANGING_STOP.format(timeout=0.5)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == EXIT_SHUTDOWN_TIMEOUT, result.stderr
    assert "classifier did not stop within 0.5 s (ABUSEWATCH_SHUTDOWN_TIMEOUT_S)" in result.stderr
    assert time.monotonic() - started < 30  # not the 60 s the stop would have taken


def test_an_unarmed_deadline_does_nothing():
    code = "from abusewatch.common.shutdown import ShutdownDeadline; ShutdownDeadline('api', 0.1); import time; time.sleep(0.5)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


EXIT_NOW = """
import logging, sys
from abusewatch.common.shutdown import exit_now
logging.basicConfig(stream=sys.stderr)
logging.getLogger("x").warning("logged before the exit")
sys.stdout.write("buffered output")
exit_now({code!r})
"""


def test_exit_now_flushes_logs_and_output_and_keeps_the_exit_code():
    for code, expected in ((None, 0), (0, 0), (3, 3), ("a message", 1)):
        result = subprocess.run([sys.executable, "-c", EXIT_NOW.format(code=code)], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == expected, (code, result.stderr)
        assert result.stdout == "buffered output" and "logged before the exit" in result.stderr
        if isinstance(code, str):
            assert code in result.stderr
