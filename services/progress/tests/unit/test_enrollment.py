"""A learner in a course: time, video and completion tracking, quizzes, milestones and replay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID, uuid4

import pytest

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
    QuizSubmitted,
    VideoProgressed,
)
from learnstream.progress.domain.catalog import (
    Course,
    CourseDraft,
    Lesson,
    LessonDraft,
    QuestionDraft,
    Quiz,
    QuizDraft,
    SectionDraft,
)
from learnstream.progress.domain.enrollment import Enrollment, TrackReport, TrackResult
from learnstream.progress.domain.errors import Conflict, InvalidInput, Rejected

ENROLLED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MAX_VIEW_SECONDS = 4 * 3600
PASSING_ANSWERS = (0, 1)
FAILING_ANSWERS = (0, 0)

E = TypeVar("E", bound=DomainEvent)
Enroll = Callable[..., Enrollment]
Publish = Callable[[CourseDraft], Course]


def minutes(n: float) -> datetime:
    return ENROLLED_AT + timedelta(minutes=n)


def track(
    enrollment: Enrollment,
    course: Course,
    lesson: Lesson,
    seconds: int,
    *,
    view_id: UUID | None = None,
    at: datetime | None = None,
    **video: object,
) -> TrackResult:
    """Send one report from the learner's client, in a new view unless ``view_id`` names one."""
    report = TrackReport(lesson.lesson_id, view_id or uuid4(), seconds, **video)  # type: ignore[arg-type]
    return enrollment.track(course, report, at=at or minutes(1), max_view_seconds=MAX_VIEW_SECONDS)


def recorded(enrollment: Enrollment, kind: type[E]) -> list[E]:
    """The events of ``kind`` the enrollment has recorded and not saved yet, in order."""
    return [event for event in enrollment.pending if isinstance(event, kind)]


def quiz_of(lesson: Lesson) -> Quiz:
    assert lesson.quiz is not None
    return lesson.quiz


@pytest.fixture
def learner(course: Course, enroll: Enroll) -> Enrollment:
    return enroll(course, at=ENROLLED_AT)


def two_articles(published: Publish) -> Course:
    return published(
        CourseDraft(
            "Short course",
            "",
            "programming",
            "beginner",
            (SectionDraft("Only", (LessonDraft("One", "article", 60), LessonDraft("Two", "article", 60))),),
        )
    )


# --- enrolling --------------------------------------------------------------------------------


def test_enrolling_twice_enrolls_once(course: Course) -> None:
    enrollment = Enrollment(uuid4(), uuid4(), course.course_id)

    assert enrollment.enroll(ENROLLED_AT) is True
    assert enrollment.enroll(minutes(5)) is False

    (created,) = enrollment.pending
    assert isinstance(created, EnrollmentCreated)
    assert (created.enrollment_id, created.learner_id, created.course_id) == (
        enrollment.enrollment_id,
        enrollment.learner_id,
        course.course_id,
    )
    assert (enrollment.status, enrollment.enrolled_at, enrollment.version) == ("active", ENROLLED_AT, 1)


def test_a_learner_can_leave_and_come_back(learner: Enrollment) -> None:
    assert learner.cancel(minutes(10)) is True
    assert learner.cancel(minutes(11)) is False
    assert (learner.status, learner.cancelled_at) == ("cancelled", minutes(10))

    assert learner.enroll(minutes(20)) is True

    assert [type(event) for event in learner.pending] == [
        EnrollmentCreated,
        EnrollmentCancelled,
        EnrollmentCreated,
    ]
    assert (learner.status, learner.enrolled_at, learner.cancelled_at) == ("active", minutes(20), None)


def test_an_instructor_note_is_recorded_without_its_text(learner: Enrollment) -> None:
    instructor = uuid4()

    note_id = learner.add_note(instructor_id=instructor, at=minutes(3))

    note = learner.pending[-1]
    assert isinstance(note, InstructorNoteAdded)
    assert (note.note_id, note.instructor_id, note.learner_id, note.actor_id) == (
        note_id,
        instructor,
        learner.learner_id,
        instructor,
    )


# --- time -------------------------------------------------------------------------------------


