"""A learner's enrollment in a course: the aggregate every tracking report goes through.

It is event-sourced. Decisions (``track``, ``submit_quiz``, ``enroll``…) check the
rules and *record* events; state changes only in :meth:`Enrollment.apply`, so
replaying the stream rebuilds it exactly. The repository keeps the applied state
in tables as a snapshot (written in the same transaction as the events) and
loads only the part a decision needs: the lessons and the views it names.

Exactly-once accounting of time comes from the views: a client reports the
*cumulative* seconds of a viewing session (``view_id``), so the new time is the
difference to the largest value seen for that view, never negative. Retries,
duplicate and out-of-order heartbeats therefore add nothing. Completion, the
25/50/75 % milestones and course completion are recorded only on the transition,
so they happen once however often a client repeats itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid4

from learnstream.events import DomainEvent
from learnstream.events.progress import (
    CourseCompleted,
    CourseMilestoneReached,
    EnrollmentCancelled,
    EnrollmentCreated,
    InstructorNoteAdded,
    LessonCompleted,
    LessonStarted,
    LessonTimeTracked,
    QuestionResult,
    QuizSubmitted,
    VideoProgressed,
    WatchedRange,
)
from learnstream.progress.domain import ranges
from learnstream.progress.domain.catalog import Course, Lesson, Quiz
from learnstream.progress.domain.errors import Conflict, FieldError, InvalidInput, Rejected

EnrollmentStatus = Literal["active", "completed", "cancelled"]

MILESTONES = (25, 50, 75)
VIDEO_COMPLETION_SHARE = 0.95
"""A video lesson completes when this share of it has been watched (seeking does not count)."""
VIDEO_END_TOLERANCE_SECONDS = 2
"""Players report the end a little past the catalog's rounded length; that much is accepted."""


@dataclass(frozen=True)
class TrackReport:
    """One tracking report from a client (a heartbeat, a completion, a video update)."""

    lesson_id: UUID
    view_id: UUID
    time_spent_seconds: int
    completed: bool = False
    video_position_seconds: float | None = None
    video_duration_seconds: float | None = None
    watched_ranges: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class TrackResult:
    """What a report changed, for the client's progress display."""

    lesson_id: UUID
    lesson_completed: bool
    lesson_time_spent_seconds: int
    completion_percentage: float
    course_completed: bool
    resume_position_seconds: int | None
    watched_percentage: float | None
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuestionOutcome:
    question_id: UUID
    selected_index: int
    correct: bool
    correct_index: int | None


@dataclass(frozen=True)
class QuizResult:
    quiz_id: UUID
    attempt_number: int
    score_percentage: float
    passed: bool
    passing_score: int
    attempts_left: int | None
    questions: tuple[QuestionOutcome, ...]
    lesson_completed: bool
    completion_percentage: float


@dataclass
class LessonProgress:
    """The learner's state in one lesson."""

    lesson_id: UUID
    started_at: datetime | None = None
    last_viewed_at: datetime | None = None
    completed_at: datetime | None = None
    seconds_spent: int = 0
    watched: ranges.Ranges = ()
    video_position: int = 0
    video_duration: int = 0

    @property
    def watched_percentage(self) -> float | None:
        if not self.video_duration:
            return None
        return round(min(100.0, ranges.length(self.watched) * 100 / self.video_duration), 1)


@dataclass
class View:
    """A viewing session of one lesson and the largest cumulative time reported for it."""

    view_id: UUID
    lesson_id: UUID
    seconds: int = 0


@dataclass
class QuizRecord:
    quiz_id: UUID
    attempts: int = 0
    best_score: float = 0.0
    passed: bool = False


@dataclass
class NewAttempt:
    """The answers of an attempt recorded now; the event carries only their correctness."""

    event: QuizSubmitted
    answers: tuple[int, ...]


