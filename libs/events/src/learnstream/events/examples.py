"""One realistic, valid example of every event in the catalog.

The examples serve the contract tests (every type in ``EVENT_TYPES`` must have one and
survive an encode/decode round trip), the documentation (they show what each event
looks like on the bus) and other services' tests (a valid event to start from, changed
with ``model_copy(update=...)``).

They tell one story, with fixed ids and times so the output is deterministic: an
instructor creates and publishes the course "Python for Data Analysis"; the learner
Ada, who lives in Europe/Berlin, registers, enrolls (a second time, after cancelling an
early enrollment), works through the lesson "Series and DataFrames", asks the course
assistant about ``loc`` and ``iloc``, passes the quiz, earns XP, a level, a streak and a
badge, completes the course, exports a progress report and, long after the course was
archived, asks to be forgotten, which every context confirms.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TypeVar
from uuid import UUID

from learnstream.events.achievements import (
    AchievementUnlocked,
    LearnerAchievementsErased,
    LevelReached,
    StreakBroken,
    StreakExtended,
    XpAwarded,
)
from learnstream.events.base import DomainEvent
from learnstream.events.catalog import (
    CourseArchived,
    CourseCreated,
    CourseDetailsChanged,
    CoursePublished,
    CourseStructureChanged,
    LessonContentChanged,
    LessonOutline,
    QuizOutline,
    SectionOutline,
)
from learnstream.events.chat import (
    AssistantReplied,
    AssistantReplyRated,
    ChatMessageSent,
    ChatSessionDeleted,
    ChatSessionRenamed,
    ChatSessionStarted,
    LearnerChatErased,
)
from learnstream.events.exports import (
    CertificateIssued,
    ExportCompleted,
    ExportFailed,
    ExportRequested,
    LearnerExportsErased,
    WeeklyDigestPublished,
)
from learnstream.events.identity import (
    LearnerErasureRequested,
    UserProfileChanged,
    UserRegistered,
)
from learnstream.events.progress import (
    CourseCompleted,
    CourseMilestoneReached,
    EnrollmentCancelled,
    EnrollmentCreated,
    InstructorNoteAdded,
    LearnerProgressErased,
    LessonCompleted,
    LessonStarted,
    LessonTimeTracked,
    QuestionResult,
    QuizSubmitted,
    VideoProgressed,
    WatchedRange,
)

__all__ = [
    "ADA_ID",
    "CANCELLED_ENROLLMENT_ID",
    "CHAT_SESSION_ID",
    "COURSE_ID",
    "COURSE_TITLE",
    "DATAFRAMES_LESSON_ID",
    "ENROLLMENT_ID",
    "ERASURE_REQUEST_ID",
    "EXPORT_ID",
    "INSTRUCTOR_ID",
    "QUIZ_ID",
    "example_events",
    "example_of",
]

E = TypeVar("E", bound=DomainEvent)

# --- The cast and the things they act on -------------------------------------------------

ADA_ID = UUID("5d6f2a7e-3c1b-4f0a-8e2d-1a2b3c4d5e6f")
"""The learner Ada (time zone Europe/Berlin)."""
INSTRUCTOR_ID = UUID("24063641-23b9-4c0f-8be3-d5b3b8dce289")
"""The instructor who owns the course."""

COURSE_ID = UUID("95a240d9-dd76-4afa-9924-2769f8a73a24")
"""The course "Python for Data Analysis"."""
COURSE_TITLE = "Python for Data Analysis"

GETTING_STARTED_SECTION_ID = UUID("5ce42972-f7cd-4386-bcd3-efba6673ea19")
PANDAS_SECTION_ID = UUID("e1d0a558-3060-4f3c-b457-d6f71f8d0dac")
WHY_PYTHON_LESSON_ID = UUID("5d355c0e-03c1-4845-98e0-dc89eb7e7918")
JUPYTER_LESSON_ID = UUID("08a31c1e-db88-4d57-8cac-36308b94cd96")
DATAFRAMES_LESSON_ID = UUID("e5dc8f01-1c4a-42be-9f4b-0379e780f906")
"""The video lesson "Series and DataFrames" Ada watches and asks the assistant about."""
CSV_LESSON_ID = UUID("40db9c5b-384f-44bb-8b40-fe02d89ca0a2")
QUIZ_LESSON_ID = UUID("059c01bd-7f2f-4755-9e68-9e38eb767115")
QUIZ_ID = UUID("6e14154c-26e1-47cf-88f4-b108c4de990f")
"""The quiz "Check your pandas basics"."""
QUESTION_IDS = (
    UUID("52bd7874-6c91-4ecf-aaf2-50c2bf233553"),
    UUID("5bae9f30-5614-47b6-9cd1-326be2ad934a"),
    UUID("cb4c17c1-0edc-4bef-9fca-c72aeea18052"),
    UUID("c05fa18d-ba06-49d5-9765-e1da3cde8f78"),
)

CANCELLED_ENROLLMENT_ID = UUID("cbc5c5b0-4017-423b-b5f6-eaf95fc4f270")
"""Ada's first enrollment, which she cancelled two days later."""
ENROLLMENT_ID = UUID("7bb9ffd2-a8dc-4b99-a97b-063428c3bfb0")
"""Ada's enrollment that she completed."""
VIEW_ID = UUID("fec6b43f-8ccc-4c6a-a714-361dcb217347")
NOTE_ID = UUID("0ed7eb2b-acee-4b34-932e-6dbe0eb81f59")

