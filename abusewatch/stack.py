"""The whole pipeline as local processes: broker (optional), topics, and one process per role.

Used by `abusewatch run` (make run), `abusewatch demo` and the end-to-end tests, so what the tests
exercise is what a user starts. Each role runs as `abusewatch serve ROLE` in its own process, as in
Kubernetes (deploy/), so a test can kill one and restart it.
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

from abusewatch import config
from abusewatch.broker import EmbeddedBroker, create_topics
from abusewatch.services.serve import ROLES as ALL_ROLES
from abusewatch.settings import KafkaSettings, ServiceSettings

log = logging.getLogger(__name__)


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
        self.log_dir = log_dir or Path(self.kafka.data_dir) / "logs"
        self.broker: EmbeddedBroker | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

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
            [sys.executable, "-m", "abusewatch.cli", "serve", role],
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
        # Stop consumers first (SIGTERM: Faust flushes and commits), then the broker.
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for role, process in self.processes.items():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within 30 s; killing it", role)
                process.kill()
                process.wait()
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

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
