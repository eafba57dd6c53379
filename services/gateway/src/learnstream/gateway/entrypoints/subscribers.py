"""Events the gateway reacts to, registered on the runtime's idempotent consumer.

- The catalog's course events keep ``course_owners`` (who teaches each course), so an
  update about a course reaches its instructor and nobody else.
- Progress, achievements and exports events become live updates for ``/api/stream``.
- The contexts' ``Learner*Erased`` events confirm erasure requests.

Failure policy: the runtime's (inbox dedup in the handler's transaction; bounded
retries, then ``<topic>.dlq``). A live update that Redis cannot take is dropped with a
warning: the state it announces is kept by its context either way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text

from learnstream.events.achievements import AchievementUnlocked, LearnerAchievementsErased, LevelReached
from learnstream.events.catalog import CourseCreated, CourseDetailsChanged, CoursePublished
from learnstream.events.chat import LearnerChatErased
from learnstream.events.exports import ExportCompleted, ExportFailed, LearnerExportsErased
from learnstream.events.progress import (
    CourseCompleted,
    CourseMilestoneReached,
    EnrollmentCreated,
    LearnerProgressErased,
    LessonCompleted,
    QuizSubmitted,
)
from learnstream.gateway.adapters.live import LiveHub
from learnstream.gateway.service_layer.erasure import ErasureTracker
from learnstream.runtime.consumer import EventConsumer, HandlerContext


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def register(
    consumer: EventConsumer, notifier: EventConsumer, live: LiveHub, erasures: ErasureTracker
) -> None:
    """Register this service's event handlers: state on ``consumer`` (exactly once, from the
    start of each topic), live updates on ``notifier`` (from now on: a new gateway group
    must not replay the platform's history to its users)."""

    async def own_course(event: Any, ctx: HandlerContext) -> None:
        """Remember who teaches the course (CourseCreated, CoursePublished, CourseDetailsChanged)."""
        await ctx.session.execute(
            text(
                "INSERT INTO course_owners (course_id, instructor_id) VALUES (:c, :i)"
                " ON CONFLICT (course_id) DO UPDATE SET instructor_id = excluded.instructor_id"
            ),
            {"c": event.course_id, "i": event.instructor_id},
        )

    async def send(ctx: HandlerContext, user_id: UUID, kind: str, data: dict[str, Any]) -> None:
        """Push an update, unless its recipient has been erased meanwhile."""
        erased = await ctx.session.scalar(
            text("SELECT 1 FROM users WHERE user_id = :u AND erased_at IS NOT NULL"), {"u": user_id}
        )
        if erased is None:
            await live.publish(user_id, kind, data)

    for event_type in (CourseCreated, CoursePublished, CourseDetailsChanged):
        consumer.on(event_type)(own_course)

    @notifier.on(EnrollmentCreated)
    async def enrolled(event: EnrollmentCreated, ctx: HandlerContext) -> None:
        """Tell the learner, and the course's instructor (the stream adds the learner's display
        name as it sends the update: Redis keeps no name that an erasure would have to find).

        The event names the instructor; older events do not, and then ``course_owners``
        (filled by the other consumer group, so possibly not yet) does."""
        row = (
            await ctx.session.execute(
                text(
                    "SELECT coalesce(CAST(:i AS uuid), o.instructor_id)"
                    " FROM (SELECT 1) AS one LEFT JOIN course_owners o ON o.course_id = :c"
                ),
                {"c": event.course_id, "i": event.instructor_id},
            )
        ).first()
        data = {
            "courseId": event.course_id,
            "learnerId": event.learner_id,
            "enrolledAt": _iso(event.enrolled_at),
        }
        await send(ctx, event.learner_id, "progress.changed", {"change": "enrolled", **data})
        if row is not None and row[0] is not None:
            await send(ctx, row[0], "enrollment.created", data)

    @notifier.on(LessonCompleted)
    async def lesson_completed(event: LessonCompleted, ctx: HandlerContext) -> None:
        await send(
            ctx,
            event.learner_id,
            "progress.changed",
            {
                "change": "lessonCompleted",
                "courseId": event.course_id,
                "lessonId": event.lesson_id,
                "completionPercentage": event.completion_percentage,
            },
        )

    @notifier.on(QuizSubmitted)
    async def quiz_submitted(event: QuizSubmitted, ctx: HandlerContext) -> None:
        await send(
            ctx,
            event.learner_id,
            "progress.changed",
            {
                "change": "quizSubmitted",
                "courseId": event.course_id,
                "quizId": event.quiz_id,
                "scorePercentage": event.score_percentage,
                "passed": event.passed,
            },
        )

    @notifier.on(CourseMilestoneReached)
    async def milestone(event: CourseMilestoneReached, ctx: HandlerContext) -> None:
        await send(
            ctx,
            event.learner_id,
            "progress.changed",
            {
                "change": "milestoneReached",
                "courseId": event.course_id,
                "milestone": event.milestone,
                "completionPercentage": event.completion_percentage,
            },
        )

    @notifier.on(CourseCompleted)
    async def course_completed(event: CourseCompleted, ctx: HandlerContext) -> None:
        await send(
            ctx,
            event.learner_id,
            "progress.changed",
            {
                "change": "courseCompleted",
                "courseId": event.course_id,
                "daysToComplete": event.days_to_complete,
            },
        )

    @notifier.on(AchievementUnlocked)
    async def unlocked(event: AchievementUnlocked, ctx: HandlerContext) -> None:
        await send(
            ctx,
            event.learner_id,
            "achievement.unlocked",
            {
                "achievementId": event.achievement_id,
                "title": event.title,
                "rarity": event.rarity,
                "courseId": event.course_id,
                "unlockedAt": _iso(event.occurred_at),
            },
        )

    @notifier.on(LevelReached)
    async def level(event: LevelReached, ctx: HandlerContext) -> None:
        await send(ctx, event.learner_id, "level.reached", {"level": event.level, "xp": event.total_xp})

    @notifier.on(ExportCompleted)
    async def export_done(event: ExportCompleted, ctx: HandlerContext) -> None:
        await send(
            ctx,
            event.requester_id,
            "export.completed",
            {"exportId": event.export_id, "sizeBytes": event.size_bytes, "expiresAt": _iso(event.expires_at)},
        )

    @notifier.on(ExportFailed)
    async def export_failed(event: ExportFailed, ctx: HandlerContext) -> None:
        await send(
            ctx, event.requester_id, "export.failed", {"exportId": event.export_id, "reason": event.reason}
        )

    @consumer.on(LearnerProgressErased)
    async def progress_erased(event: LearnerProgressErased, ctx: HandlerContext) -> None:
        await erasures.confirm(ctx.session, event.request_id, "progress", event.occurred_at)

    @consumer.on(LearnerChatErased)
    async def chat_erased(event: LearnerChatErased, ctx: HandlerContext) -> None:
        await erasures.confirm(ctx.session, event.request_id, "chat", event.occurred_at)

    @consumer.on(LearnerAchievementsErased)
    async def achievements_erased(event: LearnerAchievementsErased, ctx: HandlerContext) -> None:
        await erasures.confirm(ctx.session, event.request_id, "achievements", event.occurred_at)

    @consumer.on(LearnerExportsErased)
    async def exports_erased(event: LearnerExportsErased, ctx: HandlerContext) -> None:
        await erasures.confirm(ctx.session, event.request_id, "exports", event.occurred_at)