CHAT_SESSION_ID = UUID("6485b913-104d-441e-b98c-c174f2c83f6f")
"""Ada's conversation with the assistant about ``loc`` and ``iloc``."""
QUESTION_MESSAGE_ID = UUID("1f972afe-44b2-4027-9cdf-56e7f1fe0fc9")
REPLY_MESSAGE_ID = UUID("6b9338a8-2d7c-44b2-b6cc-d0c45c7c2461")

FAILED_EXPORT_ID = UUID("4702b19a-255e-48e8-ba93-71431fe0e24e")
EXPORT_ID = UUID("d95af77e-5379-47ec-b55f-e355abe65b91")
"""Ada's progress report, exported as PDF after a first attempt failed."""
ERASURE_REQUEST_ID = UUID("676076bf-b84b-42a9-ad77-bb30b39b4688")
"""Ada's request to be forgotten; the four ``Learner*Erased`` events confirm it."""

_DATAFRAMES_TRANSCRIPT = (
    "# Series and DataFrames\n"
    "\n"
    "A **Series** is a one-dimensional array with an index; a **DataFrame** is a table "
    "of Series that share one index.\n"
    "\n"
    "```python\n"
    "import pandas as pd\n"
    "\n"
    'sales = pd.DataFrame({"city": ["Berlin", "Hamburg"], "revenue": [1200, 950]})\n'
    "```\n"
    "\n"
    "Select rows and columns by label with `df.loc[rows, columns]` and by integer "
    "position with `df.iloc[rows, columns]`."
)


def _utc(iso: str) -> datetime:
    """A fixed instant, written as ISO 8601 in UTC with milliseconds."""
    value = datetime.fromisoformat(iso)
    if value.utcoffset() != timedelta(0):
        raise ValueError(f"example time {iso!r} is not in UTC")
    return value


