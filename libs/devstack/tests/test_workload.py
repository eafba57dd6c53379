"""The workload generator: same seed, same events; every event valid and before now; and the
progress events as the progress service would record them (replayed here rule by rule)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from learnstream.devstack.workload import DEFAULT_NOW, PERSONAS, Workload, generate, iter_events
from learnstream.events import DomainEvent
from learnstream.events.achievements import XpAwarded
from learnstream.events.catalog import CourseArchived, CourseStructureChanged
from learnstream.events.chat import (
    AssistantReplied,
    AssistantReplyRated,
    ChatMessageSent,
    ChatSessionDeleted,
)
from learnstream.events.identity import LearnerErasureRequested, UserProfileChanged, UserRegistered
from learnstream.events.progress import (
    CourseCompleted,
    CourseMilestoneReached,
    EnrollmentCancelled,
    EnrollmentCreated,
    InstructorNoteAdded,
    LessonCompleted,
    LessonStarted,
    LessonTimeTracked,
    QuizSubmitted,
    VideoProgressed,
)

PROGRESS_ON_A_LESSON = (LessonStarted, LessonTimeTracked, VideoProgressed, LessonCompleted, QuizSubmitted)


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate(7)


def _fingerprint(events: list[DomainEvent]) -> list[tuple[str, str]]:
    return [(type(e).__name__, e.model_dump_json()) for e in events]


def _outlines(events: list[DomainEvent]) -> dict[UUID, list[CourseStructureChanged]]:
    outlines: dict[UUID, list[CourseStructureChanged]] = defaultdict(list)
    for event in events:
        if isinstance(event, CourseStructureChanged):
            outlines[event.course_id].append(event)
    return outlines


def _outline_at(outlines: list[CourseStructureChanged], at: datetime) -> set[UUID]:
    current = [o for o in outlines if o.occurred_at <= at][-1]
    return {lesson.lesson_id for section in current.sections for lesson in section.lessons}


def _video_durations(outlines: dict[UUID, list[CourseStructureChanged]]) -> dict[UUID, int]:
    return {
        lesson.lesson_id: lesson.duration_seconds
        for structures in outlines.values()
        for structure in structures
        for section in structure.sections
        for lesson in section.lessons
        if lesson.content_type == "video"
    }


def _by_enrollment(events: list[DomainEvent]) -> dict[tuple[UUID, UUID], list[DomainEvent]]:
    """Each (learner, course)'s progress events in the order they were recorded."""
    streams: dict[tuple[UUID, UUID], list[DomainEvent]] = defaultdict(list)
    for event in events:
        learner, course = getattr(event, "learner_id", None), getattr(event, "course_id", None)
        if learner is not None and course is not None and event.context == "progress":
            streams[(learner, course)].append(event)
    return streams


def test_the_same_seed_gives_the_same_events_and_another_seed_others() -> None:
    first, again, other = generate(11, learners=30), generate(11, learners=30), generate(12, learners=30)

    assert _fingerprint(first.events) == _fingerprint(again.events)
    assert first.erased_learner_id == again.erased_learner_id
    assert _fingerprint(first.events) != _fingerprint(other.events)


def test_the_stream_holds_the_same_events_as_the_workload() -> None:
    workload = generate(5, learners=20)

    streamed = list(iter_events(5, learners=20))

    assert sorted(_fingerprint(streamed)) == sorted(_fingerprint(workload.events))


def test_150_learners_take_well_under_a_second() -> None:
    started = time.perf_counter()
    generate(3)
    assert time.perf_counter() - started < 1.5  # a loaded CI machine gets some slack


def test_every_event_is_valid_distinct_and_before_now(workload: Workload) -> None:
    assert workload.now == DEFAULT_NOW
    assert len({e.event_id for e in workload.events}) == len(workload.events)
    for event in workload.events:
        assert type(event).model_validate_json(event.model_dump_json()) == event
        assert event.occurred_at < workload.now
        assert event.occurred_at.tzinfo == UTC
        assert event.occurred_at.microsecond % 1000 == 0
    assert [e.occurred_at for e in workload.events] == sorted(e.occurred_at for e in workload.events)


