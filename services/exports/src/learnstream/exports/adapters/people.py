"""Whom to write to: the gateway owns accounts (and e-mail addresses, which no event
carries); its internal API gives the address of one user."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import aiohttp
import orjson


class AccountUnavailable(Exception):
    """The account could not be read (the gateway is down, or the account is gone)."""


class Accounts:
    def __init__(self, gateway_url: str, *, service_token: str, timeout: float = 10.0) -> None:
        self.gateway_url = gateway_url.rstrip("/")
        self._token = service_token
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"X-Service-Token": self._token}, timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def account(self, user_id: UUID) -> dict[str, Any]:
        """``{id, email, fullName, role, timezone}`` of the user."""
        try:
            async with self._client().get(f"{self.gateway_url}/internal/users/{user_id}") as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AccountUnavailable(f"the gateway is unavailable ({type(exc).__name__})") from exc
        if status != 200:
            raise AccountUnavailable(f"the gateway answered {status} for account {user_id}")
        answer: dict[str, Any] = orjson.loads(body)
        return answer