@dataclass
class Enrollment:
    """The aggregate: one learner in one course, with what it has recorded but not saved."""

    enrollment_id: UUID
    learner_id: UUID
    course_id: UUID
    version: int = 0
    status: EnrollmentStatus | None = None
    enrolled_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    last_accessed_at: datetime | None = None
    last_lesson_id: UUID | None = None
    completion_percentage: float = 0.0
    milestones: set[int] = field(default_factory=set)
    lessons: dict[UUID, LessonProgress] = field(default_factory=dict)
    views: dict[UUID, View] = field(default_factory=dict)
    quizzes: dict[UUID, QuizRecord] = field(default_factory=dict)
    pending: list[DomainEvent] = field(default_factory=list)
    changed_lessons: set[UUID] = field(default_factory=set)
    changed_views: set[UUID] = field(default_factory=set)
    new_attempts: list[NewAttempt] = field(default_factory=list)

    @property
    def is_active(self) -> bool:
        return self.status in ("active", "completed")

    @property
    def total_seconds(self) -> int:
        return sum(lesson.seconds_spent for lesson in self.lessons.values())

    def completed_lessons(self, course: Course) -> int:
        return sum(
            1 for lesson_id, p in self.lessons.items() if p.completed_at and lesson_id in course.lesson_ids
        )

    def completion_in(self, course: Course) -> float:
        if not course.lesson_count:
            return 0.0
        return self.completed_lessons(course) * 100 / course.lesson_count

    # --- decisions ------------------------------------------------------------------------

    def enroll(self, at: datetime, *, instructor_id: UUID | None = None) -> bool:
        """Enroll (again, after a cancellation); False when already enrolled."""
        if self.is_active:
            return False
        self._record(
            EnrollmentCreated(
                learner_id=self.learner_id,
                enrollment_id=self.enrollment_id,
                course_id=self.course_id,
                enrolled_at=at,
                occurred_at=at,
                actor_id=self.learner_id,
                instructor_id=instructor_id,
            )
        )
        return True

    def cancel(self, at: datetime) -> bool:
        """Leave the course; False when already cancelled."""
        if self.status == "cancelled":
            return False
        if self.status is None:
            raise Conflict(f"the learner is not enrolled in course {self.course_id}")
        if self.status == "completed":
            raise Conflict("a completed course cannot be cancelled; its record stays")
        self._record(
            EnrollmentCancelled(
                learner_id=self.learner_id,
                enrollment_id=self.enrollment_id,
                course_id=self.course_id,
                occurred_at=at,
                actor_id=self.learner_id,
            )
        )
        return True

    def track(
        self, course: Course, report: TrackReport, *, at: datetime, max_view_seconds: int
    ) -> TrackResult:
        """Account for one report; raises :class:`Rejected` (recording nothing) if it cannot be."""
        if not self.is_active:
            raise Rejected("not_enrolled", f"the learner is not enrolled in course {self.course_id}")
        lesson = course.lesson(report.lesson_id)
        if lesson is None:
            raise Rejected(
                "lesson_not_in_course", f"lesson {report.lesson_id} is not part of course {course.course_id}"
            )
        if report.time_spent_seconds < 0:
            raise Rejected("negative_time", "timeSpentSeconds must not be negative")
        if report.time_spent_seconds > max_view_seconds:
            raise Rejected(
                "time_over_cap",
                f"timeSpentSeconds {report.time_spent_seconds} is more than one view can last "
                f"({max_view_seconds} s); start a new viewId for a new session",
            )
        view = self.views.get(report.view_id)
        if view is not None and view.lesson_id != lesson.lesson_id:
            raise Rejected(
                "view_of_another_lesson",
                f"viewId {report.view_id} belongs to lesson {view.lesson_id}; "
                "use a new viewId for each lesson view",
            )
        video = self._video_update(lesson, report)
        notices: list[str] = []

        progress = self.lessons.get(lesson.lesson_id)
        if progress is None or progress.started_at is None:
            self._record(
                LessonStarted(
                    learner_id=self.learner_id,
                    course_id=self.course_id,
                    lesson_id=lesson.lesson_id,
                    view_id=report.view_id,
                    occurred_at=at,
                    actor_id=self.learner_id,
                )
            )
        delta = report.time_spent_seconds - (view.seconds if view else 0)
        if delta > 0:
            self._record(
                LessonTimeTracked(
                    learner_id=self.learner_id,
                    course_id=self.course_id,
                    lesson_id=lesson.lesson_id,
                    view_id=report.view_id,
                    seconds=delta,
                    occurred_at=at,
                    actor_id=self.learner_id,
                )
            )
        if video is not None:
            self._record_video(lesson, report.view_id, video, at)
        elif report.watched_ranges or report.video_position_seconds is not None:
            notices.append(f"video fields ignored: lesson {lesson.lesson_id} is not a video lesson")

        progress = self.lessons[lesson.lesson_id]
        complete = False
        if lesson.content_type == "video":
            complete = ranges.length(progress.watched) >= VIDEO_COMPLETION_SHARE * progress.video_duration > 0
            if report.completed and not complete and progress.completed_at is None:
                notices.append(
                    f"completed ignored: a video lesson completes once {VIDEO_COMPLETION_SHARE:.0%} of it "
                    f"has been watched ({progress.watched_percentage or 0:.1f}% so far)"
                )
        elif lesson.content_type == "article":
            complete = report.completed
        elif report.completed and progress.completed_at is None:
            notices.append("completed ignored: a quiz lesson completes when its quiz is passed")
        if complete and progress.completed_at is None:
            self._complete(course, lesson, at)
        return TrackResult(
            lesson_id=lesson.lesson_id,
            lesson_completed=progress.completed_at is not None,
            lesson_time_spent_seconds=progress.seconds_spent,
            completion_percentage=round(self.completion_in(course), 1),
            course_completed=self.completed_at is not None,
            resume_position_seconds=progress.video_position if lesson.content_type == "video" else None,
            watched_percentage=progress.watched_percentage,
            notices=tuple(notices),
        )

    def submit_quiz(
        self, course: Course, quiz: Quiz, answers: tuple[int, ...], *, at: datetime
    ) -> QuizResult:
        """Grade an attempt on the server and record it; passing completes the quiz lesson."""
        if not self.is_active:
            raise Conflict(f"the learner is not enrolled in course {self.course_id}")
        errors = []
        if len(answers) != len(quiz.questions):
            errors.append(
                FieldError(
                    "answers",
                    f"the quiz has {len(quiz.questions)} questions, {len(answers)} answers were sent",
                )
            )
        for index, (answer, question) in enumerate(zip(answers, quiz.questions, strict=False)):
            if not 0 <= answer < len(question.options):
                errors.append(
                    FieldError(
                        f"answers[{index}]",
                        f"option {answer} does not exist; question {index} has options "
                        f"0 to {len(question.options) - 1}",
                    )
                )
        if errors:
            raise InvalidInput(errors)
        record = self.quizzes.get(quiz.quiz_id) or QuizRecord(quiz.quiz_id)
        if quiz.max_attempts is not None and record.attempts >= quiz.max_attempts:
            raise Conflict(f"all {quiz.max_attempts} attempts at quiz {quiz.quiz_id} are used")
        correct = [
            answer == question.correct_index for answer, question in zip(answers, quiz.questions, strict=True)
        ]
        score = round(sum(correct) * 100 / len(correct), 1)
        passed = score >= quiz.passing_score
        attempt = record.attempts + 1

        if self.lessons.get(quiz.lesson_id, LessonProgress(quiz.lesson_id)).started_at is None:
            self._record(
                LessonStarted(
                    learner_id=self.learner_id,
                    course_id=self.course_id,
                    lesson_id=quiz.lesson_id,
                    view_id=uuid4(),
                    occurred_at=at,
                    actor_id=self.learner_id,
                )
            )
        event = QuizSubmitted(
            learner_id=self.learner_id,
            course_id=self.course_id,
            lesson_id=quiz.lesson_id,
            quiz_id=quiz.quiz_id,
            attempt_number=attempt,
            score_percentage=score,
            passed=passed,
            question_results=[
                QuestionResult(question_id=q.question_id, correct=ok)
                for q, ok in zip(quiz.questions, correct, strict=True)
            ],
            occurred_at=at,
            actor_id=self.learner_id,
        )
        self._record(event)
        self.new_attempts.append(NewAttempt(event, answers))
        lesson = course.lesson(quiz.lesson_id)
        if passed and lesson is not None and self.lessons[quiz.lesson_id].completed_at is None:
            self._complete(course, lesson, at)
        attempts_left = None if quiz.max_attempts is None else quiz.max_attempts - attempt
        # once passed (now or before) or out of attempts, the answers have nothing left to protect
        reveal = passed or record.passed or attempts_left == 0
        return QuizResult(
            quiz_id=quiz.quiz_id,
            attempt_number=attempt,
            score_percentage=score,
            passed=passed,
            passing_score=quiz.passing_score,
            attempts_left=attempts_left,
            questions=tuple(
                QuestionOutcome(q.question_id, answer, ok, q.correct_index if reveal else None)
                for q, answer, ok in zip(quiz.questions, answers, correct, strict=True)
            ),
            lesson_completed=self.lessons[quiz.lesson_id].completed_at is not None,
            completion_percentage=round(self.completion_in(course), 1),
        )

    def add_note(self, *, instructor_id: UUID, at: datetime) -> UUID:
        """Record that an instructor wrote a note about this learner; the text stays in the service."""
        note_id = uuid4()
        self._record(
            InstructorNoteAdded(
                learner_id=self.learner_id,
                note_id=note_id,
                instructor_id=instructor_id,
                course_id=self.course_id,
                occurred_at=at,
                actor_id=instructor_id,
            )
        )
        return note_id

    # --- helpers of the decisions ---------------------------------------------------------

    def _video_update(self, lesson: Lesson, report: TrackReport) -> tuple[int, int, ranges.Ranges] | None:
        """(position, duration, reported ranges) of a video report, validated; None if there is none."""
        if lesson.content_type != "video":
            return None
        if not report.watched_ranges and report.video_position_seconds is None:
            return None
        # the catalog's length is authoritative; a longer real video only extends it, and a
        # client claiming a shorter one cannot make a few seconds count as the whole lesson
        duration = max(lesson.duration_seconds, round(report.video_duration_seconds or 0))
        limit = duration + VIDEO_END_TOLERANCE_SECONDS
        for index, (start, end) in enumerate(report.watched_ranges):
            if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
                raise Rejected(
                    "invalid_range",
                    f"watchedRanges[{index}] must be [from, to] with 0 <= from < to (seconds)",
                )
            if end > limit:
                raise Rejected(
                    "range_outside_video",
                    f"watchedRanges[{index}] ends at {end:g} s, past the end of the {duration} s video",
                )
        position = report.video_position_seconds
        if position is not None and not (math.isfinite(position) and 0 <= position <= limit):
            raise Rejected(
                "position_outside_video",
                f"videoPositionSeconds {position:g} is outside the {duration} s video",
            )
        reported = ranges.clip(((round(start), round(end)) for start, end in report.watched_ranges), duration)
        current = self.lessons.get(lesson.lesson_id)
        resume = (
            min(duration, round(position))
            if position is not None
            else (current.video_position if current else 0)
        )
        return resume, duration, reported

    def _record_video(
        self, lesson: Lesson, view_id: UUID, video: tuple[int, int, ranges.Ranges], at: datetime
    ) -> None:
        position, duration, reported = video
        progress = self.lessons[lesson.lesson_id]
        watched = ranges.clip(progress.watched, duration)
        new = ranges.subtract(reported, watched)
        if not new and position == progress.video_position and duration == progress.video_duration:
            return
        covered = ranges.length(ranges.union(watched + new))
        self._record(
            VideoProgressed(
                learner_id=self.learner_id,
                course_id=self.course_id,
                lesson_id=lesson.lesson_id,
                view_id=view_id,
                position_seconds=position,
                duration_seconds=duration,
                watched_ranges=[WatchedRange(from_seconds=start, to_seconds=end) for start, end in new],
                watched_percentage=round(min(100.0, covered * 100 / duration), 1),
                occurred_at=at,
                actor_id=self.learner_id,
            )
        )

    def _complete(self, course: Course, lesson: Lesson, at: datetime) -> None:
        progress = self.lessons[lesson.lesson_id]
        after = (self.completed_lessons(course) + 1) * 100 / course.lesson_count
        self._record(
            LessonCompleted(
                learner_id=self.learner_id,
                course_id=self.course_id,
                lesson_id=lesson.lesson_id,
                total_seconds_spent=progress.seconds_spent,
                completion_percentage=round(after, 1),
                occurred_at=at,
                actor_id=self.learner_id,
            )
        )
        for milestone in MILESTONES:
            if after >= milestone and milestone not in self.milestones:
                self._record(
                    CourseMilestoneReached(
                        learner_id=self.learner_id,
                        course_id=self.course_id,
                        milestone=milestone,
                        completion_percentage=round(after, 1),
                        occurred_at=at,
                        actor_id=self.learner_id,
                    )
                )
        if self.completed_lessons(course) == course.lesson_count and self.completed_at is None:
            assert self.enrolled_at is not None
            self._record(
                CourseCompleted(
                    learner_id=self.learner_id,
                    course_id=self.course_id,
                    enrollment_id=self.enrollment_id,
                    days_to_complete=max(0, (at - self.enrolled_at).days),
                    total_seconds_spent=self.total_seconds,
                    occurred_at=at,
                    actor_id=self.learner_id,
                )
            )

    def _record(self, event: DomainEvent) -> None:
        self.apply(event)
        self.pending.append(event)

    # --- state ---------------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        """Change the state by one event; the only place state changes."""
        at = event.occurred_at
        match event:
            case EnrollmentCreated():
                self.status = "completed" if self.completed_at else "active"
                self.enrolled_at = event.enrolled_at
                self.cancelled_at = None
            case EnrollmentCancelled():
                self.status = "cancelled"
                self.cancelled_at = at
            case LessonStarted():
                lesson = self._lesson(event.lesson_id)
                lesson.started_at = at
                self._touch(lesson, at)
            case LessonTimeTracked():
                lesson = self._lesson(event.lesson_id)
                lesson.seconds_spent += event.seconds
                view = self.views.setdefault(event.view_id, View(event.view_id, event.lesson_id))
                view.seconds += event.seconds
                self.changed_views.add(event.view_id)
                self._touch(lesson, at)
            case VideoProgressed():
                lesson = self._lesson(event.lesson_id)
                new = tuple((r.from_seconds, r.to_seconds) for r in event.watched_ranges)
                # kept within the length the event states, so a longer length claimed once
                # cannot leave coverage past the end of the real video behind
                lesson.watched = ranges.clip(lesson.watched + new, event.duration_seconds)
                lesson.video_position = event.position_seconds
                lesson.video_duration = event.duration_seconds
                self._touch(lesson, at)
            case LessonCompleted():
                lesson = self._lesson(event.lesson_id)
                lesson.completed_at = at
                self.completion_percentage = event.completion_percentage
                self._touch(lesson, at)
            case QuizSubmitted():
                record = self.quizzes.setdefault(event.quiz_id, QuizRecord(event.quiz_id))
                record.attempts = max(record.attempts, event.attempt_number)
                record.best_score = max(record.best_score, event.score_percentage)
                record.passed = record.passed or event.passed
                self._touch(self._lesson(event.lesson_id), at)
            case CourseMilestoneReached():
                self.milestones.add(event.milestone)
            case CourseCompleted():
                self.status = "completed"
                self.completed_at = at
                self.completion_percentage = 100.0
            case InstructorNoteAdded():
                pass
        self.version += 1

    def _lesson(self, lesson_id: UUID) -> LessonProgress:
        self.changed_lessons.add(lesson_id)
        return self.lessons.setdefault(lesson_id, LessonProgress(lesson_id))

    def _touch(self, lesson: LessonProgress, at: datetime) -> None:
        lesson.last_viewed_at = max(lesson.last_viewed_at or at, at)
        if self.last_accessed_at is None or at >= self.last_accessed_at:
            self.last_accessed_at = at
            self.last_lesson_id = lesson.lesson_id

    def saved(self) -> list[DomainEvent]:
        """Hand over the recorded events and forget what changed (after a save)."""
        events, self.pending = self.pending, []
        self.changed_lessons.clear()
        self.changed_views.clear()
        self.new_attempts.clear()
        return events