def test_a_retried_report_adds_no_time(course: Course, learner: Enrollment) -> None:
    _, variables, _, _ = course.lessons()
    view = uuid4()

    track(learner, course, variables, 30, view_id=view)
    result = track(learner, course, variables, 30, view_id=view)

    assert result.lesson_time_spent_seconds == 30
    assert [event.seconds for event in recorded(learner, LessonTimeTracked)] == [30]


def test_heartbeats_of_one_view_turn_into_deltas(course: Course, learner: Enrollment) -> None:
    _, variables, _, _ = course.lessons()
    view = uuid4()

    for seconds in (30, 60, 60, 90):
        track(learner, course, variables, seconds, view_id=view)

    assert learner.lessons[variables.lesson_id].seconds_spent == 90
    assert [event.seconds for event in recorded(learner, LessonTimeTracked)] == [30, 30, 30]
    assert {event.view_id for event in recorded(learner, LessonTimeTracked)} == {view}


def test_a_late_heartbeat_arriving_after_a_newer_one_adds_nothing(
    course: Course, learner: Enrollment
) -> None:
    _, variables, _, _ = course.lessons()
    view = uuid4()

    track(learner, course, variables, 60, view_id=view, at=minutes(2))
    result = track(learner, course, variables, 30, view_id=view, at=minutes(3))

    assert result.lesson_time_spent_seconds == 60
    assert learner.views[view].seconds == 60
    assert [event.seconds for event in recorded(learner, LessonTimeTracked)] == [60]


def test_two_views_of_a_lesson_add_up(course: Course, learner: Enrollment) -> None:
    _, variables, _, _ = course.lessons()

    track(learner, course, variables, 40, view_id=uuid4())
    result = track(learner, course, variables, 25, view_id=uuid4())

    assert result.lesson_time_spent_seconds == 65
    assert learner.total_seconds == 65


def test_a_lesson_is_started_on_its_first_view_only(course: Course, learner: Enrollment) -> None:
    _, variables, _, _ = course.lessons()
    first_view = uuid4()

    track(learner, course, variables, 10, view_id=first_view, at=minutes(1))
    track(learner, course, variables, 10, view_id=uuid4(), at=minutes(30))

    (started,) = recorded(learner, LessonStarted)
    assert (started.lesson_id, started.view_id, started.occurred_at) == (
        variables.lesson_id,
        first_view,
        minutes(1),
    )
    progress = learner.lessons[variables.lesson_id]
    assert (progress.started_at, progress.last_viewed_at) == (minutes(1), minutes(30))
    assert (learner.last_lesson_id, learner.last_accessed_at) == (variables.lesson_id, minutes(30))


def test_a_view_may_last_up_to_the_cap(course: Course, learner: Enrollment) -> None:
    _, variables, _, _ = course.lessons()

    result = track(learner, course, variables, MAX_VIEW_SECONDS)

    assert result.lesson_time_spent_seconds == MAX_VIEW_SECONDS


def rejection(enrollment: Enrollment, course: Course, report: TrackReport) -> str:
    """The reason ``report`` is rejected for; asserts that nothing was recorded."""
    version, pending = enrollment.version, list(enrollment.pending)
    lessons = {lesson_id: str(progress) for lesson_id, progress in enrollment.lessons.items()}
    with pytest.raises(Rejected) as rejected:
        enrollment.track(course, report, at=minutes(5), max_view_seconds=MAX_VIEW_SECONDS)
    assert (enrollment.version, enrollment.pending) == (version, pending)
    assert {lesson_id: str(progress) for lesson_id, progress in enrollment.lessons.items()} == lessons
    return rejected.value.reason


def test_time_beyond_what_one_view_can_last_is_rejected(course: Course, learner: Enrollment) -> None:
    _, variables, _, _ = course.lessons()

    reason = rejection(learner, course, TrackReport(variables.lesson_id, uuid4(), MAX_VIEW_SECONDS + 1))

    assert reason == "time_over_cap"
    assert learner.lessons == {}


def test_negative_time_is_rejected(course: Course, learner: Enrollment) -> None:
    _, variables, _, _ = course.lessons()

    assert rejection(learner, course, TrackReport(variables.lesson_id, uuid4(), -1)) == "negative_time"


def test_a_lesson_of_another_course_is_rejected(
    course: Course, learner: Enrollment, published: Publish
) -> None:
    other_lesson = next(two_articles(published).lessons())

    reason = rejection(learner, course, TrackReport(other_lesson.lesson_id, uuid4(), 10))

    assert reason == "lesson_not_in_course"


