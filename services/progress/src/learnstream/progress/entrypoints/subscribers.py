"""Events the progress service reacts to, registered on the runtime's idempotent consumer.

Failure policy: the runtime's (inbox dedup in the handler's transaction; bounded
retries with backoff, then ``learnstream.identity.dlq``; a store outage is
redelivered, never dead-lettered).
"""

from __future__ import annotations

import logging

from learnstream.events.identity import LearnerErasureRequested, UserProfileChanged, UserRegistered
from learnstream.progress.service_layer.services import ProgressService
from learnstream.runtime.consumer import EventConsumer, HandlerContext

log = logging.getLogger(__name__)


def register(consumer: EventConsumer, service: ProgressService) -> None:
    """Register this service's event handlers."""

    @consumer.on(LearnerErasureRequested)
    async def erase_learner(event: LearnerErasureRequested, ctx: HandlerContext) -> None:
        """Erase the learner's enrollments, progress, attempts, notes and their events."""
        erased = await service.erase_learner(ctx.session, event.user_id, event.request_id)
        log.info("learner erased", extra={"request_id": str(event.request_id), "enrollments": erased})

    @consumer.on(UserRegistered)
    async def registered(event: UserRegistered, ctx: HandlerContext) -> None:
        """Keep the learner's time zone (their activity chart counts local days)."""
        await service.remember_time_zone(ctx.session, event.user_id, event.timezone, event.occurred_at)

    @consumer.on(UserProfileChanged)
    async def profile_changed(event: UserProfileChanged, ctx: HandlerContext) -> None:
        """Keep a changed time zone."""
        if event.timezone is not None:
            await service.remember_time_zone(ctx.session, event.user_id, event.timezone, event.occurred_at)
