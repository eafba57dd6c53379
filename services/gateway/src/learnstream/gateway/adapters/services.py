"""HTTP clients of the context services' APIs, as the gateway sees them.

aiohttp rather than httpx: every public request costs the gateway one to five upstream
calls, and on this kind of machine an httpx call cost 3.7-5.3 ms of CPU at 40 in flight
(httpcore checks every pooled connection's socket for every request) against 0.27-0.33 ms
for aiohttp, measured side by side against the same service.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from opentelemetry import propagate


class Unavailable(Exception):
    """A context service is down, too slow or failing."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"the {service} service is unavailable ({reason})")
        self.service = service
        self.reason = reason


class Answer:
    """A context's answer: status and headers, and the body read whole or streamed."""

    def __init__(self, response: aiohttp.ClientResponse, body: bytes | None = None) -> None:
        self._response = response
        self.status_code = response.status
        self.headers: CIMultiDictProxy[str] = response.headers
        self.content = body

    def json(self) -> Any:
        """The body as JSON (``ValueError`` when it is not JSON or was not read)."""
        if self.content is None:
            raise ValueError("the body was streamed, not read")
        return json.loads(self.content)

    async def read(self) -> bytes:
        """Read the rest of a streamed body and release the connection."""
        if self.content is None:
            try:
                self.content = await self._response.read()
            finally:
                self._response.release()
        return self.content

    async def chunks(self) -> AsyncIterator[bytes]:
        """A streamed body as it arrives."""
        async for chunk in self._response.content.iter_any():
            yield chunk

    async def close(self) -> None:
        self._response.release()


class ContextServices:
    """One pooled HTTP client per context service, carrying the service credential."""

    def __init__(self, urls: dict[str, str], *, service_token: str, timeout: float) -> None:
        self.urls = urls
        self.timeout = timeout
        self._token = service_token
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    def _session(self, service: str) -> aiohttp.ClientSession:
        # made on first use: an aiohttp session belongs to the event loop that runs it
        session = self._sessions.get(service)
        if session is None or session.closed:
            session = aiohttp.ClientSession(
                base_url=self.urls[service],
                headers={"X-Service-Token": self._token},
                # idle connections are dropped before the services' keep-alive (uvicorn: 5 s)
                # ends, so a request never goes out on a connection being closed
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=2.0),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                auto_decompress=False,
            )
            self._sessions[service] = session
        return session

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

    async def _send(
        self,
        service: str,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
        stream: bool = False,
        timeout: float | None = None,
        server_errors: bool = False,
    ) -> Answer:
        """Raises :class:`Unavailable` when the service cannot be reached or fails (5xx, unless
        ``server_errors`` asks for those answers too)."""
        if stream:
            # a streamed answer may take long as a whole; no chunk may take longer than this
            limits = aiohttp.ClientTimeout(
                total=None, sock_connect=self.timeout, sock_read=timeout or self.timeout
            )
        else:
            limits = aiohttp.ClientTimeout(total=timeout or self.timeout)
        # the context's work joins the trace of the public request (W3C traceparent)
        traced = dict(headers or {})
        propagate.inject(traced)
        try:
            response = await self._session(service).request(
                method, path, params=params or None, data=body, headers=traced, timeout=limits
            )
            if response.status >= 500 and not server_errors:
                response.release()
                raise Unavailable(service, f"answered {response.status}")
            answer = Answer(response)
            if not stream:
                await answer.read()
        except TimeoutError as exc:
            raise Unavailable(service, f"no answer in time: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            raise Unavailable(service, type(exc).__name__) from exc
        return answer

    async def forward(
        self,
        service: str,
        method: str,
        path: str,
        *,
        actor: tuple[str, str] | None,
        params: list[tuple[str, str]],
        body: bytes | None,
        accept: str | None = None,
        stream: bool = False,
        timeout: float | None = None,
        cache_control: str | None = None,
    ) -> Answer:
        """Send a public request on to the context that owns it, as ``actor`` (user id, role;
        ``None`` for a route that needs no token); ``cache_control`` is the client's (``no-cache``
        asks a context not to answer from what it keeps).

        With ``stream`` the answer's body is not read yet (the caller streams or reads it,
        then closes it). Raises :class:`Unavailable` when the service cannot be reached or
        fails (5xx), so the caller answers 503 instead of passing an internal error on.
        """
        headers = {"X-Actor-Id": actor[0], "X-Actor-Role": actor[1]} if actor is not None else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if accept:
            headers["Accept"] = accept
        if cache_control:
            headers["Cache-Control"] = cache_control
        return await self._send(
            service, method, path, headers=headers, params=params, body=body, stream=stream, timeout=timeout
        )

    async def internal(self, service: str, method: str, path: str) -> Answer:
        """Call a service's internal API as the gateway itself (no actor)."""
        return await self._send(service, method, path)

    async def health(self, service: str) -> tuple[str, dict[str, Any]]:
        """``("ok", body)`` or ``(reason, body)`` for one service's ``/health``."""
        try:
            # a failing service answers /health with 503 and says why
            response = await self._send(service, "GET", "/health", server_errors=True)
        except Unavailable as exc:
            return f"unreachable: {exc.reason}", {}
        try:
            body = response.json()
        except ValueError:
            return f"answered {response.status_code} without JSON", {}
        if response.status_code == 200 and body.get("status") == "ok":
            return "ok", body
        failing = {k: v for k, v in body.get("checks", {}).items() if v != "ok"}
        return f"degraded: {failing}" if failing else f"answered {response.status_code}", body

    async def openapi(self, service: str) -> dict[str, Any]:
        """The service's OpenAPI document."""
        response = await self.internal(service, "GET", "/openapi.json")
        try:
            document = response.json()
        except ValueError as exc:
            raise Unavailable(service, "its /openapi.json is not JSON") from exc
        if response.status_code != 200 or not isinstance(document, dict):
            raise Unavailable(service, f"its /openapi.json answered {response.status_code}")
        return document

    async def health_of_all(self) -> dict[str, tuple[str, dict[str, Any]]]:
        names = list(self.urls)
        results = await asyncio.gather(*(self.health(name) for name in names))
        return dict(zip(names, results, strict=True))
