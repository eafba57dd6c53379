"""HTTP clients of the context services' APIs, as the gateway sees them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


class Unavailable(Exception):
    """A context service is down, too slow or failing."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"the {service} service is unavailable ({reason})")
        self.service = service


class ContextServices:
    """One pooled HTTP client for every context service, carrying the service credential."""

    def __init__(self, urls: dict[str, str], *, service_token: str, timeout: float) -> None:
        self.urls = urls
        # One pool per service: httpcore's cost of handing out a connection grows with the
        # pool's connections times the waiting requests, which dominated a 100-client profile
        # with one shared pool. Idle connections are dropped before the services' keep-alive
        # (uvicorn: 5 s) ends, so a request never goes out on a connection being closed.
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
        self._clients = {
            name: httpx.AsyncClient(
                base_url=url, timeout=timeout, headers={"X-Service-Token": service_token}, limits=limits
            )
            for name, url in urls.items()
        }

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def health(self, service: str) -> tuple[str, dict[str, Any]]:
        """``("ok", body)`` or ``(reason, body)`` for one service's ``/health``."""
        try:
            response = await self._clients[service].get("/health")
        except httpx.HTTPError as exc:
            return f"unreachable: {type(exc).__name__}", {}
        try:
            body = response.json()
        except ValueError:
            return f"answered {response.status_code} without JSON", {}
        if response.status_code == 200 and body.get("status") == "ok":
            return "ok", body
        failing = {k: v for k, v in body.get("checks", {}).items() if v != "ok"}
        return f"degraded: {failing}" if failing else f"answered {response.status_code}", body

    async def forward(
        self,
        service: str,
        method: str,
        path: str,
        *,
        actor: tuple[str, str],
        params: list[tuple[str, str]],
        body: bytes | None,
        accept: str | None = None,
        stream: bool = False,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send a public request on to the context that owns it, as ``actor`` (user id, role).

        With ``stream`` the answer's body is not read yet (the caller streams and closes it).
        Raises :class:`Unavailable` when the service cannot be reached or fails (5xx), so the
        caller answers 503 instead of passing an internal error on.
        """
        headers = {"X-Actor-Id": actor[0], "X-Actor-Role": actor[1]}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if accept:
            headers["Accept"] = accept
        client = self._clients[service]
        request = client.build_request(
            method,
            path,
            params=httpx.QueryParams(tuple(params)),
            content=body,
            headers=headers,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        try:
            response = await client.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise Unavailable(service, f"no answer in time: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise Unavailable(service, type(exc).__name__) from exc
        if response.status_code >= 500:
            await response.aclose()
            raise Unavailable(service, f"answered {response.status_code}")
        return response

    async def internal(self, service: str, method: str, path: str) -> httpx.Response:
        """Call a service's internal API as the gateway itself (no actor)."""
        try:
            response = await self._clients[service].request(method, path)
        except httpx.HTTPError as exc:
            raise Unavailable(service, type(exc).__name__) from exc
        if response.status_code >= 500:
            raise Unavailable(service, f"answered {response.status_code}")
        return response

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
