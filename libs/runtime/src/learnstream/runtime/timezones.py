"""The learners' time zones, copied from the identity events by each context that counts
days in the learner's own calendar (progress's activity chart, chat's sidebar groups).

Each such service creates its own ``learner_time_zones`` table in its migrations
(``learner_id uuid PRIMARY KEY, timezone text NOT NULL, changed_at timestamptz NOT NULL``);
this is the code that keeps and reads it, and :meth:`LearnerTimeZones.follow` subscribes
to the events that carry it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from learnstream.events.identity import UserProfileChanged, UserRegistered
from learnstream.runtime.consumer import EventConsumer, HandlerContext


class LearnerTimeZones:
    async def remember(self, session: AsyncSession, learner_id: UUID, timezone: str, at: datetime) -> None:
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

    async def keep(self, session: AsyncSession, event: UserRegistered | UserProfileChanged) -> None:
        """Keep the time zone an identity event carries (a profile change may carry none)."""
        if event.timezone is not None:
            await self.remember(session, event.user_id, event.timezone, event.occurred_at)

    def follow(self, consumer: EventConsumer) -> None:
        """Keep the time zone of every registration and profile change, in the handler's
        transaction. A service that reacts to these events itself registers its own handlers
        (a consumer has one per type) and calls :meth:`keep` from them."""

        @consumer.on(UserRegistered)
        async def registered(event: UserRegistered, ctx: HandlerContext) -> None:
            await self.keep(ctx.session, event)

        @consumer.on(UserProfileChanged)
        async def profile_changed(event: UserProfileChanged, ctx: HandlerContext) -> None:
            await self.keep(ctx.session, event)
