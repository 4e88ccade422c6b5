"""A real HTTP webhook receiver for tests: an aiohttp server on a loopback port, in its own thread,
that can be told to fail (any status), to answer slowly, and to recover."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable

from aiohttp import web

from abusewatch.devstack.broker import free_port


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    def __init__(self) -> None:
        self.port = free_port()
        # path -> (status answered instead of 200, how many more times; None: until recover())
        self.failing_status: dict[str, tuple[int, int | None]] = {}
        self.delay_s = 0.0
        self.attempts: dict[str, int] = {}  # path -> requests seen, failed ones included
        self.received: list[Received] = []  # requests answered 200
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fail(self, path: str, status: int = 500, times: int | None = None) -> None:
        with self._lock:
            self.failing_status[path] = (status, times)

    def recover(self, path: str) -> None:
        with self._lock:
            self.failing_status.pop(path, None)

    def delivered(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def attempts_at(self, path: str) -> int:
        with self._lock:
            return self.attempts.get(path, 0)

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
            time.sleep(0.1)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            self.attempts[request.path] = self.attempts.get(request.path, 0) + 1
            status, times = self.failing_status.get(request.path, (None, None))
            if times is not None:
                if times <= 1:
                    self.failing_status.pop(request.path)
                else:
                    self.failing_status[request.path] = (status, times - 1)
            delay = self.delay_s
        if delay:
            await asyncio.sleep(delay)
        if status is not None:
            return web.Response(status=status, text="receiver failing on purpose")
        with self._lock:
            self.received.append(Received(request.path, dict(request.headers), body))
        return web.Response(status=200, text="ok")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        assert self._started.wait(10), "webhook receiver did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
