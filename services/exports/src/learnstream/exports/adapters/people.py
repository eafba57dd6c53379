"""Whom to write to: the gateway owns accounts (and e-mail addresses, which no event
carries); its internal API gives the address of one user."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import aiohttp
import orjson

from learnstream.exports.adapters.analytics import ServiceClient


class AccountUnavailable(Exception):
    """The account could not be read (the gateway is down, or the account is gone)."""


class Accounts(ServiceClient):
    """The gateway's internal account API."""

    def __init__(self, gateway_url: str, *, service_token: str, timeout: float = 10.0) -> None:
        super().__init__(gateway_url, service_token=service_token, timeout=timeout)

    async def account(self, user_id: UUID) -> dict[str, Any]:
        """``{id, email, fullName, role, timezone}`` of the user."""
        try:
            async with self._client().get(f"/internal/users/{user_id}") as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AccountUnavailable(f"the gateway is unavailable ({type(exc).__name__})") from exc
        if status != 200:
            raise AccountUnavailable(f"the gateway answered {status} for account {user_id}")
        answer: dict[str, Any] = orjson.loads(body)
        return answer
