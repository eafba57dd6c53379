"""Events the exports service reacts to, registered on the runtime's idempotent consumer.

From its own topic, in a consumer group of its own (``<service>-worker``):
``ExportRequested``, which the worker produces (this is the export job queue; a
redelivered request that was finished already does nothing). From the
catalog: each course's owner, title and status, so a request for someone else's course
is refused at once. From progress: completed courses, which earn a certificate. From identity: display
names (printed on certificates) and erasure requests.

Failure policy: the runtime's (inbox dedup in the handler's transaction; bounded retries
with backoff, then ``<topic>.dlq``; a store outage is redelivered, never dead-lettered).
A failing export is not a failing handler: it ends as ``ExportFailed`` with the reason.
"""

from __future__ import annotations

import logging

from learnstream.events.catalog import (
    CatalogEvent,
    CourseArchived,
    CourseCreated,
    CourseDetailsChanged,
    CoursePublished,
)
from learnstream.events.exports import ExportRequested, LearnerExportsErased
from learnstream.events.identity import (
    IdentityEvent,
    LearnerErasureRequested,
    UserProfileChanged,
    UserRegistered,
)
from learnstream.events.progress import CourseCompleted
from learnstream.exports.adapters import jobs
from learnstream.exports.service_layer.certificates import Certificates
from learnstream.exports.service_layer.services import ExportService
from learnstream.runtime.consumer import EventConsumer, HandlerContext
from learnstream.runtime.eventstore import EventStore

log = logging.getLogger(__name__)

_STATUS: dict[type, str] = {CourseCreated: "draft", CoursePublished: "published", CourseArchived: "archived"}


def register(
    consumer: EventConsumer,
    worker: EventConsumer,
    service: ExportService,
    certificates: Certificates,
    store: EventStore,
) -> None:
    """Register this service's event handlers: the export jobs on ``worker``, the rest on
    ``consumer``."""

    @worker.on(ExportRequested)
    async def produce(event: ExportRequested, ctx: HandlerContext) -> None:
        """Produce the export; its outcome event is appended in this handler's transaction."""
        await service.produce(ctx.session, event)

    async def course(event: CatalogEvent, ctx: HandlerContext) -> None:
        """Keep the course's owner, title and status."""
        assert isinstance(event, CourseCreated | CoursePublished | CourseArchived | CourseDetailsChanged)
        status = _STATUS.get(type(event))
        await jobs.keep_course(ctx.session, event.course_id, event.instructor_id, event.title, status)

    for event_type in (CourseCreated, CoursePublished, CourseArchived, CourseDetailsChanged):
        consumer.on(event_type)(course)

    @consumer.on(CourseCompleted)
    async def completed(event: CourseCompleted, ctx: HandlerContext) -> None:
        """Issue the course's certificate (once per learner and course)."""
        await certificates.issue(ctx.session, event)

    async def person(event: IdentityEvent, ctx: HandlerContext) -> None:
        """Keep the name certificates and digests print (a profile change sets only what changed)."""
        assert isinstance(event, UserRegistered | UserProfileChanged)
        await jobs.keep_person(ctx.session, event.user_id, event.display_name, event.role)

    for identity_type in (UserRegistered, UserProfileChanged):
        consumer.on(identity_type)(person)

    @consumer.on(LearnerErasureRequested)
    async def erase_learner(event: LearnerErasureRequested, ctx: HandlerContext) -> None:
        """Forget the user's exports, withdraw kept files with learner rows; confirm the erasure."""
        counts = await service.erase_learner(ctx.session, event.user_id)
        counts["certificates"] = await jobs.erase_person(ctx.session, event.user_id)
        confirmation = LearnerExportsErased(requester_id=event.user_id, request_id=event.request_id)
        await store.append(ctx.session, f"erasure-{event.request_id}", 0, [confirmation])
        log.info("learner erased", extra={"request_id": str(event.request_id), **counts})
