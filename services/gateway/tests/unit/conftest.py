"""Fake context services at the HTTP edge: real aiohttp servers on loopback, one per
context, each answering what the test says."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from learnstream.devstack.servers import free_port
from learnstream.gateway.adapters.services import ContextServices

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN = "service-token-of-the-tests"


def answering(status: int, body: Any = None, *, delay: float = 0.0) -> Handler:
    """A context that answers ``status`` with ``body`` as JSON (after ``delay`` seconds)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        assert request.headers["X-Service-Token"] == TOKEN
        if delay:
            await asyncio.sleep(delay)
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    return handle


@contextlib.asynccontextmanager
async def fake_contexts(
    handlers: dict[str, Handler], *, down: tuple[str, ...] = (), timeout: float = 0.5
) -> AsyncIterator[ContextServices]:
    """Clients of the contexts in ``handlers`` (served by them) and of ``down`` (nothing listens)."""
    servers: dict[str, TestServer] = {}
    try:
        for name, handler in handlers.items():
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handler)
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            servers[name] = server
        urls = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
        urls |= {name: f"http://127.0.0.1:{free_port()}" for name in down}
        services = ContextServices(urls, service_token=TOKEN, timeout=timeout)
        try:
            yield services
        finally:
            await services.close()
    finally:
        for server in servers.values():
            await server.close()