def test_a_view_cannot_move_to_another_lesson(course: Course, learner: Enrollment) -> None:
    _, variables, _, for_loops = course.lessons()
    view = uuid4()
    track(learner, course, variables, 30, view_id=view)

    reason = rejection(learner, course, TrackReport(for_loops.lesson_id, view, 60))

    assert reason == "view_of_another_lesson"
    assert for_loops.lesson_id not in learner.lessons


def test_a_learner_never_enrolled_is_rejected(course: Course) -> None:
    _, variables, _, _ = course.lessons()
    stranger = Enrollment(uuid4(), uuid4(), course.course_id)

    assert rejection(stranger, course, TrackReport(variables.lesson_id, uuid4(), 10)) == "not_enrolled"


def test_a_learner_who_left_is_rejected(course: Course, learner: Enrollment) -> None:
    _, variables, _, _ = course.lessons()
    learner.cancel(minutes(1))

    assert rejection(learner, course, TrackReport(variables.lesson_id, uuid4(), 10)) == "not_enrolled"


# --- articles ---------------------------------------------------------------------------------


def test_an_article_completes_once_however_often_it_is_sent(course: Course, learner: Enrollment) -> None:
    _, variables, _, _ = course.lessons()
    view = uuid4()

    first = track(learner, course, variables, 120, view_id=view, completed=True, at=minutes(2))
    again = track(learner, course, variables, 120, view_id=view, completed=True, at=minutes(3))
    later = track(learner, course, variables, 10, completed=True, at=minutes(4))

    (completed,) = recorded(learner, LessonCompleted)
    assert (completed.lesson_id, completed.total_seconds_spent, completed.completion_percentage) == (
        variables.lesson_id,
        120,
        25.0,
    )
    assert learner.lessons[variables.lesson_id].completed_at == minutes(2)
    assert first.lesson_completed and again.lesson_completed and later.lesson_completed
    assert later.completion_percentage == 25.0
    assert later.resume_position_seconds is None
    assert later.watched_percentage is None


def test_video_fields_on_an_article_are_ignored_with_a_notice(course: Course, learner: Enrollment) -> None:
    _, variables, _, _ = course.lessons()

    result = track(learner, course, variables, 10, video_position_seconds=30.0)

    assert result.notices == (f"video fields ignored: lesson {variables.lesson_id} is not a video lesson",)
    assert recorded(learner, VideoProgressed) == []


# --- videos -----------------------------------------------------------------------------------


def test_the_union_of_watched_stretches_is_kept(course: Course, learner: Enrollment) -> None:
    welcome, _, _, _ = course.lessons()
    view = uuid4()

    track(learner, course, welcome, 100, view_id=view, watched_ranges=((0.0, 100.0),))
    result = track(learner, course, welcome, 200, view_id=view, watched_ranges=((200.4, 299.6),))

    assert learner.lessons[welcome.lesson_id].watched == ((0, 100), (200, 300))
    assert result.watched_percentage == round(200 * 100 / 600, 1)
    assert not result.lesson_completed


def test_overlapping_reports_do_not_inflate_what_was_watched(course: Course, learner: Enrollment) -> None:
    welcome, _, _, _ = course.lessons()
    view = uuid4()

    track(learner, course, welcome, 100, view_id=view, watched_ranges=((0.0, 100.0),))
    result = track(learner, course, welcome, 150, view_id=view, watched_ranges=((50.0, 150.0),))
    resent = track(learner, course, welcome, 150, view_id=view, watched_ranges=((50.0, 150.0),))

    assert learner.lessons[welcome.lesson_id].watched == ((0, 150),)
    assert result.watched_percentage == resent.watched_percentage == 25.0
    progressed = recorded(learner, VideoProgressed)
    assert [[(r.from_seconds, r.to_seconds) for r in e.watched_ranges] for e in progressed] == [
        [(0, 100)],
        [(100, 150)],
    ]
    assert [e.watched_percentage for e in progressed] == [round(100 * 100 / 600, 1), 25.0]


