"""Serving an API app on a real socket for tests: a free loopback port and a client with the token."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from aiohttp import web


@contextlib.asynccontextmanager
async def api_client(app: web.Application, token: str, timeout: float = 10, **client: object) -> AsyncIterator[httpx.AsyncClient]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with httpx.AsyncClient(
            base_url=f"http://{host}:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=timeout, **client
        ) as http:
            yield http
    finally:
        await runner.cleanup()
