"""Events the progress service reacts to, registered on the runtime's idempotent consumer.

Failure policy: the runtime's (inbox dedup in the handler's transaction; bounded
retries with backoff, then ``learnstream.identity.dlq``; a store outage is
redelivered, never dead-lettered).
"""

from __future__ import annotations

import logging

from learnstream.events.identity import LearnerErasureRequested
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

    # the learners' time zones: their activity chart counts local days
    service.learners.follow(consumer)
