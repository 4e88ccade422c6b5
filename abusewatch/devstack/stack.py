"""The whole pipeline as local processes: broker (optional), topics, and one process per role.

Used by `abusewatch run` (make run), `abusewatch demo` and the end-to-end tests, so what the tests
exercise is what a user starts. Each role runs as `abusewatch serve ROLE` in its own process, as in
Kubernetes (deploy/), so a test can kill one and restart it. `supervise` restarts a role that
exited, with backoff (abusewatch.devstack.supervision), as a kubelet would; `check_alive` fails fast instead.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from abusewatch.common import config
from abusewatch.devstack.broker import EmbeddedBroker
from abusewatch.ingest.topics import create_topics
from abusewatch.services.serve import ROLES as ALL_ROLES
from abusewatch.common.settings import KafkaSettings, ServiceSettings, SupervisorSettings
from abusewatch.devstack.supervision import RestartPolicy, RoleRestarts

log = logging.getLogger(__name__)
# How long past a role's own shutdown bound (ABUSEWATCH_SHUTDOWN_TIMEOUT_S) Stack.stop waits before
# SIGKILL: the bound ends the role's stop from inside, this only catches a role that cannot run.
STOP_GRACE_S = 10.0


class ServiceFailed(RuntimeError):
    pass


class Stack:
    """Start/stop the pipeline. `env` overrides the environment for every child process."""

    def __init__(
        self,
        roles: Sequence[str] = ALL_ROLES,
        env: Mapping[str, str] | None = None,
        embedded_broker: bool | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.env = {**os.environ, **(env or {})}
        self.roles = tuple(roles)
        # KAFKA_BOOTSTRAP given -> use that Kafka; otherwise start the embedded broker.
        self.embedded_broker = ("KAFKA_BOOTSTRAP" not in self.env) if embedded_broker is None else embedded_broker
        self.kafka = config.load(KafkaSettings, env=self.env)
        self.service = config.load(ServiceSettings, env=self.env)
        self.restart_policy = RestartPolicy.from_settings(config.load(SupervisorSettings, env=self.env))
        self.log_dir = log_dir or Path(self.kafka.data_dir) / "logs"
        self.broker: EmbeddedBroker | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, RoleRestarts] = {}  # roles that exited at least once under supervise()
        self._restart_due: dict[str, float] = {}  # role -> monotonic time of its next start
        self._awaiting_ready: set[str] = set()  # restarted, not yet seen ready

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, ready_timeout_s: float = 180.0) -> Stack:
        """Start the broker (if embedded) and every role, and wait until all are ready. On failure
        everything started is stopped again and the error carries the failing roles' log tails."""
        try:
            if self.embedded_broker:
                host, port = self.kafka.bootstrap.rsplit(":", 1)
                self.broker = EmbeddedBroker(port=int(port), host=host).start()
            create_topics(self.kafka)
            for role in self.roles:
                self.start_role(role)
            self.wait_ready(self.roles, ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def start_role(self, role: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_file = open(self.log_dir / f"{role}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[role] = subprocess.Popen(
            [sys.executable, "-m", "abusewatch.cli.main", "serve", role],
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal reaches only us; we stop children in order
        )
        log_file.close()

    def kill_role(self, role: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(role)
        process.send_signal(sig)
        process.wait(timeout=60)

    def stop(self) -> None:
        # Stop consumers first (SIGTERM: each flushes its producers and commits), then the broker.
        self._restart_due.clear()
        self._awaiting_ready.clear()
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        bound = self.service.shutdown_timeout_s + STOP_GRACE_S
        deadline = time.monotonic() + bound
        for role, process in self.processes.items():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", role, bound)
                process.kill()
                process.wait()
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    # -- supervision -------------------------------------------------------------------------

    def supervise(self) -> None:
        """One pass of the supervisor (`abusewatch run` calls it twice a second): a role that exited
        is logged with its exit code and log tail and restarted after its backoff; one that keeps
        failing is reported as crash-looping and still retried, at the longest backoff."""
        now = time.monotonic()
        for role, process in list(self.processes.items()):
            if process.poll() is None:
                if role in self._awaiting_ready and self.is_ready(role):
                    self._awaiting_ready.discard(role)
                    log.info("%s is ready again after restart %d", role, self.restarts[role].restarts)
                continue
            del self.processes[role]
            self._awaiting_ready.discard(role)
            decision = self.restarts.setdefault(role, RoleRestarts(self.restart_policy)).failed(now)
            log.warning(
                "%s exited with %s; restarting it in %.1f s (failure %d within %.0f s); last log lines:\n%s",
                role, describe_exit(process.returncode), decision.delay_s, decision.failures_in_window,
                self.restart_policy.window_s, self.log_tail(role),
            )
            if decision.newly_crash_looping:
                log.error(
                    "%s is crash-looping: %d failures within %.0f s; still restarting it, up to every %.0f s. "
                    "The other roles keep running; its log is %s",
                    role, decision.failures_in_window, self.restart_policy.window_s, self.restart_policy.max_s,
                    self.log_dir / f"{role}.log",
                )
            self._restart_due[role] = now + decision.delay_s
        for role, due in list(self._restart_due.items()):
            if now >= due:
                del self._restart_due[role]
                log.info("restarting %s (restart %d)", role, self.restarts[role].restarts)
                self.start_role(role)
                self._awaiting_ready.add(role)

    @property
    def crash_looping(self) -> list[str]:
        return sorted(role for role, restarts in self.restarts.items() if restarts.crash_looping)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- health ------------------------------------------------------------------------------

    def port_of(self, role: str) -> int:
        return getattr(self.service, f"{role}_port")

    def url(self, role: str, path: str = "") -> str:
        return f"http://{self.service.host}:{self.port_of(role)}{path}"

    def is_ready(self, role: str) -> bool:
        try:
            with urllib.request.urlopen(self.url(role, "/readyz"), timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def check_alive(self) -> None:
        for role, process in self.processes.items():
            if process.poll() is not None:
                tail = self.log_tail(role)
                raise ServiceFailed(f"{role} exited with code {process.returncode}; last log lines:\n{tail}")

    def wait_ready(self, roles: Sequence[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(roles)
        while pending:
            self.check_alive()
            pending = [role for role in pending if not self.is_ready(role)]
            if pending and time.monotonic() > deadline:
                tails = "".join(f"\n--- {role} log ---\n{self.log_tail(role)}" for role in pending)
                raise ServiceFailed(f"not ready after {timeout_s:.0f}s: {', '.join(pending)}{tails}")
            if pending:
                time.sleep(0.5)

    def log_tail(self, role: str, lines: int = 40) -> str:
        path = self.log_dir / f"{role}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def describe_exit(returncode: int) -> str:
    """'code 70' or 'signal SIGKILL' (Popen reports death by signal N as -N)."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"code {returncode}"