def test_now_can_be_given() -> None:
    now = datetime(2030, 1, 1, 9, 30, 15, 123_456, tzinfo=UTC)

    workload = generate(2, learners=10, weeks=3, now=now)

    assert workload.now == datetime(2030, 1, 1, 9, 30, 15, 123_000, tzinfo=UTC)
    assert all(e.occurred_at < workload.now for e in workload.events)
    assert min(e.occurred_at for e in workload.events) > now - timedelta(weeks=3, days=50)


def test_lessons_start_once_and_time_and_video_are_deltas(workload: Workload) -> None:
    durations = _video_durations(_outlines(workload.events))
    for stream in _by_enrollment(workload.events).values():
        started: set[UUID] = set()
        covered: dict[UUID, set[int]] = defaultdict(set)
        for event in stream:
            if not isinstance(event, PROGRESS_ON_A_LESSON):
                continue
            if isinstance(event, LessonStarted):
                assert event.lesson_id not in started
                started.add(event.lesson_id)
            assert event.lesson_id in started, "a lesson is started by its first event"
            if isinstance(event, VideoProgressed):
                assert event.duration_seconds == durations[event.lesson_id]
                for stretch in event.watched_ranges:
                    seconds = set(range(stretch.from_seconds, stretch.to_seconds))
                    assert not seconds & covered[event.lesson_id], "only newly watched stretches are reported"
                    covered[event.lesson_id] |= seconds
                share = len(covered[event.lesson_id]) * 100 / event.duration_seconds
                assert event.watched_percentage == round(share, 1)


def test_completions_milestones_and_course_completion_follow_the_outline(workload: Workload) -> None:
    outlines = _outlines(workload.events)
    durations = _video_durations(outlines)
    for (_, course_id), stream in _by_enrollment(workload.events).items():
        completed: set[UUID] = set()
        milestones: set[int] = set()
        seconds: Counter[UUID] = Counter()
        coverage: dict[UUID, set[int]] = defaultdict(set)
        enrolled_at: datetime | None = None
        passed: set[UUID] = set()
        course_completed = False
        for index, event in enumerate(stream):
            if isinstance(event, EnrollmentCreated):
                enrolled_at = event.occurred_at
            elif isinstance(event, LessonTimeTracked):
                assert event.seconds > 0
                seconds[event.lesson_id] += event.seconds
            elif isinstance(event, VideoProgressed):
                for stretch in event.watched_ranges:
                    coverage[event.lesson_id] |= set(range(stretch.from_seconds, stretch.to_seconds))
                if len(coverage[event.lesson_id]) >= 0.95 * event.duration_seconds:
                    assert event.lesson_id in completed or isinstance(stream[index + 1], LessonCompleted)
            elif isinstance(event, QuizSubmitted) and event.passed:
                passed.add(event.lesson_id)
            elif isinstance(event, LessonCompleted):
                outline = _outline_at(outlines[course_id], event.occurred_at)
                assert event.lesson_id not in completed
                assert event.total_seconds_spent == seconds[event.lesson_id]
                expected = (len(completed & outline) + 1) * 100 / len(outline)
                assert event.completion_percentage == round(expected, 1)
                completed.add(event.lesson_id)
                if event.lesson_id in durations:
                    assert len(coverage[event.lesson_id]) >= 0.95 * durations[event.lesson_id]
                crossed = {m for m in (25, 50, 75) if expected >= m} - milestones
                following = stream[index + 1 : index + 1 + len(crossed)]
                assert {m.milestone for m in following if isinstance(m, CourseMilestoneReached)} == crossed
                milestones |= crossed
                if outline <= completed and not course_completed:
                    done = stream[index + 1 + len(crossed)]
                    assert isinstance(done, CourseCompleted)
                    assert enrolled_at is not None
                    assert done.days_to_complete == (done.occurred_at - enrolled_at).days
                    assert done.total_seconds_spent == sum(seconds.values())
                    course_completed = True
            elif isinstance(event, CourseCompleted):
                assert course_completed, "a course completes right after its last lesson"
        quiz_lessons_completed = {
            e.lesson_id for e in stream if isinstance(e, LessonCompleted) and e.lesson_id in passed
        }
        assert quiz_lessons_completed == passed


def test_quiz_attempts_are_numbered_and_graded(workload: Workload) -> None:
    attempts: dict[tuple[UUID, UUID], list[QuizSubmitted]] = defaultdict(list)
    for event in workload.events:
        if isinstance(event, QuizSubmitted):
            attempts[(event.learner_id, event.quiz_id)].append(event)
            correct = sum(r.correct for r in event.question_results)
            assert event.score_percentage == round(correct * 100 / len(event.question_results), 1)
    for tries in attempts.values():
        assert [a.attempt_number for a in tries] == list(range(1, len(tries) + 1))
    assert any(sum(not a.passed for a in tries) >= 3 for tries in attempts.values())


