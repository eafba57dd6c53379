"""The analytics service's API as the exports service uses it: always as the requester.

Every data request carries the requester as the actor (``X-Actor-Id``/``X-Actor-Role``),
so analytics applies its own ownership checks: an export can never hold a course or a
learner the requester could not see on their dashboard.
"""

from __future__ import annotations

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
        query = {key: str(value) for key, value in params.items() if value is not None}
        headers = {"X-Actor-Id": str(actor[0]), "X-Actor-Role": actor[1]}
        try:
            async with self._client().get(path, params=query, headers=headers) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DataUnavailable(f"analytics is unavailable ({type(exc).__name__})") from exc
        if status >= 500:
            raise DataUnavailable(f"analytics answered {status}")
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise DataUnavailable(f"analytics answered {status} without JSON") from exc
        if status != 200:
            detail = answer.get("detail") if isinstance(answer, dict) else None
            raise DataRefused(status, str(detail or f"analytics answered {status}"))
        if not isinstance(answer, dict):
            raise DataUnavailable("analytics answered with something other than an object")
        return answer