def example_events() -> dict[str, DomainEvent]:
    """One valid instance of every event type, keyed by ``ce_type``, in story order.

    Every call builds the same events (fixed ids and times); they are frozen, so callers
    derive variants with ``model_copy(update=...)``.
    """
    # Catalog: the instructor creates the course, outlines it, writes a lesson, publishes.
    course_created = CourseCreated(
        event_id=UUID("0ea49fcd-0c6e-440c-b79b-1a8bfc632c3f"),
        occurred_at=_utc("2026-10-01T07:30:12.418Z"),
        actor_id=INSTRUCTOR_ID,
        course_id=COURSE_ID,
        instructor_id=INSTRUCTOR_ID,
        title=COURSE_TITLE,
        category="data-science",
        difficulty="beginner",
    )
    course_structure_changed = CourseStructureChanged(
        event_id=UUID("237c3f5c-2376-452a-bd63-f69eee3ff378"),
        occurred_at=_utc("2026-10-05T13:02:47.091Z"),
        actor_id=INSTRUCTOR_ID,
        course_id=COURSE_ID,
        sections=[
            SectionOutline(
                section_id=GETTING_STARTED_SECTION_ID,
                title="Getting started",
                order=0,
                lessons=[
                    LessonOutline(
                        lesson_id=WHY_PYTHON_LESSON_ID,
                        title="Why Python for data analysis?",
                        order=0,
                        content_type="video",
                        duration_seconds=420,
                    ),
                    LessonOutline(
                        lesson_id=JUPYTER_LESSON_ID,
                        title="Setting up Jupyter",
                        order=1,
                        content_type="article",
                        duration_seconds=600,
                    ),
                ],
            ),
            SectionOutline(
                section_id=PANDAS_SECTION_ID,
                title="Working with pandas",
                order=1,
                lessons=[
                    LessonOutline(
                        lesson_id=DATAFRAMES_LESSON_ID,
                        title="Series and DataFrames",
                        order=0,
                        content_type="video",
                        duration_seconds=754,
                    ),
                    LessonOutline(
                        lesson_id=CSV_LESSON_ID,
                        title="Loading CSV files",
                        order=1,
                        content_type="article",
                        duration_seconds=540,
                    ),
                    LessonOutline(
                        lesson_id=QUIZ_LESSON_ID,
                        title="Check your pandas basics",
                        order=2,
                        content_type="quiz",
                        duration_seconds=300,
                    ),
                ],
            ),
        ],
        quizzes=[
            QuizOutline(
                quiz_id=QUIZ_ID,
                lesson_id=QUIZ_LESSON_ID,
                question_ids=list(QUESTION_IDS),
                question_count=len(QUESTION_IDS),
                passing_score=70,
            )
        ],
    )
    lesson_content_changed = LessonContentChanged(
        event_id=UUID("6d1fc733-bacf-4e7c-907d-1a25423d7e79"),
        occurred_at=_utc("2026-10-05T13:10:03.552Z"),
        actor_id=INSTRUCTOR_ID,
        course_id=COURSE_ID,
        lesson_id=DATAFRAMES_LESSON_ID,
        title="Series and DataFrames",
        text=_DATAFRAMES_TRANSCRIPT,
    )
    course_published = CoursePublished(
        event_id=UUID("6def488f-2683-4f59-a055-28711015b5ea"),
        occurred_at=_utc("2026-10-12T09:00:00.250Z"),
        actor_id=INSTRUCTOR_ID,
        course_id=COURSE_ID,
        instructor_id=INSTRUCTOR_ID,
        title=COURSE_TITLE,
        category="data-science",
        difficulty="beginner",
    )

    # Identity: Ada signs up from Berlin and completes her profile.
    user_registered = UserRegistered(
        event_id=UUID("2dec402d-9a60-4ea1-a70e-a3cb6e885775"),
        occurred_at=_utc("2026-10-18T17:45:21.734Z"),
        actor_id=ADA_ID,
        user_id=ADA_ID,
        role="student",
        display_name="Ada",
        timezone="Europe/Berlin",
    )
    user_profile_changed = UserProfileChanged(
        event_id=UUID("03403b68-fc5d-46f8-8233-7c44eead9a0c"),
        occurred_at=_utc("2026-10-18T17:52:09.160Z"),
        actor_id=ADA_ID,
        user_id=ADA_ID,
        display_name="Ada Lovelace",
    )

    # Progress: an early enrollment is cancelled; the second one she sees through.
    enrollment_cancelled = EnrollmentCancelled(
        event_id=UUID("d672f21f-b942-4e02-9e91-a344eea7ddd0"),
        occurred_at=_utc("2026-10-20T06:12:40.905Z"),
        actor_id=ADA_ID,
        learner_id=ADA_ID,
        enrollment_id=CANCELLED_ENROLLMENT_ID,
        course_id=COURSE_ID,
    )
    enrollment_created = EnrollmentCreated(
        event_id=UUID("68dc1a39-6868-4045-b9cb-afa2c6426ffc"),
        occurred_at=_utc("2026-11-02T08:00:00.000Z"),
        actor_id=ADA_ID,
        learner_id=ADA_ID,
        enrollment_id=ENROLLMENT_ID,
        course_id=COURSE_ID,
        enrolled_at=_utc("2026-11-02T08:00:00.000Z"),
        instructor_id=INSTRUCTOR_ID,
    )
    lesson_started = LessonStarted(
        event_id=UUID("8f189a76-8680-41a5-a868-6999ad0866f3"),
        occurred_at=_utc("2026-11-06T18:04:10.318Z"),
        actor_id=ADA_ID,
        learner_id=ADA_ID,
        course_id=COURSE_ID,
        lesson_id=DATAFRAMES_LESSON_ID,
        view_id=VIEW_ID,
    )
    video_progressed = VideoProgressed(
        event_id=UUID("63cf37b5-ecbf-452b-9545-6874f2b164ad"),
        occurred_at=_utc("2026-11-06T18:07:10.520Z"),
        actor_id=ADA_ID,
        learner_id=ADA_ID,
        course_id=COURSE_ID,
        lesson_id=DATAFRAMES_LESSON_ID,
        view_id=VIEW_ID,
        position_seconds=180,
        duration_seconds=754,
        watched_ranges=[WatchedRange(from_seconds=120, to_seconds=180)],
        watched_percentage=23.9,
    )
    lesson_time_tracked = LessonTimeTracked(
        event_id=UUID("954b6a2c-ee05-4c02-8951-be99c28cdf69"),
        occurred_at=_utc("2026-11-06T18:07:11.002Z"),
        actor_id=ADA_ID,
        learner_id=ADA_ID,
        course_id=COURSE_ID,
        lesson_id=DATAFRAMES_LESSON_ID,
        view_id=VIEW_ID,
        seconds=30,
    )
    lesson_completed = LessonCompleted(
        event_id=UUID("02ae30f2-e69d-423f-8ed9-213619ed2d63"),
        occurred_at=_utc("2026-11-06T18:19:55.447Z"),
        actor_id=ADA_ID,
        learner_id=ADA_ID,
        course_id=COURSE_ID,
        lesson_id=DATAFRAMES_LESSON_ID,
        total_seconds_spent=812,
        completion_percentage=60.0,  # her third of five lessons
    )
    course_milestone_reached = CourseMilestoneReached(
        event_id=UUID("fde5f8c4-1518-4e96-8604-dad5bc8a8092"),
        occurred_at=_utc("2026-11-06T18:19:55.612Z"),
        learner_id=ADA_ID,
        course_id=COURSE_ID,
        milestone=50,
        completion_percentage=60.0,
    )

    # Achievements: the completed lesson earns XP, which takes her to level 2.
    xp_awarded = XpAwarded(
        event_id=UUID("c16a2cbc-0228-4dcc-beca-ac1f2d1c38da"),
        occurred_at=_utc("2026-11-06T18:19:56.031Z"),
        learner_id=ADA_ID,
        amount=50,
        reason="lesson_completed",
        caused_by_event_id=lesson_completed.event_id,
        course_id=COURSE_ID,
        total_xp=300,
    )
    level_reached = LevelReached(
        event_id=UUID("7c5f02cd-4aa9-40ab-9b35-254e064760db"),
        occurred_at=_utc("2026-11-06T18:19:56.047Z"),
        learner_id=ADA_ID,
        level=2,
        total_xp=300,
    )

    # Chat: from the lesson, Ada asks the assistant about loc and iloc.
    chat_session_started = ChatSessionStarted(
        event_id=UUID("beb52cb0-5abf-4785-a251-8371ffff6935"),
        occurred_at=_utc("2026-11-06T18:25:03.870Z"),
        actor_id=ADA_ID,
        learner_id=ADA_ID,
        session_id=CHAT_SESSION_ID,
        course_id=COURSE_ID,
        lesson_id=DATAFRAMES_LESSON_ID,
    )
    chat_message_sent = ChatMessageSent(
        event_id=UUID("4751af26-52ef-4e6c-a32f-c5fbc6b4e0a3"),
        occurred_at=_utc("2026-11-06T18:25:41.209Z"),
        actor_id=ADA_ID,
        learner_id=ADA_ID,
        session_id=CHAT_SESSION_ID,
        message_id=QUESTION_MESSAGE_ID,
        course_id=COURSE_ID,
        lesson_id=DATAFRAMES_LESSON_ID,
        text="When do I use df.loc and when df.iloc?",
    )
    assistant_replied = AssistantReplied(
        event_id=UUID("c113366e-b8c6-412a-ad68-485ca25ff8a0"),
        occurred_at=_utc("2026-11-06T18:25:43.571Z"),
        learner_id=ADA_ID,
        session_id=CHAT_SESSION_ID,
        message_id=REPLY_MESSAGE_ID,
        reply_to_message_id=QUESTION_MESSAGE_ID,
        course_id=COURSE_ID,
        text=(
            'Use `df.loc` to select by label, e.g. `sales.loc[0, "city"]`, and `df.iloc` '
            "to select by integer position, e.g. `sales.iloc[0, 0]`. With the default "
            "index both pick the same row, but after filtering or sorting only `iloc` "
            "still counts from the top."
        ),
        model="gpt-4o-mini",
        prompt_tokens=1830,
        completion_tokens=212,
        latency_ms=2362,
        answered=True,
    )
    assistant_reply_rated = AssistantReplyRated(
        event_id=UUID("37164ec1-7d58-45ec-b202-cf0a496e7924"),
        occurred_at=_utc("2026-11-06T18:26:15.004Z"),
        actor_id=ADA_ID,
        learner_id=ADA_ID,
        session_id=CHAT_SESSION_ID,
        message_id=REPLY_MESSAGE_ID,
        course_id=COURSE_ID,
        helpful=True,
    )
    chat_session_renamed = ChatSessionRenamed(
        event_id=UUID("e967b1e7-b6fa-4c08-8121-c97cd75e4b0d"),
        occurred_at=_utc("2026-11-06T18:26:40.733Z"),
        actor_id=ADA_ID,
        learner_id=ADA_ID,
        session_id=CHAT_SESSION_ID,
        title="loc vs iloc",
    )

    # Progress: the instructor takes a note, Ada passes the quiz and finishes the course.
    instructor_note_added = InstructorNoteAdded(
        event_id=UUID("b377e1af-0348-49b8-9bd4-f03b7d3151fe"),
        occurred_at=_utc("2026-11-09T10:31:27.880Z"),
        actor_id=INSTRUCTOR_ID,
        learner_id=ADA_ID,
        note_id=NOTE_ID,
        instructor_id=INSTRUCTOR_ID,
        course_id=COURSE_ID,
    )
    quiz_submitted = QuizSubmitted(
        event_id=UUID("281b3a06-160b-46be-80bc-d1b15326aeb5"),
        occurred_at=_utc("2026-11-12T19:40:18.266Z"),
        actor_id=ADA_ID,
        learner_id=ADA_ID,
        course_id=COURSE_ID,
        lesson_id=QUIZ_LESSON_ID,
        quiz_id=QUIZ_ID,
        attempt_number=1,
        score_percentage=75.0,
        passed=True,
        question_results=[
            QuestionResult(question_id=QUESTION_IDS[0], correct=True),
            QuestionResult(question_id=QUESTION_IDS[1], correct=True),
            QuestionResult(question_id=QUESTION_IDS[2], correct=False),
            QuestionResult(question_id=QUESTION_IDS[3], correct=True),
        ],
    )
    streak_extended = StreakExtended(
        event_id=UUID("24fa5011-a535-458c-92c3-c833eb7a6cd6"),
        occurred_at=_utc("2026-11-14T19:01:07.330Z"),  # 20:01 in Berlin
        learner_id=ADA_ID,
        current_streak_days=5,
        longest_streak_days=5,
        local_date=date(2026, 11, 14),
    )
    course_completed = CourseCompleted(
        event_id=UUID("92bb0916-3920-459d-85cd-2a45fc939fad"),
        occurred_at=_utc("2026-11-14T20:12:33.905Z"),
        learner_id=ADA_ID,
        course_id=COURSE_ID,
        enrollment_id=ENROLLMENT_ID,
        days_to_complete=12,
        total_seconds_spent=3318,
    )
    achievement_unlocked = AchievementUnlocked(
        event_id=UUID("ca4ed556-b16a-4ee8-b1cc-321585f49a6f"),
        occurred_at=_utc("2026-11-14T20:12:34.220Z"),
        learner_id=ADA_ID,
        achievement_id="first_course",
        title="First Course Completed",
        rarity="common",
        course_id=COURSE_ID,
    )
    streak_broken = StreakBroken(
        event_id=UUID("172610fe-e241-405a-986b-2d73d308da26"),
        occurred_at=_utc("2026-11-15T23:00:04.517Z"),  # just after midnight in Berlin
        learner_id=ADA_ID,
        previous_streak_days=5,
        local_date=date(2026, 11, 15),
    )

    # Exports: a first attempt at her progress report fails, the second succeeds.
    export_failed = ExportFailed(
        event_id=UUID("840a5065-7b3a-4583-aad5-d5d6993558a9"),
        occurred_at=_utc("2026-11-16T18:00:09.384Z"),
        requester_id=ADA_ID,
        export_id=FAILED_EXPORT_ID,
        reason="The report could not be rendered in time. Please try again.",
    )
    export_requested = ExportRequested(
        event_id=UUID("60bba8a9-2c21-4544-8d28-29b16c5781e1"),
        occurred_at=_utc("2026-11-16T18:05:30.019Z"),
        actor_id=ADA_ID,
        requester_id=ADA_ID,
        export_id=EXPORT_ID,
        export_type="progress",
        format="pdf",
        course_id=COURSE_ID,
    )
    export_completed = ExportCompleted(
        event_id=UUID("dafb920f-83c2-4935-9989-bfbfae471e81"),
        occurred_at=_utc("2026-11-16T18:05:36.742Z"),
        requester_id=ADA_ID,
        export_id=EXPORT_ID,
        size_bytes=48_213,
        row_count=5,
        expires_at=_utc("2026-11-23T18:05:36.742Z"),
    )
    certificate_issued = CertificateIssued(
        event_id=UUID("0b8f3f4e-6a8e-4f59-9f0e-4a1c2d3e4f50"),
        occurred_at=_utc("2026-11-14T20:12:34.210Z"),
        requester_id=ADA_ID,
        certificate_id=UUID("3c9a1f7e-2b6d-4e8a-9c0f-1d2e3f4a5b6c"),
        verification_id="LS-7KQ2-M9XD-4TZA",
        course_id=COURSE_ID,
        completed_at=_utc("2026-11-14T20:12:33.905Z"),
    )
    weekly_digest_published = WeeklyDigestPublished(
        event_id=UUID("e2d4c6b8-1a3f-4c5e-8d7b-9f0a1b2c3d4e"),
        occurred_at=_utc("2026-11-16T07:00:04.118Z"),
        requester_id=INSTRUCTOR_ID,
        digest_id=UUID("5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"),
        week="2026-W46",
        courses=1,
        active_students=1,
        new_students=1,
        at_risk_students=0,
        questions=1,
        delivered_via="outbox",
    )
    chat_session_deleted = ChatSessionDeleted(
        event_id=UUID("7ea305d2-57f6-4be1-9ead-14b395ea196e"),
        occurred_at=_utc("2026-11-20T08:14:52.613Z"),
        actor_id=ADA_ID,
        learner_id=ADA_ID,
        session_id=CHAT_SESSION_ID,
    )

    # Months later the course is archived, and Ada asks to be forgotten.
    course_archived = CourseArchived(
        event_id=UUID("382e5416-46b6-42de-ae69-dbf4b29186aa"),
        occurred_at=_utc("2027-06-30T16:00:00.000Z"),
        actor_id=INSTRUCTOR_ID,
        course_id=COURSE_ID,
        instructor_id=INSTRUCTOR_ID,
        title=COURSE_TITLE,
        category="data-science",
        difficulty="beginner",
    )
    course_details_changed = CourseDetailsChanged(
        event_id=UUID("c5b0e7a2-4f3d-4d8e-9a61-2b7f0c9e8d14"),
        occurred_at=_utc("2027-03-02T10:20:00.000Z"),
        actor_id=INSTRUCTOR_ID,
        course_id=COURSE_ID,
        instructor_id=INSTRUCTOR_ID,
        title=COURSE_TITLE,
        category="data-science",
        difficulty="intermediate",
    )
    learner_erasure_requested = LearnerErasureRequested(
        event_id=UUID("37f7818a-a202-4fe8-9306-66d3bf2bcc68"),
        occurred_at=_utc("2027-09-01T07:45:10.356Z"),
        actor_id=ADA_ID,
        user_id=ADA_ID,
        request_id=ERASURE_REQUEST_ID,
    )
    learner_progress_erased = LearnerProgressErased(
        event_id=UUID("b7c885d7-c00f-40da-b4eb-a26d9bee5193"),
        occurred_at=_utc("2027-09-01T07:45:11.208Z"),
        learner_id=ADA_ID,
        request_id=ERASURE_REQUEST_ID,
    )
    learner_chat_erased = LearnerChatErased(
        event_id=UUID("d04ef5a8-8f65-48b5-a741-1e345fe8a055"),
        occurred_at=_utc("2027-09-01T07:45:11.477Z"),
        learner_id=ADA_ID,
        request_id=ERASURE_REQUEST_ID,
    )
    learner_achievements_erased = LearnerAchievementsErased(
        event_id=UUID("99952c57-cf6b-4635-b8f7-4d25982fc4d7"),
        occurred_at=_utc("2027-09-01T07:45:11.690Z"),
        learner_id=ADA_ID,
        request_id=ERASURE_REQUEST_ID,
    )
    learner_exports_erased = LearnerExportsErased(
        event_id=UUID("b5901163-ffe3-47ea-993d-b13985548e26"),
        occurred_at=_utc("2027-09-01T07:45:12.035Z"),
        requester_id=ADA_ID,
        request_id=ERASURE_REQUEST_ID,
    )

    story: list[DomainEvent] = [
        course_created,
        course_structure_changed,
        lesson_content_changed,
        course_published,
        user_registered,
        user_profile_changed,
        enrollment_cancelled,
        enrollment_created,
        lesson_started,
        video_progressed,
        lesson_time_tracked,
        lesson_completed,
        course_milestone_reached,
        xp_awarded,
        level_reached,
        chat_session_started,
        chat_message_sent,
        assistant_replied,
        assistant_reply_rated,
        chat_session_renamed,
        instructor_note_added,
        quiz_submitted,
        streak_extended,
        course_completed,
        achievement_unlocked,
        streak_broken,
        export_failed,
        export_requested,
        export_completed,
        certificate_issued,
        weekly_digest_published,
        chat_session_deleted,
        course_details_changed,
        course_archived,
        learner_erasure_requested,
        learner_progress_erased,
        learner_chat_erased,
        learner_achievements_erased,
        learner_exports_erased,
    ]
    return {event.ce_type(): event for event in story}


def example_of(model: type[E]) -> E:
    """The example of one event type, typed as that type (``example_of(LessonCompleted)``)."""
    event = example_events()[model.ce_type()]
    if not isinstance(event, model):
        raise TypeError(f"the example of {model.ce_type()} is a {type(event).__name__}")
    return event
