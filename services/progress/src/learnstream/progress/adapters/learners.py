"""What the progress service keeps about learners from other contexts: their time zone
(from the identity events), so the activity chart counts the learner's own days."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class LearnerRepository:
    async def remember_time_zone(
        self, session: AsyncSession, learner_id: UUID, timezone: str, at: datetime
    ) -> None:
        """Keep ``timezone`` unless a later change is already kept (events may come twice or late)."""
        await session.execute(
            text(
                "INSERT INTO learner_time_zones (learner_id, timezone, changed_at) VALUES (:l, :tz, :at)"
                " ON CONFLICT (learner_id) DO UPDATE SET timezone = EXCLUDED.timezone,"
                " changed_at = EXCLUDED.changed_at WHERE learner_time_zones.changed_at <= EXCLUDED.changed_at"
            ),
            {"l": learner_id, "tz": timezone, "at": at},
        )

    async def time_zone(self, session: AsyncSession, learner_id: UUID) -> str:
        """The learner's IANA time zone; UTC until the identity context has told us."""
        found = await session.scalar(
            text("SELECT timezone FROM learner_time_zones WHERE learner_id = :l"), {"l": learner_id}
        )
        return str(found) if found else "UTC"

    async def forget(self, session: AsyncSession, learner_id: UUID) -> None:
        await session.execute(text("DELETE FROM learner_time_zones WHERE learner_id = :l"), {"l": learner_id})
