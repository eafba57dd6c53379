"""Erasure requests and which contexts have confirmed them.

``DELETE /api/me`` records a request and publishes ``LearnerErasureRequested``. The
progress, chat, achievements and exports contexts confirm with their own
``Learner*Erased`` events (consumed into ``erasure_confirmations``); analytics
publishes no events, so the gateway asks it whether the request has been applied.
The request is complete when every context has confirmed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from learnstream.gateway.adapters.services import ContextServices, Unavailable

CONTEXTS = ("progress", "chat", "achievements", "analytics", "exports")
"""Every context that holds learner data and must confirm an erasure."""


class ErasureTracker:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], services: ContextServices) -> None:
        self._sessions = sessions
        self._services = services

    async def confirm(self, session: AsyncSession, request_id: UUID, context: str, at: datetime) -> None:
        """Record ``context``'s confirmation (once; requests made elsewhere are ignored)."""
        await session.execute(
            text(
                "INSERT INTO erasure_confirmations (request_id, context, confirmed_at)"
                " SELECT :r, :c, :at WHERE EXISTS (SELECT 1 FROM erasure_requests WHERE request_id = :r)"
                " ON CONFLICT DO NOTHING"
            ),
            {"r": request_id, "c": context, "at": at},
        )

    async def status(self, request_id: UUID) -> dict[str, Any] | None:
        """The request's state per context, or None when there is no such request."""
        async with self._sessions() as session:
            requested = (
                await session.execute(
                    text("SELECT requested_at FROM erasure_requests WHERE request_id = :r"),
                    {"r": request_id},
                )
            ).scalar_one_or_none()
            if requested is None:
                return None
            rows = await session.execute(
                text("SELECT context, confirmed_at FROM erasure_confirmations WHERE request_id = :r"),
                {"r": request_id},
            )
            confirmed: dict[str, datetime] = {row[0]: row[1] for row in rows}
        if "analytics" not in confirmed:
            applied = await self._ask_analytics(request_id)
            if applied is not None:
                async with self._sessions() as session, session.begin():
                    await self.confirm(session, request_id, "analytics", applied)
                confirmed["analytics"] = applied
        contexts = {
            name: {"status": "confirmed", "confirmedAt": _iso(confirmed[name])}
            if name in confirmed
            else {"status": "pending"}
            for name in CONTEXTS
        }
        done = all(name in confirmed for name in CONTEXTS)
        return {
            "requestId": str(request_id),
            "status": "completed" if done else "pending",
            "requestedAt": _iso(requested),
            "completedAt": _iso(max(confirmed.values())) if done else None,
            "contexts": contexts,
        }

    async def _ask_analytics(self, request_id: UUID) -> datetime | None:
        try:
            answer = await self._services.internal(
                "analytics", "GET", f"/api/analytics/erasures/{request_id}"
            )
        except Unavailable:
            return None
        if answer.status_code != 200:
            return None
        return datetime.fromisoformat(answer.json()["erasedAt"].replace("Z", "+00:00"))


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