def test_seeking_to_the_end_does_not_complete_a_video(course: Course, learner: Enrollment) -> None:
    welcome, _, _, _ = course.lessons()

    result = track(learner, course, welcome, 5, video_position_seconds=599.0, video_duration_seconds=600.0)

    assert not result.lesson_completed
    assert result.watched_percentage == 0.0
    assert result.resume_position_seconds == 599
    assert recorded(learner, LessonCompleted) == []


def test_a_video_completes_once_95_percent_is_watched(course: Course, learner: Enrollment) -> None:
    welcome, _, _, _ = course.lessons()
    view = uuid4()

    almost = track(learner, course, welcome, 569, view_id=view, watched_ranges=((0.0, 569.0),))
    done = track(
        learner, course, welcome, 600, view_id=view, watched_ranges=((569.0, 570.0),), at=minutes(12)
    )

    assert not almost.lesson_completed
    assert done.lesson_completed
    assert done.watched_percentage == 95.0
    (completed,) = recorded(learner, LessonCompleted)
    assert (completed.lesson_id, completed.occurred_at, completed.total_seconds_spent) == (
        welcome.lesson_id,
        minutes(12),
        600,
    )


def test_the_resume_position_is_returned_and_kept(course: Course, learner: Enrollment) -> None:
    welcome, _, _, _ = course.lessons()
    view = uuid4()

    first = track(learner, course, welcome, 120, view_id=view, video_position_seconds=123.6)
    heartbeat = track(learner, course, welcome, 150, view_id=view, watched_ranges=((0.0, 150.0),))

    assert first.resume_position_seconds == 124
    assert heartbeat.resume_position_seconds == 124
    assert learner.lessons[welcome.lesson_id].video_position == 124


def test_the_end_of_a_video_is_accepted_a_little_past_its_catalog_length(
    course: Course, learner: Enrollment
) -> None:
    welcome, _, _, _ = course.lessons()

    result = track(
        learner, course, welcome, 600, watched_ranges=((0.0, 601.8),), video_position_seconds=601.8
    )

    assert learner.lessons[welcome.lesson_id].watched == ((0, 600),)
    assert result.resume_position_seconds == 600
    assert result.watched_percentage == 100.0
    assert result.lesson_completed


def test_a_stretch_past_the_end_of_the_video_is_rejected(course: Course, learner: Enrollment) -> None:
    welcome, _, _, _ = course.lessons()
    report = TrackReport(welcome.lesson_id, uuid4(), 60, watched_ranges=((500.0, 603.0),))

    assert rejection(learner, course, report) == "range_outside_video"


@pytest.mark.parametrize(
    "stretch",
    [(-1.0, 10.0), (10.0, 10.0), (20.0, 10.0), (0.0, float("nan")), (0.0, float("inf"))],
)
def test_a_malformed_stretch_is_rejected(
    course: Course, learner: Enrollment, stretch: tuple[float, float]
) -> None:
    welcome, _, _, _ = course.lessons()
    report = TrackReport(welcome.lesson_id, uuid4(), 60, watched_ranges=(stretch,))

    assert rejection(learner, course, report) == "invalid_range"


def test_a_position_past_the_end_of_the_video_is_rejected(course: Course, learner: Enrollment) -> None:
    welcome, _, _, _ = course.lessons()
    report = TrackReport(welcome.lesson_id, uuid4(), 60, video_position_seconds=700.0)

    assert rejection(learner, course, report) == "position_outside_video"


def test_a_video_claimed_complete_too_early_stays_incomplete_with_a_notice(
    course: Course, learner: Enrollment
) -> None:
    welcome, _, _, _ = course.lessons()

    result = track(learner, course, welcome, 300, watched_ranges=((0.0, 300.0),), completed=True)

    assert not result.lesson_completed
    assert result.notices == (
        "completed ignored: a video lesson completes once 95% of it has been watched (50.0% so far)",
    )
    assert recorded(learner, LessonCompleted) == []


def test_a_client_claiming_a_shorter_video_cannot_shrink_it(course: Course, learner: Enrollment) -> None:
    welcome, _, _, _ = course.lessons()

    result = track(learner, course, welcome, 60, watched_ranges=((0.0, 60.0),), video_duration_seconds=60.0)

    assert not result.lesson_completed
    assert result.watched_percentage == 10.0


