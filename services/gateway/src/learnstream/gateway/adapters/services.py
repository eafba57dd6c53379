"""HTTP clients of the context services' APIs, as the gateway sees them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


class ContextServices:
    """One pooled HTTP client for every context service, carrying the service credential."""

    def __init__(self, urls: dict[str, str], *, service_token: str, timeout: float) -> None:
        self.urls = urls
        self._client = httpx.AsyncClient(timeout=timeout, headers={"X-Service-Token": service_token})

    async def close(self) -> None:
        await self._client.aclose()

    async def health(self, service: str) -> tuple[str, dict[str, Any]]:
        """``("ok", body)`` or ``(reason, body)`` for one service's ``/health``."""
        try:
            response = await self._client.get(f"{self.urls[service]}/health")
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

    async def health_of_all(self) -> dict[str, tuple[str, dict[str, Any]]]:
        names = list(self.urls)
        results = await asyncio.gather(*(self.health(name) for name in names))
        return dict(zip(names, results, strict=True))