def test_learners_are_active_only_while_enrolled_and_before_a_course_is_archived(workload: Workload) -> None:
    archived = {e.course_id: e.occurred_at for e in workload.events if isinstance(e, CourseArchived)}
    assert archived
    for (_, course_id), stream in _by_enrollment(workload.events).items():
        assert all(e.occurred_at < archived.get(course_id, workload.now) for e in stream)
    for stream in _by_enrollment(workload.events).values():
        enrolled = False
        for event in stream:
            if isinstance(event, EnrollmentCreated):
                assert not enrolled
                enrolled = True
            elif isinstance(event, EnrollmentCancelled):
                assert enrolled
                enrolled = False
            elif not isinstance(event, InstructorNoteAdded):
                assert enrolled, type(event).__name__


def test_xp_adds_up_per_learner(workload: Workload) -> None:
    totals: Counter[UUID] = Counter()
    causes = {
        e.event_id
        for e in workload.events
        if isinstance(e, LessonCompleted | QuizSubmitted | CourseCompleted)
    }
    for award in (e for e in workload.events if isinstance(e, XpAwarded)):
        totals[award.learner_id] += award.amount
        assert award.total_xp == totals[award.learner_id]
        assert award.caused_by_event_id in causes
    assert totals


def test_the_workload_has_every_kind_of_story(workload: Workload) -> None:
    events = workload.events
    kinds = Counter(type(e).__name__ for e in events)
    registered = {e.user_id for e in events if isinstance(e, UserRegistered)}
    learner_ids = {learner.user_id for learner in workload.learners}

    assert learner_ids - registered, "some learners never registered"
    assert {e.timezone for e in events if isinstance(e, UserRegistered)} >= {"UTC", "Asia/Tokyo"}
    assert any(isinstance(e, UserProfileChanged) and e.display_name for e in events)
    assert any(isinstance(e, UserProfileChanged) and e.timezone for e in events)
    erasures = [e for e in events if isinstance(e, LearnerErasureRequested)]
    assert [e.user_id for e in erasures] == [workload.erased_learner_id]
    assert any(getattr(e, "learner_id", None) == workload.erased_learner_id for e in events)
    for name in (
        "CourseDetailsChanged",
        "EnrollmentCancelled",
        "InstructorNoteAdded",
        "ChatSessionDeleted",
        "XpAwarded",
    ):
        assert kinds[name] > 0, name
    assert any(len(v) > 1 for v in _outlines(events).values()), "an outline changed after publication"
    assert any(isinstance(e, VideoProgressed) and not e.watched_ranges for e in events), "rewatching"
    assert any(isinstance(e, ChatMessageSent) and e.lesson_id is None for e in events)
    texts = Counter(e.text for e in events if isinstance(e, ChatMessageSent))
    assert texts.most_common(1)[0][1] > 1, "some questions are asked word for word again"
    assert any("für" in text or "café" in text for text in texts)
    assert any(isinstance(e, AssistantReplied) and not e.answered for e in events)
    rated = Counter(e.message_id for e in events if isinstance(e, AssistantReplyRated))
    assert rated.most_common(1)[0][1] > 1, "a reply is rated again"
    deleted = {e.session_id for e in events if isinstance(e, ChatSessionDeleted)}
    assert any(isinstance(e, ChatMessageSent) and e.session_id in deleted for e in events)
    assert {persona for learner in workload.learners for _, persona in learner.enrollments} <= PERSONAS.keys()


def test_activity_follows_a_daily_rhythm(workload: Workload) -> None:
    zones = {learner.user_id: learner.timezone for learner in workload.learners}
    hours = Counter(
        e.occurred_at.astimezone(ZoneInfo(zones[e.learner_id])).hour
        for e in workload.events
        if isinstance(e, LessonStarted)
    )
    evening, daytime = (sum(hours[h] for h in span) / len(span) for span in (range(18, 23), range(9, 18)))
    assert evening > 1.5 * daytime
    assert sum(hours[h] for h in range(0, 4)) > 0, "night owls"
