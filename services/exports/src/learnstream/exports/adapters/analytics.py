"""The analytics service's API as the exports service uses it: always as the requester.

Every data request carries the requester as the actor (``X-Actor-Id``/``X-Actor-Role``),
so analytics applies its own ownership checks: an export can never hold a course or a
learner the requester could not see on their dashboard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import orjson


class DataUnavailable(Exception):
    """Analytics could not be reached or failed; the export may be tried again."""


class DataRefused(Exception):
    """Analytics refused the request (not found, not allowed, invalid); says why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class ServiceClient:
    """A pooled HTTP client of another Learnstream service, carrying the service credential."""

    def __init__(self, base_url: str, *, service_token: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = service_token
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # made on first use: an aiohttp session belongs to the event loop that runs it
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                base_url=self.base_url,
                headers={"X-Service-Token": self._token},
                connector=aiohttp.TCPConnector(limit=16, keepalive_timeout=2.0),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class AnalyticsClient(ServiceClient):
    """The analytics service's API, always asked as an actor."""

    async def get(self, path: str, actor: tuple[UUID, str], **params: Any) -> dict[str, Any]:
        """GET ``path`` as ``actor`` (user id, role); params that are ``None`` are left out."""
        status, body = await self._ask(path, actor, params)
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise DataUnavailable(f"analytics answered {status} without JSON") from exc
        if not isinstance(answer, dict):
            raise DataUnavailable("analytics answered with something other than an object")
        return answer

    async def download(self, path: str, actor: tuple[UUID, str], target: Path, **params: Any) -> None:
        """GET ``path`` as ``actor`` into the file ``target`` (rows too many to hold in memory)."""
        await self._ask(path, actor, params, target)

    async def _ask(
        self, path: str, actor: tuple[UUID, str], params: dict[str, Any], target: Path | None = None
    ) -> tuple[int, bytes]:
        """The status and body of a 200 answer (the body streamed to ``target`` when one is
        given); a refusal or a failure is raised."""
        query = {key: str(value) for key, value in params.items() if value is not None}
        headers = {"X-Actor-Id": str(actor[0]), "X-Actor-Role": actor[1]}
        try:
            async with self._client().get(path, params=query, headers=headers) as response:
                status = response.status
                if status == 200 and target is not None:
                    with target.open("wb") as out:
                        async for chunk in response.content.iter_chunked(1 << 20):
                            out.write(chunk)
                    return status, b""
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DataUnavailable(f"analytics is unavailable ({type(exc).__name__})") from exc
        if status >= 500:
            raise DataUnavailable(f"analytics answered {status}")
        if status != 200:
            try:
                answer = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise DataUnavailable(f"analytics answered {status} without JSON") from exc
            detail = answer.get("detail") if isinstance(answer, dict) else None
            raise DataRefused(status, str(detail or f"analytics answered {status}"))
        return status, body