def test_time_watched_past_the_catalog_length_never_completes_the_video(
    course: Course, learner: Enrollment
) -> None:
    # a player once reports the video as twice the catalog's length, then stops sending the length
    welcome, _, _, _ = course.lessons()
    view = uuid4()
    track(
        learner,
        course,
        welcome,
        600,
        view_id=view,
        video_duration_seconds=1200.0,
        watched_ranges=((600.0, 1200.0),),
        video_position_seconds=1200.0,
    )

    result = track(learner, course, welcome, 610, view_id=view, video_position_seconds=0.0)

    last_progress = recorded(learner, VideoProgressed)[-1]
    assert last_progress.watched_percentage == 0.0
    assert result.watched_percentage == last_progress.watched_percentage
    assert not result.lesson_completed


# --- milestones and course completion ---------------------------------------------------------


def complete_everything(enrollment: Enrollment, course: Course, *, finished_at: datetime) -> None:
    welcome, variables, check, for_loops = course.lessons()
    track(enrollment, course, welcome, 600, watched_ranges=((0.0, 600.0),), at=minutes(10))
    track(enrollment, course, variables, 300, completed=True, at=minutes(20))
    enrollment.submit_quiz(course, quiz_of(check), PASSING_ANSWERS, at=minutes(30))
    track(enrollment, course, for_loops, 200, completed=True, at=finished_at)


def test_each_milestone_is_reached_once(course: Course, learner: Enrollment) -> None:
    complete_everything(learner, course, finished_at=minutes(40))
    _, variables, _, _ = course.lessons()
    track(learner, course, variables, 10, completed=True, at=minutes(50))

    milestones = recorded(learner, CourseMilestoneReached)
    assert [(m.milestone, m.completion_percentage, m.occurred_at) for m in milestones] == [
        (25, 25.0, minutes(10)),
        (50, 50.0, minutes(20)),
        (75, 75.0, minutes(30)),
    ]
    assert learner.milestones == {25, 50, 75}
    assert [e.completion_percentage for e in recorded(learner, LessonCompleted)] == [25.0, 50.0, 75.0, 100.0]


def test_a_step_crossing_two_milestones_reaches_both(published: Publish, enroll: Enroll) -> None:
    course = two_articles(published)
    learner = enroll(course, at=ENROLLED_AT)
    one, _ = course.lessons()

    result = track(learner, course, one, 60, completed=True)

    assert result.completion_percentage == 50.0
    assert [m.milestone for m in recorded(learner, CourseMilestoneReached)] == [25, 50]


