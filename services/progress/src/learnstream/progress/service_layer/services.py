"""Use cases of the progress service: load, decide, save, in one transaction each.

Every method opens a transaction, loads the aggregates it needs (locking them),
lets the domain decide, and saves the state with the recorded events; the outbox
relay publishes them after commit. A race lost to another replica (the store's
version check, or two first enrollments at once) is retried from the start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID, uuid4

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from learnstream.events import DomainEvent
from learnstream.events.base import utc_now
from learnstream.events.progress import LearnerProgressErased
from learnstream.progress.adapters.courses import CourseRepository
from learnstream.progress.adapters.enrollments import EnrollmentRepository
from learnstream.progress.domain import catalog
from learnstream.progress.domain.catalog import Course, CourseDraft
from learnstream.progress.domain.enrollment import Enrollment, QuizResult, TrackReport, TrackResult
from learnstream.progress.domain.errors import Forbidden, NotFound, Rejected
from learnstream.runtime.actors import Actor
from learnstream.runtime.eventstore import ConcurrencyError, EventStore, violates
from learnstream.runtime.timezones import LearnerTimeZones

T = TypeVar("T")

_RETRIES = 3


@dataclass(frozen=True)
class TrackItem:
    """A report about one course, possibly made offline at ``occurred_at``."""

    course_id: UUID
    report: TrackReport
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Limits:
    max_view_seconds: int = 12 * 3600
    offline_max_age: timedelta = timedelta(days=30)
    clock_skew: timedelta = timedelta(minutes=5)


class ProgressService:
    """The service layer: what the HTTP routes and the subscribers call."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: EventStore,
        *,
        limits: Limits | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.sessions = sessions
        self._store = store
        self.courses = CourseRepository()
        self.enrollments = EnrollmentRepository(store)
        self.learners = LearnerTimeZones()
        self.limits = limits or Limits()
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def _transaction(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        for attempt in range(1, _RETRIES + 1):
            try:
                async with self.sessions() as session, session.begin():
                    return await work(session)
            except (ConcurrencyError, IntegrityError) as exc:
                if attempt == _RETRIES or not _lost_race(exc):
                    raise
        raise AssertionError("unreachable")

    # --- catalog ----------------------------------------------------------------------------

    async def create_course(self, actor: Actor, draft: CourseDraft) -> Course:
        if not actor.can_teach:
            raise Forbidden("only instructors and admins create courses")

        async def work(session: AsyncSession) -> Course:
            course, events = catalog.create_course(draft, instructor_id=actor.user_id, at=self._clock())
            return await self._save_course(session, course, events)

        return await self._transaction(work)

    async def replace_course(self, actor: Actor, course_id: UUID, draft: CourseDraft) -> Course:
        async def work(session: AsyncSession) -> Course:
            course = await self._own_course(session, actor, course_id)
            updated, events = catalog.replace_outline(course, draft, actor_id=actor.user_id, at=self._clock())
            saved = await self._save_course(session, updated, events)
            await self.enrollments.recompute_completion(session, saved)
            return saved

        return await self._transaction(work)

    async def publish_course(self, actor: Actor, course_id: UUID) -> Course:
        return await self._change_status(actor, course_id, catalog.publish)

    async def archive_course(self, actor: Actor, course_id: UUID) -> Course:
        return await self._change_status(actor, course_id, catalog.archive)

    async def _change_status(
        self,
        actor: Actor,
        course_id: UUID,
        change: Callable[..., tuple[Course, list[DomainEvent]]],
    ) -> Course:
        async def work(session: AsyncSession) -> Course:
            course = await self._own_course(session, actor, course_id)
            updated, events = change(course, actor_id=actor.user_id, at=self._clock())
            return await self._save_course(session, updated, events)

        return await self._transaction(work)

    async def course_for(self, actor: Actor | None, course_id: UUID) -> Course:
        """The course as ``actor`` may see it: drafts only for their owner and admins."""
        async with self.sessions() as session:
            course = await self.courses.get(session, course_id)
        if course is None or (course.status == "draft" and not (actor and actor.owns(course.instructor_id))):
            raise NotFound(f"no course {course_id}")
        return course

    async def _own_course(self, session: AsyncSession, actor: Actor, course_id: UUID) -> Course:
        course = await self.courses.get(session, course_id, for_update=True)
        if course is None:
            raise NotFound(f"no course {course_id}")
        if not actor.owns(course.instructor_id):
            raise NotFound(f"no course {course_id}")  # foreign answers as unknown: ids cannot be probed
        return course

    async def _save_course(
        self, session: AsyncSession, course: Course, events: Sequence[DomainEvent]
    ) -> Course:
        if events:
            await self._store.append(session, f"course-{course.course_id}", course.version, events)
            course = course.with_changes(version=course.version + len(events))
        await self.courses.save(session, course, at=self._clock())
        return course

    # --- enrollments ----------------------------------------------------------------------------

    async def enroll(
        self, learner_id: UUID, course_id: UUID, enrolled_at: datetime | None = None
    ) -> tuple[Enrollment, bool]:
        """The learner's enrollment in the course, and whether it was created (or renewed) now.

        ``enrolled_at`` backdates a new enrollment (demo data and load generators in dev mode
        only: the route refuses it otherwise); it is checked like an offline report's moment."""
        now = self._clock()
        at = now if enrolled_at is None else self._checked_past(enrolled_at, now, "enrolledAt")

        async def work(session: AsyncSession) -> tuple[Enrollment, bool]:
            course = await self.courses.get(session, course_id)
            if course is None or course.status == "draft":
                raise NotFound(f"no published course {course_id}")
            existing = (await self.enrollments.lock(session, learner_id, [course_id])).get(course_id)
            if existing is not None and existing.is_active:
                return existing, False
            catalog.ensure_enrollable(course)
            enrollment = existing or Enrollment(uuid4(), learner_id, course_id)
            enrollment.enroll(at, instructor_id=course.instructor_id)
            await self.enrollments.save(session, enrollment)
            return enrollment, True

        return await self._transaction(work)

    async def cancel(self, learner_id: UUID, course_id: UUID) -> Enrollment:
        async def work(session: AsyncSession) -> Enrollment:
            enrollment = await self._enrollment(session, learner_id, course_id)
            enrollment.cancel(self._clock())
            await self.enrollments.save(session, enrollment)
            return enrollment

        return await self._transaction(work)

    async def own_student(
        self, session: AsyncSession, actor: Actor, course_id: UUID, learner_id: UUID
    ) -> None:
        """NotFound unless ``course_id`` is the actor's and ``learner_id`` is enrolled in it."""
        course = await self.courses.get(session, course_id)
        if course is None or not actor.owns(course.instructor_id):
            raise NotFound(f"no course {course_id}")
        if course_id not in await self.enrollments.load(session, learner_id, [course_id]):
            raise NotFound(f"learner {learner_id} is not a student of course {course_id}")

    async def _enrollment(
        self, session: AsyncSession, learner_id: UUID, course_id: UUID, *, with_quizzes: bool = False
    ) -> Enrollment:
        locked = await self.enrollments.lock(session, learner_id, [course_id], with_quizzes=with_quizzes)
        enrollment = locked.get(course_id)
        if enrollment is None:
            raise NotFound(f"learner {learner_id} is not enrolled in course {course_id}")
        return enrollment

    # --- tracking ------------------------------------------------------------------------------

    async def track(self, learner_id: UUID, items: Sequence[TrackItem]) -> list[TrackResult | Rejected]:
        """Account for the learner's reports in order, in one transaction; a bad one is rejected alone."""

        async def work(session: AsyncSession) -> list[TrackResult | Rejected]:
            now = self._clock()
            course_ids = sorted({item.course_id for item in items})
            enrollments = await self.enrollments.lock(session, learner_id, course_ids)
            courses = {course_id: await self.courses.get(session, course_id) for course_id in course_ids}
            for enrollment in enrollments.values():
                views = [i.report.view_id for i in items if i.course_id == enrollment.course_id]
                await self.enrollments.load_views(session, enrollment, views)
            results: list[TrackResult | Rejected] = []
            for item in items:
                try:
                    results.append(self._track_one(item, courses, enrollments, now))
                except Rejected as rejected:
                    results.append(rejected)
            for enrollment in enrollments.values():
                await self.enrollments.save(session, enrollment)
            return results

        return await self._transaction(work)

    def _track_one(
        self,
        item: TrackItem,
        courses: dict[UUID, Course | None],
        enrollments: dict[UUID, Enrollment],
        now: datetime,
    ) -> TrackResult:
        course = courses.get(item.course_id)
        if course is None or course.status == "draft":
            raise Rejected("course_not_found", f"there is no course {item.course_id}")
        enrollment = enrollments.get(item.course_id)
        if enrollment is None or not enrollment.is_active:
            raise Rejected(
                "not_enrolled", f"the learner is not enrolled in course {item.course_id}; enroll first"
            )
        at = self._offline_moment(item.occurred_at, enrollment, now)
        return enrollment.track(course, item.report, at=at, max_view_seconds=self.limits.max_view_seconds)

    def _checked_past(self, moment: datetime, now: datetime, field: str) -> datetime:
        """``moment`` if an offline client may report it: not in the future, not too old."""
        if moment > now + self.limits.clock_skew:
            raise Rejected("occurred_in_future", f"{field} {moment.isoformat()} is in the future")
        if moment < now - self.limits.offline_max_age:
            raise Rejected(
                "too_old",
                f"{field} is more than {self.limits.offline_max_age.days} days ago; "
                "reports that old are not accepted",
            )
        return min(moment, now)

    def _offline_moment(
        self, occurred_at: datetime | None, enrollment: Enrollment, now: datetime
    ) -> datetime:
        """When an offline report happened: ``occurred_at`` if given (checked), never before
        the enrollment; now otherwise."""
        if occurred_at is None:
            return now
        assert enrollment.enrolled_at is not None
        return max(self._checked_past(occurred_at, now, "occurredAt"), enrollment.enrolled_at)

    # --- quizzes and notes -----------------------------------------------------------------------

    async def submit_quiz(
        self,
        learner_id: UUID,
        quiz_id: UUID,
        answers: tuple[int, ...],
        occurred_at: datetime | None = None,
    ) -> QuizResult:
        """Grade an attempt; ``occurred_at`` when an offline client took it earlier (the same
        rules as offline tracking reports)."""

        async def work(session: AsyncSession) -> QuizResult:
            course_id = await self.courses.course_of_quiz(session, quiz_id)
            course = await self.courses.get(session, course_id) if course_id else None
            quiz = course.quiz(quiz_id) if course else None
            if course is None or quiz is None or course.status == "draft":
                raise NotFound(f"no quiz {quiz_id}")
            enrollment = await self._enrollment(session, learner_id, course.course_id, with_quizzes=True)
            at = self._offline_moment(occurred_at, enrollment, self._clock())
            result = enrollment.submit_quiz(course, quiz, answers, at=at)
            await self.enrollments.save(session, enrollment)
            return result

        return await self._transaction(work)

    async def add_note(
        self, actor: Actor, learner_id: UUID, course_id: UUID, body: str
    ) -> tuple[UUID, datetime]:
        async def work(session: AsyncSession) -> tuple[UUID, datetime]:
            course = await self.courses.get(session, course_id)
            if course is None:
                raise NotFound(f"no course {course_id}")
            if not actor.owns(course.instructor_id):
                raise NotFound(f"no course {course_id}")  # foreign answers as unknown: ids cannot be probed
            enrollment = await self._enrollment(session, learner_id, course_id)
            at = self._clock()
            note_id = enrollment.add_note(instructor_id=actor.user_id, at=at)
            await self.enrollments.save(session, enrollment)
            await self.enrollments.add_note(
                session, note_id=note_id, enrollment=enrollment, instructor_id=actor.user_id, body=body, at=at
            )
            return note_id, at

        return await self._transaction(work)

    # --- privacy --------------------------------------------------------------------------------

    async def erase_learner(self, session: AsyncSession, learner_id: UUID, request_id: UUID) -> int:
        """Erase the learner in ``session`` (the consumer's transaction) and confirm it on the bus."""
        erased = await self.enrollments.erase_learner(session, learner_id)
        await self.learners.forget(session, learner_id)
        confirmation = LearnerProgressErased(learner_id=learner_id, request_id=request_id)
        await self._store.append(session, f"erasure-{request_id}", 0, [confirmation])
        return erased


def _lost_race(error: ConcurrencyError | IntegrityError) -> bool:
    """A stream moved on, or a concurrent request created the same enrollment first."""
    return isinstance(error, ConcurrencyError) or violates(error, "enrollments_one_per_course")
