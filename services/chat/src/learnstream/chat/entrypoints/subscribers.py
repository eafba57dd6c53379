"""Events the chat service reacts to, registered on the runtime's idempotent consumer.

From the catalog: each course's owner, title and status, and its lessons' text (the
assistant answers from it). From progress: who is enrolled where (only they may ask
about a course). From identity: time zones (the sidebar's Today / Yesterday groups) and
erasure requests.

Failure policy: the runtime's (inbox dedup in the handler's transaction; bounded retries
with backoff, then ``<topic>.dlq``; a store outage is redelivered, never dead-lettered).
"""

from __future__ import annotations

import logging

from learnstream.chat.service_layer.services import ChatService
from learnstream.events.catalog import (
    CatalogEvent,
    CourseArchived,
    CourseCreated,
    CourseDetailsChanged,
    CoursePublished,
    CourseStructureChanged,
    LessonContentChanged,
)
from learnstream.events.identity import LearnerErasureRequested
from learnstream.events.progress import EnrollmentCancelled, EnrollmentCreated
from learnstream.runtime.consumer import EventConsumer, HandlerContext

log = logging.getLogger(__name__)

_STATUS: dict[type, str] = {CourseCreated: "draft", CoursePublished: "published", CourseArchived: "archived"}


def register(consumer: EventConsumer, service: ChatService) -> None:
    """Register this service's event handlers."""
    copies = service.copies

    async def course(event: CatalogEvent, ctx: HandlerContext) -> None:
        """Keep the course's owner, title and status."""
        assert isinstance(event, CourseCreated | CoursePublished | CourseArchived | CourseDetailsChanged)
        status = _STATUS.get(type(event))  # a rename leaves the status as it is
        await copies.keep_course(ctx.session, event.course_id, event.instructor_id, event.title, status)

    for event_type in (CourseCreated, CoursePublished, CourseArchived, CourseDetailsChanged):
        consumer.on(event_type)(course)

    @consumer.on(CourseStructureChanged)
    async def outline(event: CourseStructureChanged, ctx: HandlerContext) -> None:
        """Forget the text of lessons that left the outline; follow renamed lessons."""
        lessons = [
            (lesson.lesson_id, lesson.title) for section in event.sections for lesson in section.lessons
        ]
        await copies.keep_outline(ctx.session, event.course_id, lessons)

    @consumer.on(LessonContentChanged)
    async def lesson_text(event: LessonContentChanged, ctx: HandlerContext) -> None:
        """Keep the lesson's text as passages the assistant can be given."""
        await copies.keep_lesson_text(ctx.session, event.course_id, event.lesson_id, event.title, event.text)

    @consumer.on(EnrollmentCreated)
    async def enrolled(event: EnrollmentCreated, ctx: HandlerContext) -> None:
        await copies.keep_enrollment(
            ctx.session, event.learner_id, event.course_id, active=True, at=event.occurred_at
        )

    @consumer.on(EnrollmentCancelled)
    async def left(event: EnrollmentCancelled, ctx: HandlerContext) -> None:
        await copies.keep_enrollment(
            ctx.session, event.learner_id, event.course_id, active=False, at=event.occurred_at
        )

    # the learners' time zones: the sidebar's groups count local days
    service.time_zones.follow(consumer)

    @consumer.on(LearnerErasureRequested)
    async def erase_learner(event: LearnerErasureRequested, ctx: HandlerContext) -> None:
        """Erase the learner's conversations, messages and their events; confirm with LearnerChatErased."""
        erased = await service.erase_learner(ctx.session, event.user_id, event.request_id)
        log.info("learner erased", extra={"request_id": str(event.request_id), "conversations": erased})