def test_the_course_completes_once_counting_whole_days_from_enrollment(
    course: Course, enroll: Enroll
) -> None:
    learner = enroll(course, at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    finished_at = datetime(2026, 3, 11, 8, 59, tzinfo=UTC)

    complete_everything(learner, course, finished_at=finished_at)
    _, variables, _, _ = course.lessons()
    after = track(learner, course, variables, 30, completed=True, at=datetime(2026, 3, 12, tzinfo=UTC))

    (completed,) = recorded(learner, CourseCompleted)
    assert completed.days_to_complete == 9
    assert completed.enrollment_id == learner.enrollment_id
    assert completed.total_seconds_spent == 600 + 300 + 200
    assert completed.occurred_at == finished_at
    assert (learner.status, learner.completed_at, learner.completion_percentage) == (
        "completed",
        finished_at,
        100.0,
    )
    assert after.course_completed
    assert after.completion_percentage == 100.0


def test_a_completed_course_cannot_be_cancelled(course: Course, learner: Enrollment) -> None:
    complete_everything(learner, course, finished_at=minutes(40))

    with pytest.raises(Conflict):
        learner.cancel(minutes(50))

    assert learner.status == "completed"


# --- quizzes ----------------------------------------------------------------------------------


def test_a_quiz_lesson_completes_only_when_its_quiz_is_passed(course: Course, learner: Enrollment) -> None:
    _, _, check, _ = course.lessons()

    claimed = track(learner, course, check, 60, completed=True)
    failed = learner.submit_quiz(course, quiz_of(check), FAILING_ANSWERS, at=minutes(2))
    passed = learner.submit_quiz(course, quiz_of(check), PASSING_ANSWERS, at=minutes(3))

    assert claimed.notices == ("completed ignored: a quiz lesson completes when its quiz is passed",)
    assert not claimed.lesson_completed
    assert not failed.lesson_completed
    assert passed.lesson_completed
    assert passed.completion_percentage == 25.0
    (completed,) = recorded(learner, LessonCompleted)
    assert (completed.lesson_id, completed.occurred_at) == (check.lesson_id, minutes(3))


def test_a_quiz_is_scored_on_the_server(course: Course, learner: Enrollment) -> None:
    _, _, check, _ = course.lessons()
    quiz = quiz_of(check)

    result = learner.submit_quiz(course, quiz, FAILING_ANSWERS, at=minutes(2))

    assert (result.score_percentage, result.passed, result.passing_score) == (50.0, False, 70)
    assert [(q.selected_index, q.correct) for q in result.questions] == [(0, True), (0, False)]
    (submitted,) = recorded(learner, QuizSubmitted)
    assert (submitted.quiz_id, submitted.lesson_id, submitted.score_percentage, submitted.passed) == (
        quiz.quiz_id,
        check.lesson_id,
        50.0,
        False,
    )
    assert [(r.question_id, r.correct) for r in submitted.question_results] == [
        (quiz.questions[0].question_id, True),
        (quiz.questions[1].question_id, False),
    ]
    assert learner.new_attempts[0].answers == FAILING_ANSWERS


def test_a_quiz_submitted_first_starts_its_lesson(course: Course, learner: Enrollment) -> None:
    _, _, check, _ = course.lessons()

    learner.submit_quiz(course, quiz_of(check), FAILING_ANSWERS, at=minutes(2))
    learner.submit_quiz(course, quiz_of(check), FAILING_ANSWERS, at=minutes(3))

    (started,) = recorded(learner, LessonStarted)
    assert (started.lesson_id, started.occurred_at) == (check.lesson_id, minutes(2))


def test_attempts_are_numbered_and_limited(course: Course, learner: Enrollment) -> None:
    _, _, check, _ = course.lessons()
    quiz = quiz_of(check)

    results = [learner.submit_quiz(course, quiz, FAILING_ANSWERS, at=minutes(n)) for n in (1, 2, 3)]
    with pytest.raises(Conflict):
        learner.submit_quiz(course, quiz, PASSING_ANSWERS, at=minutes(4))

    assert [(r.attempt_number, r.attempts_left) for r in results] == [(1, 2), (2, 1), (3, 0)]
    assert [e.attempt_number for e in recorded(learner, QuizSubmitted)] == [1, 2, 3]
    assert learner.quizzes[quiz.quiz_id].attempts == 3
    assert not learner.quizzes[quiz.quiz_id].passed


def test_a_quiz_without_a_limit_can_be_retaken_after_passing(published: Publish, enroll: Enroll) -> None:
    unlimited = QuizDraft(
        passing_score=100, questions=(QuestionDraft("2 + 2?", ("3", "4"), correct_index=1),)
    )
    draft = CourseDraft(
        "Quiz only",
        "",
        "programming",
        "beginner",
        (SectionDraft("Only", (LessonDraft("Quiz", "quiz", 60, quiz=unlimited),)),),
    )
    course = published(draft)
    learner = enroll(course, at=ENROLLED_AT)
    (lesson,) = course.lessons()

    results = [learner.submit_quiz(course, quiz_of(lesson), (1,), at=minutes(n)) for n in range(1, 6)]

    assert [r.attempt_number for r in results] == [1, 2, 3, 4, 5]
    assert {r.attempts_left for r in results} == {None}
    assert len(recorded(learner, LessonCompleted)) == 1
    assert len(recorded(learner, CourseCompleted)) == 1


def answer_problems(learner: Enrollment, course: Course, answers: tuple[int, ...]) -> dict[str, str]:
    _, _, check, _ = course.lessons()
    with pytest.raises(InvalidInput) as refused:
        learner.submit_quiz(course, quiz_of(check), answers, at=minutes(2))
    assert learner.quizzes == {}
    return {error.field: error.message for error in refused.value.errors}


@pytest.mark.parametrize("answers", [(), (0,), (0, 1, 0)])
def test_one_answer_is_needed_per_question(
    course: Course, learner: Enrollment, answers: tuple[int, ...]
) -> None:
    found = answer_problems(learner, course, answers)

    assert found == {"answers": f"the quiz has 2 questions, {len(answers)} answers were sent"}


@pytest.mark.parametrize("answer", [3, -1])
def test_an_answer_must_be_one_of_the_options(course: Course, learner: Enrollment, answer: int) -> None:
    found = answer_problems(learner, course, (0, answer))

    assert found == {
        "answers[1]": f"option {answer} does not exist; question 1 has options 0 to 2",
    }


def test_answers_are_revealed_only_once_passed_or_out_of_attempts(
    course: Course, learner: Enrollment
) -> None:
    _, _, check, _ = course.lessons()
    quiz = quiz_of(check)

    first = learner.submit_quiz(course, quiz, FAILING_ANSWERS, at=minutes(1))
    second = learner.submit_quiz(course, quiz, FAILING_ANSWERS, at=minutes(2))
    last = learner.submit_quiz(course, quiz, FAILING_ANSWERS, at=minutes(3))

    assert [q.correct_index for q in first.questions] == [None, None]
    assert [q.correct_index for q in second.questions] == [None, None]
    assert [q.correct_index for q in last.questions] == [0, 1]


def test_a_passed_quiz_reveals_its_answers(course: Course, learner: Enrollment) -> None:
    _, _, check, _ = course.lessons()

    result = learner.submit_quiz(course, quiz_of(check), PASSING_ANSWERS, at=minutes(1))

    assert result.passed
    assert [q.correct_index for q in result.questions] == [0, 1]
    assert learner.quizzes[quiz_of(check).quiz_id].best_score == 100.0


def test_a_learner_not_enrolled_cannot_submit_a_quiz(course: Course) -> None:
    _, _, check, _ = course.lessons()
    stranger = Enrollment(uuid4(), uuid4(), course.course_id)

    with pytest.raises(Conflict):
        stranger.submit_quiz(course, quiz_of(check), PASSING_ANSWERS, at=minutes(1))

    assert stranger.pending == []


# --- replay -----------------------------------------------------------------------------------


def test_replaying_the_recorded_events_rebuilds_the_enrollment(course: Course, learner: Enrollment) -> None:
    welcome, variables, check, _ = course.lessons()
    view = uuid4()
    track(learner, course, welcome, 60, view_id=view, watched_ranges=((0.0, 60.0),), at=minutes(1))
    track(learner, course, welcome, 90, view_id=view, watched_ranges=((30.0, 90.0),), at=minutes(2))
    track(learner, course, welcome, 45, view_id=view, at=minutes(3))
    track(
        learner,
        course,
        welcome,
        570,
        watched_ranges=((90.0, 590.0),),
        video_position_seconds=590.0,
        at=minutes(15),
    )
    track(learner, course, variables, 120, completed=True, at=minutes(20))
    learner.submit_quiz(course, quiz_of(check), FAILING_ANSWERS, at=minutes(25))
    learner.submit_quiz(course, quiz_of(check), PASSING_ANSWERS, at=minutes(26))
    learner.add_note(instructor_id=course.instructor_id, at=minutes(30))

    replayed = Enrollment(learner.enrollment_id, learner.learner_id, learner.course_id)
    for event in learner.pending:
        replayed.apply(event)

    assert replayed.lessons == learner.lessons
    assert replayed.lessons[welcome.lesson_id].watched == ((0, 590),)
    assert replayed.lessons[welcome.lesson_id].completed_at == minutes(15)
    assert replayed.views == learner.views
    assert replayed.quizzes == learner.quizzes
    assert replayed.milestones == learner.milestones == {25, 50, 75}
    assert (replayed.status, replayed.version) == (learner.status, learner.version)
    assert replayed.version == len(learner.pending)
    assert (replayed.enrolled_at, replayed.completed_at, replayed.completion_percentage) == (
        learner.enrolled_at,
        learner.completed_at,
        learner.completion_percentage,
    )
    assert (replayed.last_lesson_id, replayed.last_accessed_at) == (
        learner.last_lesson_id,
        learner.last_accessed_at,
    )


def test_saving_hands_over_the_recorded_events_once(course: Course, learner: Enrollment) -> None:
    _, variables, _, _ = course.lessons()
    track(learner, course, variables, 30)

    events = learner.saved()

    assert [type(event) for event in events] == [EnrollmentCreated, LessonStarted, LessonTimeTracked]
    assert (learner.pending, learner.changed_lessons, learner.changed_views) == ([], set(), set())
    assert learner.version == 3
