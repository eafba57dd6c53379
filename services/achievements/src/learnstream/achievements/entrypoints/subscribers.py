"""Events the achievements service reacts to, registered on the runtime's idempotent consumer.

From progress: enrollments, completed lessons, quizzes, completed courses and learning
time (XP, streaks, most achievements). From chat: questions asked (curious mind). From
the catalog: each course's category and status (subject master). From identity: display
names (leaderboards), time zones (local days) and erasure requests.

Failure policy: the runtime's (inbox dedup in the handler's transaction; bounded retries
with backoff, then ``<topic>.dlq``; a store outage, Redis included, is redelivered, never
dead-lettered).
"""

from __future__ import annotations

import logging

from learnstream.achievements.service_layer.services import AchievementsService
from learnstream.events.catalog import (
    CatalogEvent,
    CourseArchived,
    CourseCreated,
    CourseDetailsChanged,
    CoursePublished,
)
from learnstream.events.chat import ChatMessageSent
from learnstream.events.identity import LearnerErasureRequested, UserProfileChanged, UserRegistered
from learnstream.events.progress import (
    CourseCompleted,
    EnrollmentCreated,
    LessonCompleted,
    LessonTimeTracked,
    QuizSubmitted,
)
from learnstream.runtime.consumer import EventConsumer, HandlerContext

log = logging.getLogger(__name__)

_STATUS: dict[type, str] = {CourseCreated: "draft", CoursePublished: "published", CourseArchived: "archived"}


def register(consumer: EventConsumer, service: AchievementsService) -> None:
    """Register this service's event handlers."""

    @consumer.on(EnrollmentCreated)
    async def enrolled(event: EnrollmentCreated, ctx: HandlerContext) -> None:
        await service.enrolled(ctx.session, event, event.learner_id, event.course_id)

    @consumer.on(LessonCompleted)
    async def lesson_completed(event: LessonCompleted, ctx: HandlerContext) -> None:
        await service.lesson_completed(ctx.session, event, event.learner_id, event.course_id, event.lesson_id)

    @consumer.on(QuizSubmitted)
    async def quiz_submitted(event: QuizSubmitted, ctx: HandlerContext) -> None:
        await service.quiz_submitted(
            ctx.session,
            event,
            event.learner_id,
            event.course_id,
            event.quiz_id,
            event.score_percentage,
            event.passed,
        )

    @consumer.on(CourseCompleted)
    async def course_completed(event: CourseCompleted, ctx: HandlerContext) -> None:
        await service.course_completed(
            ctx.session, event, event.learner_id, event.course_id, event.days_to_complete
        )

    @consumer.on(LessonTimeTracked)
    async def time_spent(event: LessonTimeTracked, ctx: HandlerContext) -> None:
        await service.time_spent(ctx.session, event, event.learner_id, event.course_id, event.seconds)

    @consumer.on(ChatMessageSent)
    async def question(event: ChatMessageSent, ctx: HandlerContext) -> None:
        await service.question_asked(ctx.session, event, event.learner_id, event.course_id)

    async def course(event: CatalogEvent, ctx: HandlerContext) -> None:
        """Keep the course's category and status; look again at subject master."""
        assert isinstance(event, CourseCreated | CoursePublished | CourseArchived | CourseDetailsChanged)
        status = _STATUS.get(type(event))  # a rename leaves the status as it is
        await service.state.keep_course(ctx.session, event.course_id, event.category, status)
        await service.course_changed(ctx.session, event, event.course_id)

    for event_type in (CourseCreated, CoursePublished, CourseArchived, CourseDetailsChanged):
        consumer.on(event_type)(course)

    @consumer.on(UserRegistered)
    async def registered(event: UserRegistered, ctx: HandlerContext) -> None:
        await service.time_zones.keep(ctx.session, event)
        await service.state.keep_display_name(ctx.session, event.user_id, event.display_name)

    @consumer.on(UserProfileChanged)
    async def profile_changed(event: UserProfileChanged, ctx: HandlerContext) -> None:
        await service.time_zones.keep(ctx.session, event)
        if event.display_name is not None:
            await service.state.keep_display_name(ctx.session, event.user_id, event.display_name)

    @consumer.on(LearnerErasureRequested)
    async def erase_learner(event: LearnerErasureRequested, ctx: HandlerContext) -> None:
        """Erase the learner's XP, facts, achievements and events, and take them off the
        leaderboards; confirm with LearnerAchievementsErased."""
        xp = await service.erase_learner(ctx.session, event.user_id, event.request_id)
        log.info("learner erased", extra={"request_id": str(event.request_id), "xp": xp})
