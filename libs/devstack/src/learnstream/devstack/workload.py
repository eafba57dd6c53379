"""A seeded generator of realistic Learnstream activity, as the domain events the services publish.

The analytics differential tests publish what it produces, let the service project it,
and compare every answer with an independent computation over the same events; load
tests can stream it at scale. It simulates learners the way the progress service records
them (see ``learnstream.progress.domain.enrollment``): a lesson starts on its first view,
time arrives as per-view deltas, a video reports only the stretches not watched before
and completes at 95 % coverage, a quiz lesson completes when its quiz is passed, the
completion percentage is taken over the outline in effect, milestones are recorded on
crossing 25/50/75 % and the course completes with whole days since enrollment. The
progress service's code is not reused: a library must not depend on a service, and an
independent simulation catches more than a replay of the same rules would.

Everything random comes from ``random.Random(seed)``, ids included, so a seed always
gives the same events. Learners follow personas (finishers, drop-outs, learners who went
quiet, got stuck, keep failing a quiz or keep asking about one lesson…); the first ones
are scripted so that every at-risk reason and every engagement tier occurs, and the first
course is long and video-heavy so that its instructor has ten videos to watch.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from uuid import UUID
from zoneinfo import ZoneInfo

from learnstream.events import DomainEvent
from learnstream.events.achievements import LearnerAchievementsErased, XpAwarded
from learnstream.events.catalog import (
    ContentType,
    CourseArchived,
    CourseCreated,
    CourseDetailsChanged,
    CoursePublished,
    CourseStructureChanged,
    Difficulty,
    LessonOutline,
    QuizOutline,
    SectionOutline,
)
from learnstream.events.chat import (
    AssistantReplied,
    AssistantReplyRated,
    ChatMessageSent,
    ChatSessionDeleted,
    ChatSessionStarted,
    LearnerChatErased,
)
from learnstream.events.identity import LearnerErasureRequested, UserProfileChanged, UserRegistered
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
    Milestone,
    QuestionResult,
    QuizSubmitted,
    VideoProgressed,
    WatchedRange,
)

DEFAULT_NOW = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)
"""The default end of a workload; eight weeks before it span the 2026 daylight-saving changes."""

TIME_ZONES = (
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/Los_Angeles",
)
MILESTONES: tuple[Milestone, ...] = (25, 50, 75)
CONTENT_TYPES: tuple[ContentType, ...] = ("video", "article", "quiz")
VIDEO_COMPLETION_SHARE = 0.95
XP_RULES = {"lesson_completed": 10, "quiz_passed": 25, "course_completed": 100}

Range = tuple[int, int]

FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
    "Hedy", "Tim", "Radia", "Guido", "Katherine", "John", "Sophie", "Chloé", "Jürgen", "Yuki",
    "Mateo", "Amara", "Priya", "Olu", "Léa", "Noah", "Mia", "Hiro", "Zoë", "Ines",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
    "Allen", "Dijkstra", "Lamarr", "Berners-Lee", "Perlman", "van Rossum", "Johnson", "Backus",
    "Müller", "Dubois", "Tanaka", "García", "Okafor", "Sharma", "Adeyemi", "Nguyen", "Kowalski",
)  # fmt: skip


@dataclass(frozen=True)
class _Theme:
    title: str
    category: str
    difficulty: Difficulty
    topics: tuple[str, ...]


THEMES = (
    _Theme(
        "Python Foundations",
        "programming",
        "beginner",
        ("variable", "loop", "function", "list", "string", "dictionary", "recursion", "exception"),
    ),
    _Theme(
        "Data Analysis with Pandas",
        "data-science",
        "intermediate",
        ("pandas", "dataframe", "series", "groupby", "index", "merge", "csv", "plot"),
    ),
    _Theme(
        "Algorithms in Practice",
        "programming",
        "advanced",
        ("recursion", "sorting", "graph", "complexity", "loop", "function", "heap", "hashing"),
    ),
    _Theme(
        "Web Scraping Basics",
        "programming",
        "beginner",
        ("request", "html", "selector", "loop", "function", "string", "pandas", "dataframe"),
    ),
    _Theme(
        "Machine Learning Primer",
        "data-science",
        "intermediate",
        ("model", "feature", "dataframe", "pandas", "regression", "variable", "function", "training"),
    ),
)

QUESTION_TEMPLATES = (
    "How do I write a {a} in Python?",
    "Why does my {a} return None?",
    "What is the difference between a {a} and a {b}?",
    "Can you explain the {a} again, with another example?",
    "I don't get the {a} part of this lesson... can you help?",
    "When should I use a {a} instead of a {b}?",
    "My {a} throws an error -- what am I doing wrong?!",
    "Is a {a} faster than a {b} for big data sets?",
    "Wie funktioniert ein {a} für große Daten?",
    "Explain {a} like I'm sitting in a café, please.",
    "{a}? {b}?? I'm lost, where do I start",
    "Does the {a} change the original {b} or return a copy?",
)
FREQUENT_QUESTIONS = (
    "How do I install pandas?",
    "What is a variable?",
    "Why does my loop never end?",
)
CANNED_REPLY = "Here is how that works, step by step, with the lesson's example."
MODEL = "gpt-4o-mini"


# --- what a workload describes -----------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """An instructor of the workload, with their latest time zone and, if they moved, the first."""

    user_id: UUID
    display_name: str
    timezone: str
    moved_from: str | None = None


@dataclass(frozen=True)
class Quiz:
    """A quiz of a lesson, with how likely each question is answered correctly."""

    quiz_id: UUID
    lesson_id: UUID
    question_ids: tuple[UUID, ...]
    passing_score: int
    easiness: tuple[float, ...]


@dataclass(frozen=True)
class Lesson:
    """A lesson of a course outline."""

    lesson_id: UUID
    title: str
    content_type: ContentType
    duration_seconds: int
    quiz: Quiz | None = None


@dataclass(frozen=True)
class Section:
    """A section of a course outline with its lessons in order."""

    section_id: UUID
    title: str
    lessons: tuple[Lesson, ...]


@dataclass(frozen=True)
class Outline:
    """A course's outline from ``effective_at`` on."""

    effective_at: datetime
    sections: tuple[Section, ...]

    @cached_property
    def lessons(self) -> tuple[Lesson, ...]:
        return tuple(lesson for section in self.sections for lesson in section.lessons)


@dataclass(frozen=True)
class Course:
    """A course of the workload: owner, titles, every outline it had, and whether it was archived."""

    course_id: UUID
    title: str
    category: str
    difficulty: Difficulty
    instructor_id: UUID
    topics: tuple[str, ...]
    created_at: datetime
    outlines: tuple[Outline, ...]
    renamed_to: str | None = None
    archived_at: datetime | None = None

    @property
    def outline(self) -> Outline:
        """The final outline."""
        return self.outlines[-1]

    def outline_at(self, at: datetime) -> Outline:
        """The outline in effect at ``at``."""
        return [o for o in self.outlines if o.effective_at <= at][-1]


@dataclass(frozen=True)
class Learner:
    """A learner: who they are, where they live, and how they behave in each course they joined."""

    user_id: UUID
    display_name: str | None
    timezone: str
    registered: bool
    enrollments: tuple[tuple[UUID, str], ...]
    """(course id, persona) per course joined; personas are described in ``PERSONAS``."""


@dataclass(frozen=True)
class Workload:
    """A generated history: its events (time-ordered) and what they are about."""

    events: list[DomainEvent]
    now: datetime
    instructors: tuple[Person, ...]
    courses: tuple[Course, ...]
    learners: tuple[Learner, ...]
    erased_learner_id: UUID | None


PERSONAS = {
    "devoted": "completes the course quickly and keeps revisiting it; active recently",
    "finisher": "completes the course at an ordinary pace",
    "fast": "completes the course within a few days",
    "steady": "works through the course, not finished by now",
    "dropper": "completes a few lessons, then leaves for good (the drop-off curve)",
    "newcomer": "enrolled within the last week, a first lesson or two",
    "inactive_recent": "went quiet 8 to 13 days ago",
    "inactive_long": "went quiet more than 15 days ago",
    "stuck": "active recently, but no lesson completed for more than 14 days",
    "stuck_low": "like stuck, after one video; watched fewer than three videos",
    "struggler": "failed a quiz three or more times and gave up on it",
    "recoverer": "failed a quiz three times, then passed it",
    "chatty": "asked five or more questions about one lesson in the last two weeks",
    "browser": "enrolled and never opened a lesson",
    "canceller": "left the course after a few lessons",
    "returner": "left the course, came back later and carried on",
}


# --- the public API --------------------------------------------------------------------------------


def generate(
    seed: int = 7,
    *,
    learners: int = 150,
    courses: int = 5,
    instructors: int = 3,
    weeks: int = 8,
    now: datetime | None = None,
) -> Workload:
    """A workload of ``learners`` learners over ``weeks`` weeks before ``now``, the same for a seed."""
    world = _World(seed, learners=learners, courses=courses, instructors=instructors, weeks=weeks, now=now)
    events = sorted(world.events(), key=lambda event: event.occurred_at)
    return Workload(
        events=events,
        now=world.now,
        instructors=world.instructors,
        courses=world.courses,
        learners=world.learners,
        erased_learner_id=world.erased_learner_id,
    )


def iter_events(
    seed: int = 7,
    *,
    learners: int = 150,
    courses: int = 5,
    instructors: int = 3,
    weeks: int = 8,
    now: datetime | None = None,
) -> Iterator[DomainEvent]:
    """The events of :func:`generate`, streamed: people and catalog first, then learner by learner.

    Memory stays bounded by one learner, so it scales to any number of learners; each
    learner's events come in time order, the whole stream does not.
    """
    return stream(
        seed, learners=learners, courses=courses, instructors=instructors, weeks=weeks, now=now
    ).events


@dataclass(frozen=True)
class Stream:
    """A workload too large to hold: its people and courses, and its events as they are made
    (in the order of :func:`iter_events`)."""

    now: datetime
    instructors: tuple[Person, ...]
    courses: tuple[Course, ...]
    events: Iterator[DomainEvent]


def stream(
    seed: int = 7,
    *,
    learners: int = 150,
    courses: int = 5,
    instructors: int = 3,
    weeks: int = 8,
    now: datetime | None = None,
) -> Stream:
    """The workload of :func:`generate` with its events streamed (the benchmark's millions)."""
    world = _World(seed, learners=learners, courses=courses, instructors=instructors, weeks=weeks, now=now)
    return Stream(world.now, world.instructors, world.courses, world.events())


# --- the world: people and catalog ----------------------------------------------------------------


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def _full_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


class _World:
    """The people and courses drawn from the seed, and the learners' simulations."""

    def __init__(
        self, seed: int, *, learners: int, courses: int, instructors: int, weeks: int, now: datetime | None
    ) -> None:
        if learners < 0 or courses < 1 or instructors < 1 or weeks < 1:
            raise ValueError("a workload needs a course, an instructor, a week and no negative learners")
        # a reproducible simulation, not secrets
        self.rng = random.Random(seed)  # noqa: S311
        self.now = _ms((now or DEFAULT_NOW).astimezone(UTC))
        self.start = self.now - timedelta(weeks=weeks)
        self.erased_learner_id: UUID | None = None
        self._deleted_chat = False
        rng = self.rng
        people = [Person(_uuid(rng), _full_name(rng), rng.choice(TIME_ZONES)) for _ in range(instructors)]
        if len(people) > 1:
            # one instructor moves mid-way; course buckets follow the latest zone
            moved_to = next(zone for zone in TIME_ZONES[1:] if zone != people[1].timezone)
            people[1] = replace(people[1], timezone=moved_to, moved_from=people[1].timezone)
        self.instructors = tuple(people)
        self.courses = tuple(self._draw_course(index) for index in range(courses))
        self.learners: tuple[Learner, ...] = tuple(self._draw_learner(index) for index in range(learners))
        self._learner_seeds = [rng.getrandbits(64) for _ in range(learners)]

    def events(self) -> Iterator[DomainEvent]:
        yield from self._instructor_events()
        for course in self.courses:
            yield from self._catalog_events(course)
        for index, learner in enumerate(self.learners):
            yield from self._learner_events(index, learner)

    # people

    def _instructor_events(self) -> Iterator[DomainEvent]:
        rng = self.rng
        registered_at = self.start - timedelta(days=40)
        for index, person in enumerate(self.instructors):
            yield UserRegistered(
                event_id=_uuid(rng),
                occurred_at=registered_at + timedelta(hours=index),
                actor_id=person.user_id,
                user_id=person.user_id,
                role="instructor",
                display_name=person.display_name,
                timezone=person.moved_from or person.timezone,
            )
            if person.moved_from:
                yield UserProfileChanged(
                    event_id=_uuid(rng),
                    occurred_at=self.now - timedelta(days=20, hours=3),
                    actor_id=person.user_id,
                    user_id=person.user_id,
                    timezone=person.timezone,
                )

    def _draw_course(self, index: int) -> Course:
        rng = self.rng
        theme = THEMES[index % len(THEMES)]
        title = theme.title if index < len(THEMES) else f"{theme.title} {index // len(THEMES) + 1}"
        created_at = _ms(self.start - timedelta(days=20) + timedelta(hours=index * 5 + rng.random()))
        sections = []
        section_count = 3 if index == 0 else rng.randint(2, 3)
        for s in range(section_count):
            lesson_count = 4 if index == 0 else rng.randint(2, 4)
            lessons = []
            for position in range(lesson_count):
                last_of_course = s == section_count - 1 and position == lesson_count - 1
                kind: ContentType
                if index == 0:
                    kind = "video" if position < 3 else "article" if s == 1 else "quiz"
                elif position == 0:
                    kind = "video"
                elif last_of_course:
                    kind = "quiz"
                else:
                    kind = rng.choices(CONTENT_TYPES, weights=(5, 2, 2))[0]
                lessons.append(self._draw_lesson(theme, f"{s + 1}.{position + 1}", kind))
            topic = theme.topics[s % len(theme.topics)]
            sections.append(Section(_uuid(rng), f"Part {s + 1}: {topic.capitalize()}", tuple(lessons)))
        outlines = [Outline(created_at + timedelta(hours=1), tuple(sections))]
        if index == 1:
            # a lesson is inserted mid-way through the weeks; later completions count over it
            outlines.append(self._with_added_lesson(theme, outlines[0]))
        return Course(
            course_id=_uuid(rng),
            title=title,
            category=theme.category,
            difficulty=theme.difficulty,
            instructor_id=self.instructors[index % len(self.instructors)].user_id,
            topics=theme.topics,
            created_at=created_at,
            outlines=tuple(outlines),
            renamed_to=f"{title}: The Complete Guide" if index == 2 else None,
            archived_at=_ms(self.now - timedelta(minutes=90)) if index == 4 else None,
        )

    def _draw_lesson(self, theme: _Theme, number: str, kind: ContentType) -> Lesson:
        rng = self.rng
        topic = rng.choice(theme.topics)
        lesson_id = _uuid(rng)
        if kind == "video":
            return Lesson(lesson_id, f"{number} {topic.capitalize()}, explained", kind, rng.randint(60, 900))
        if kind == "article":
            return Lesson(lesson_id, f"{number} Notes on {topic}", kind, rng.randint(120, 900))
        questions = rng.randint(3, 5)
        quiz = Quiz(
            quiz_id=_uuid(rng),
            lesson_id=lesson_id,
            question_ids=tuple(_uuid(rng) for _ in range(questions)),
            passing_score=rng.randint(60, 80),
            easiness=tuple(rng.uniform(0.3, 0.95) for _ in range(questions)),
        )
        return Lesson(lesson_id, f"{number} Check: {topic}", kind, rng.randint(60, 300), quiz)

    def _with_added_lesson(self, theme: _Theme, outline: Outline) -> Outline:
        rng = self.rng
        target = rng.randrange(len(outline.sections))
        section = outline.sections[target]
        at = rng.randint(1, len(section.lessons))
        added = self._draw_lesson(theme, f"{target + 1}.{at}b", "video")
        lessons = (*section.lessons[:at], added, *section.lessons[at:])
        sections = list(outline.sections)
        sections[target] = replace(section, lessons=lessons)
        middle = self.start + (self.now - self.start) / 2
        return Outline(_ms(middle), tuple(sections))

    def _catalog_events(self, course: Course) -> Iterator[DomainEvent]:
        rng = self.rng

        def summary(
            kind: type[CourseCreated | CoursePublished | CourseDetailsChanged | CourseArchived],
            at: datetime,
            title: str,
        ) -> DomainEvent:
            return kind(
                event_id=_uuid(rng),
                occurred_at=at,
                actor_id=course.instructor_id,
                course_id=course.course_id,
                instructor_id=course.instructor_id,
                title=title,
                category=course.category,
                difficulty=course.difficulty,
            )

        yield summary(CourseCreated, course.created_at, course.title)
        for outline in course.outlines:
            yield _structure_event(_uuid(rng), course, outline)
        yield summary(CoursePublished, course.created_at + timedelta(hours=2), course.title)
        title = course.title
        if course.renamed_to:
            title = course.renamed_to
            yield summary(CourseDetailsChanged, self.now - timedelta(days=10, hours=2), title)
        if course.archived_at:
            yield summary(CourseArchived, course.archived_at, title)

    # learners

    def _draw_learner(self, index: int) -> Learner:
        rng = self.rng
        registered = not (index % 29 == 13 or rng.random() < 0.02)
        name = _full_name(rng) if registered else None
        scripted = self._scripted(index)
        if scripted is not None:
            enrollments = scripted
        else:
            count = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
            weights = [1 / (1 + i * 0.35) for i in range(len(self.courses))]
            chosen: list[Course] = []
            while len(chosen) < min(count, len(self.courses)):
                course = rng.choices(self.courses, weights=weights)[0]
                if course not in chosen:
                    chosen.append(course)
            enrollments = tuple(
                (course.course_id, rng.choices(RANDOM_PERSONAS, weights=RANDOM_WEIGHTS)[0])
                for course in chosen
            )
        return Learner(_uuid(rng), name, rng.choice(TIME_ZONES), registered, enrollments)

    def _scripted(self, index: int) -> tuple[tuple[UUID, str], ...] | None:
        """The enrollments of a scripted learner (see ``SCRIPT``); None for the others."""
        if index >= len(SCRIPT):
            return None
        first_instructor = self.instructors[0].user_id
        joined: dict[UUID, str] = {}  # with few courses two slots can name the same course
        for position, persona in SCRIPT[index]:
            if position is None:
                for course in self.courses:
                    if course.instructor_id == first_instructor:
                        joined.setdefault(course.course_id, persona)
            else:
                joined.setdefault(self.courses[position % len(self.courses)].course_id, persona)
        return tuple(joined.items())

    def _learner_events(self, index: int, learner: Learner) -> list[DomainEvent]:
        sim = _LearnerSim(self, learner, random.Random(self._learner_seeds[index]))  # noqa: S311
        events = sim.run()
        scripted = index < len(SCRIPT)
        active = any(isinstance(e, LessonStarted | ChatMessageSent) for e in events)
        if not scripted and active and self.erased_learner_id is None:
            self.erased_learner_id = learner.user_id
            events += sim.erasure(events)
        elif not scripted and not self._deleted_chat and sim.chat_sessions_with_messages:
            self._deleted_chat = True
            events += sim.delete_chat(events)
        events.sort(key=lambda event: event.occurred_at)
        return events


def _structure_event(event_id: UUID, course: Course, outline: Outline) -> CourseStructureChanged:
    return CourseStructureChanged(
        event_id=event_id,
        occurred_at=outline.effective_at,
        actor_id=course.instructor_id,
        course_id=course.course_id,
        sections=[
            SectionOutline(
                section_id=section.section_id,
                title=section.title,
                order=s,
                lessons=[
                    LessonOutline(
                        lesson_id=lesson.lesson_id,
                        title=lesson.title,
                        order=position,
                        content_type=lesson.content_type,
                        duration_seconds=lesson.duration_seconds,
                    )
                    for position, lesson in enumerate(section.lessons)
                ],
            )
            for s, section in enumerate(outline.sections)
        ],
        quizzes=[
            QuizOutline(
                quiz_id=lesson.quiz.quiz_id,
                lesson_id=lesson.lesson_id,
                question_ids=list(lesson.quiz.question_ids),
                question_count=len(lesson.quiz.question_ids),
                passing_score=lesson.quiz.passing_score,
            )
            for lesson in outline.lessons
            if lesson.quiz is not None
        ],
    )


SCRIPT: tuple[tuple[tuple[int | None, str], ...], ...] = (
    ((None, "devoted"),),  # every course of the first instructor: highly engaged
    ((0, "devoted"),),  # engaged: the first course's nine videos are not ten
    ((0, "newcomer"),),  # moderate
    ((0, "stuck_low"),),  # low engagement; stuck
    ((0, "inactive_recent"),),  # at-risk tier; inactive
    ((0, "inactive_long"),),  # inactive tier; inactive and stuck
    ((0, "struggler"),),  # struggling with a quiz
    ((1, "chatty"),),  # struggling with one lesson's questions
    ((0, "recoverer"),),
    ((2, "returner"),),
    ((1, "browser"),),
    ((3, "fast"), (1, "finisher")),
)
"""The first learners' (course position, persona) pairs, so every at-risk reason and tier occurs."""

RANDOM_PERSONAS = (
    "finisher",
    "fast",
    "steady",
    "dropper",
    "newcomer",
    "inactive_recent",
    "inactive_long",
    "stuck",
    "struggler",
    "recoverer",
    "chatty",
    "browser",
    "canceller",
    "returner",
)
RANDOM_WEIGHTS = (12, 5, 22, 24, 6, 7, 7, 5, 3, 2, 3, 4, 4, 2)


# --- ranges of a video -----------------------------------------------------------------------------


def _union(ranges: list[Range]) -> list[Range]:
    merged: list[Range] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(stretch: Range, covered: list[Range]) -> list[Range]:
    cursor, end = stretch
    result = []
    for c_start, c_end in covered:
        if c_end <= cursor:
            continue
        if c_start >= end:
            break
        if c_start > cursor:
            result.append((cursor, c_start))
        cursor = max(cursor, c_end)
    if cursor < end:
        result.append((cursor, end))
    return result


def _length(ranges: list[Range]) -> int:
    return sum(end - start for start, end in ranges)


def _first_gap(covered: list[Range]) -> int:
    return covered[0][1] if covered and covered[0][0] == 0 else 0


# --- one learner ------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """How a learner behaves in one course."""

    persona: str
    enroll_at: datetime
    active_until: datetime
    goal: int | None = None
    completions_until: datetime | None = None
    gap_days: tuple[float, float] = (0.5, 3.0)
    views: tuple[int, int] = (1, 3)
    tail: bool = False
    quiz_failures: int = 0
    gives_up: bool = False
    hard_quiz: UUID | None = None
    burst: bool = False
    cancel: bool = False
    come_back: bool = False


@dataclass
class _Progress:
    """What the progress service knows of one learner in one course (its aggregate's state)."""

    course: Course
    enrollment_id: UUID
    enrolled_at: datetime | None = None
    completed_at: datetime | None = None
    milestones: set[int] = field(default_factory=set)
    lessons: dict[UUID, _LessonState] = field(default_factory=dict)
    completed: set[UUID] = field(default_factory=set)
    attempts: dict[UUID, int] = field(default_factory=dict)
    gave_up: set[UUID] = field(default_factory=set)

    def lesson(self, lesson_id: UUID) -> _LessonState:
        state = self.lessons.get(lesson_id)
        if state is None:
            state = self.lessons[lesson_id] = _LessonState()
        return state


@dataclass
class _LessonState:
    """The learner's state in one lesson."""

    started: bool = False
    seconds: int = 0
    watched: list[Range] = field(default_factory=list)
    position: int = 0
    reported_duration: int = 0


class _LearnerSim:
    """One learner's identity, enrollments, lesson views, quizzes and questions, as events."""

    def __init__(self, world: _World, learner: Learner, rng: random.Random) -> None:
        self.world = world
        self.learner = learner
        self.rng = rng
        self.now = world.now
        self.zone = ZoneInfo(learner.timezone)
        self.events: list[DomainEvent] = []
        self.rhythm = rng.choices(("evening", "night_owl", "early_bird"), weights=(70, 15, 15))[0]
        self.chattiness = rng.choices((0.0, 0.05, 0.15, 0.3), weights=(3, 4, 3, 1))[0]
        self.chat_sessions_with_messages: list[UUID] = []
        self._chat_session: tuple[UUID, UUID, datetime] | None = None
        self.plan: _Plan | None = None

    def _id(self) -> UUID:
        return _uuid(self.rng)

    def run(self) -> list[DomainEvent]:
        plans = [
            self._plan(next(c for c in self.world.courses if c.course_id == course_id), persona)
            for course_id, persona in self.learner.enrollments
        ]
        first_enrollment = min((plan.enroll_at for _, plan in plans), default=self.now - timedelta(days=1))
        self._identity(first_enrollment)
        for course, plan in plans:
            self._chat_session = None
            self._follow(course, plan)
        self._award_xp()
        return self.events

    # identity

    def _identity(self, first_enrollment: datetime) -> None:
        learner, rng = self.learner, self.rng
        if not learner.registered:
            return
        registered_at = _ms(first_enrollment - timedelta(minutes=rng.uniform(10, 4000)))
        blank = rng.random() < 0.02
        self.events.append(
            UserRegistered(
                event_id=self._id(),
                occurred_at=registered_at,
                actor_id=learner.user_id,
                user_id=learner.user_id,
                role="student",
                display_name="" if blank else learner.display_name or "",
                timezone=learner.timezone,
            )
        )
        changes = rng.random()
        changed_at = _ms(registered_at + (self.now - registered_at) * rng.uniform(0.2, 0.9))
        if changes < 0.05:
            self.events.append(
                UserProfileChanged(
                    event_id=self._id(),
                    occurred_at=changed_at,
                    actor_id=learner.user_id,
                    user_id=learner.user_id,
                    display_name=f"{learner.display_name} {rng.choice(LAST_NAMES)}",
                )
            )
        elif changes < 0.10:
            self.events.append(
                UserProfileChanged(
                    event_id=self._id(),
                    occurred_at=changed_at,
                    actor_id=learner.user_id,
                    user_id=learner.user_id,
                    timezone=rng.choice([zone for zone in TIME_ZONES if zone != learner.timezone]),
                )
            )
        elif changes < 0.12:
            # a cleared name: the latest non-empty one still stands
            self.events.append(
                UserProfileChanged(
                    event_id=self._id(),
                    occurred_at=changed_at,
                    actor_id=learner.user_id,
                    user_id=learner.user_id,
                    display_name="",
                )
            )

    # plans

    def _plan(self, course: Course, persona: str) -> tuple[Course, _Plan]:
        rng, now = self.rng, self.now
        opens = max(self.world.start, course.created_at + timedelta(hours=3))
        lessons = len(course.outline_at(opens).lessons)

        def days_ago(low: float, high: float) -> datetime:
            return now - timedelta(days=rng.uniform(low, high))

        def between(low: datetime, high: datetime) -> datetime:
            low = max(low, opens)
            high = max(high, low + timedelta(hours=1))
            return low + (high - low) * rng.random()

        recently = now - timedelta(hours=rng.uniform(3, 30))
        partial = rng.randint(1, max(1, lessons - 2))
        plan: _Plan
        match persona:
            case "devoted":
                plan = _Plan(persona, between(days_ago(24, 24), days_ago(18, 18)), recently, tail=True)
                plan.gap_days, plan.views = (0.2, 1.2), (3, 5)
            case "finisher":
                plan = _Plan(persona, between(opens, days_ago(12, 12)), now - timedelta(hours=3))
            case "fast":
                plan = _Plan(persona, between(opens, days_ago(4, 4)), now - timedelta(hours=3))
                plan.gap_days, plan.views = (0.0, 0.6), (3, 6)
            case "steady":
                plan = _Plan(persona, between(opens, days_ago(6, 6)), days_ago(0.15, 4), tail=True)
                plan.gap_days = (1.0, 5.0)
            case "dropper":
                goal = 0
                while goal < lessons - 1 and rng.random() > 0.22:
                    goal += 1
                plan = _Plan(persona, between(opens, days_ago(4, 4)), now - timedelta(hours=3), goal=goal)
            case "newcomer":
                plan = _Plan(persona, days_ago(2, 6.5), recently, goal=rng.randint(1, 2), tail=True)
                plan.gap_days = (0.0, 1.5)
            case "inactive_recent" | "inactive_long":
                until = days_ago(8.3, 12.5) if persona == "inactive_recent" else days_ago(15.5, 35)
                until = max(until, opens + timedelta(days=3))
                plan = _Plan(
                    persona, between(opens, until - timedelta(days=3)), until, goal=partial, tail=True
                )
            case "stuck" | "stuck_low":
                last_completion = days_ago(15.5, 22)
                enroll_at = between(days_ago(30, 30), last_completion - timedelta(days=4))
                goal = 1 if persona == "stuck_low" else partial
                plan = _Plan(persona, enroll_at, recently, goal=goal, tail=True)
                plan.completions_until = last_completion
            case "struggler" | "recoverer":
                plan = _Plan(persona, between(opens, days_ago(15, 15)), recently, tail=persona == "struggler")
                plan.quiz_failures, plan.gives_up = rng.randint(3, 4), persona == "struggler"
            case "chatty":
                plan = _Plan(persona, between(opens, days_ago(10, 10)), recently, goal=partial, tail=True)
                plan.burst = True
            case "browser":
                plan = _Plan(persona, between(opens, days_ago(1, 1)), now, goal=0)
            case "canceller" | "returner":
                plan = _Plan(persona, between(opens, days_ago(14, 14)), days_ago(6, 9), goal=partial)
                plan.cancel, plan.come_back = True, persona == "returner"
            case _:
                raise ValueError(f"unknown persona {persona!r}")
        plan.enroll_at = _ms(plan.enroll_at)
        return course, plan

    # following a plan

    def _follow(self, course: Course, plan: _Plan) -> None:
        self.plan = plan
        progress = _Progress(course, self._id())
        self._enroll(progress, plan.enroll_at)
        if plan.goal == 0 and not plan.tail:
            return
        end = self._sessions(progress, plan, plan.enroll_at)
        self._maybe_note(progress, plan.enroll_at, end)
        if plan.cancel and progress.completed_at is None:
            cancelled_at = _ms(end + timedelta(hours=self.rng.uniform(1, 72)))
            cancelled_at = min(cancelled_at, _ms(self.now - timedelta(hours=2)))
            self.events.append(
                EnrollmentCancelled(
                    event_id=self._id(),
                    occurred_at=cancelled_at,
                    actor_id=self.learner.user_id,
                    learner_id=self.learner.user_id,
                    enrollment_id=progress.enrollment_id,
                    course_id=course.course_id,
                )
            )
            if plan.come_back:
                back = _ms(cancelled_at + timedelta(days=self.rng.uniform(1, 3)))
                if back < self.now - timedelta(days=2):
                    self._enroll(progress, back)
                    plan.goal = None
                    plan.active_until = min(self.now - timedelta(hours=3), back + timedelta(days=3))
                    self._sessions(progress, plan, back)

    def _enroll(self, progress: _Progress, at: datetime) -> None:
        self.events.append(
            EnrollmentCreated(
                event_id=self._id(),
                occurred_at=at,
                actor_id=self.learner.user_id,
                learner_id=self.learner.user_id,
                enrollment_id=progress.enrollment_id,
                course_id=progress.course.course_id,
                enrolled_at=at,
            )
        )
        progress.enrolled_at = at

    def _sessions(self, progress: _Progress, plan: _Plan, since: datetime) -> datetime:
        """Study sessions from ``since`` until the plan is done; the end of the last one.

        When the next session would fall after the plan's end, one last session is held
        just before it, so the learner's last activity lands where the persona wants it.
        """
        rng = self.rng
        t = since + timedelta(minutes=rng.uniform(2, 90))
        final = False
        while True:
            end = self._session(progress, plan, t)
            finished = progress.completed_at is not None or self._goal_reached(progress, plan)
            if finished and not plan.tail:
                if plan.persona == "dropper" and rng.random() < 0.5:
                    # a last look at the lesson they did not finish
                    lesson = self._next_lesson(progress, end)
                    if lesson is not None:
                        end = self._view(progress, lesson, end + timedelta(minutes=2), complete=False)
                return end
            if final:
                return end
            t = self._next_session(end, plan)
            if t >= plan.active_until:
                t = plan.active_until - timedelta(hours=rng.uniform(0, 3))
                if t <= end + timedelta(hours=12):
                    return end
                final = True

    @staticmethod
    def _goal_reached(progress: _Progress, plan: _Plan) -> bool:
        return plan.goal is not None and len(progress.completed) >= plan.goal

    def _next_session(self, after: datetime, plan: _Plan) -> datetime:
        rng = self.rng
        gap = round(rng.uniform(*plan.gap_days))
        day = (after + timedelta(days=gap)).astimezone(self.zone).date()
        if self.rhythm == "night_owl":
            hour = rng.choice((22, 23, 0, 0, 1, 1, 2, 3))
        elif self.rhythm == "early_bird":
            hour = rng.choice((6, 7, 7, 8, 9, 12))
        else:
            hour = rng.choices(
                (8, 10, 12, 13, 15, 17, 18, 19, 20, 21, 22), weights=(1, 1, 3, 2, 1, 2, 6, 10, 10, 8, 4)
            )[0]
        local = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=self.zone)
        candidate = local.astimezone(UTC) + timedelta(milliseconds=rng.randrange(1000))
        if candidate <= after + timedelta(minutes=20):
            candidate = after + timedelta(minutes=rng.uniform(30, 240))
        return candidate

    def _session(self, progress: _Progress, plan: _Plan, t: datetime) -> datetime:
        """A few lesson views in a row (and the odd question); the time it ends."""
        rng = self.rng
        # a view lasts at most half an hour, so everything ends two hours before now
        deadline = min(plan.active_until, self.now - timedelta(hours=3)) + timedelta(minutes=30)
        for _ in range(rng.randint(*plan.views)):
            if t >= deadline:
                break
            lesson = self._next_lesson(progress, t)
            may_complete = plan.completions_until is None or t < plan.completions_until
            if lesson is not None and may_complete and not self._goal_reached(progress, plan):
                t = self._view(progress, lesson, t, complete=True)
            elif plan.tail:
                t = self._idle_view(progress, lesson, t)
            else:
                break
            if lesson is not None and rng.random() < self.chattiness:
                t = self._ask(progress, t, lesson.lesson_id if rng.random() < 0.8 else None)
            t += timedelta(seconds=rng.uniform(5, 120))
        if plan.burst and self.now - t < timedelta(days=12):
            plan.burst = False
            lesson = self._next_lesson(progress, t) or progress.course.outline_at(t).lessons[0]
            for _ in range(rng.randint(5, 7)):
                t = self._ask(progress, t, lesson.lesson_id)
        return t

    def _next_lesson(self, progress: _Progress, t: datetime) -> Lesson | None:
        for lesson in progress.course.outline_at(t).lessons:
            if lesson.lesson_id not in progress.completed and lesson.lesson_id not in progress.gave_up:
                return lesson
        return None

    # views of a lesson

    def _view(self, progress: _Progress, lesson: Lesson, t: datetime, *, complete: bool) -> datetime:
        if lesson.content_type == "video":
            return self._watch(progress, lesson, t, complete=complete)
        if lesson.content_type == "article":
            return self._read(progress, lesson, t, complete=complete and self.rng.random() < 0.85)
        return self._take_quiz(progress, lesson, t, submit=complete)

    def _idle_view(self, progress: _Progress, next_lesson: Lesson | None, t: datetime) -> datetime:
        """Activity that completes nothing: part of the next lesson, a rewatch, or a question."""
        rng = self.rng
        lessons = progress.course.outline_at(t).lessons
        done = [lesson for lesson in lessons if lesson.lesson_id in progress.completed]
        given_up = [lesson for lesson in lessons if lesson.lesson_id in progress.gave_up]
        choice = rng.random()
        if given_up and choice < 0.3:
            return self._take_quiz(progress, given_up[0], t, submit=True)
        if next_lesson is not None and choice < 0.6:
            return self._view(progress, next_lesson, t, complete=False)
        videos = [lesson for lesson in done if lesson.content_type == "video"]
        if videos and choice < 0.85:
            return self._watch(progress, rng.choice(videos), t, complete=False)
        target = next_lesson or (done[-1] if done else None)
        return self._ask(progress, t, target.lesson_id if target else None)

    def _report(
        self,
        progress: _Progress,
        lesson: Lesson,
        view_id: UUID,
        at: datetime,
        seconds: int,
        *,
        watched: Range | None = None,
        position: int | None = None,
        completed: bool = False,
    ) -> None:
        """One tracking report, recorded as the progress service records it."""
        learner_id, course_id, lesson_id = self.learner.user_id, progress.course.course_id, lesson.lesson_id
        at = _ms(at)
        state = progress.lesson(lesson_id)
        if not state.started:
            state.started = True
            self.events.append(
                LessonStarted(
                    event_id=self._id(),
                    occurred_at=at,
                    actor_id=learner_id,
                    learner_id=learner_id,
                    course_id=course_id,
                    lesson_id=lesson_id,
                    view_id=view_id,
                )
            )
        if seconds > 0:
            state.seconds += seconds
            self.events.append(
                LessonTimeTracked(
                    event_id=self._id(),
                    occurred_at=at,
                    actor_id=learner_id,
                    learner_id=learner_id,
                    course_id=course_id,
                    lesson_id=lesson_id,
                    view_id=view_id,
                    seconds=seconds,
                )
            )
        complete = completed and lesson.content_type == "article"
        if lesson.content_type == "video" and (watched is not None or position is not None):
            duration = lesson.duration_seconds
            new = _subtract(watched, state.watched) if watched else []
            new_position = state.position if position is None else position
            if new or new_position != state.position or state.reported_duration != duration:
                state.watched = _union(state.watched + new)
                state.position = new_position
                state.reported_duration = duration
                self.events.append(
                    VideoProgressed(
                        event_id=self._id(),
                        occurred_at=at,
                        actor_id=learner_id,
                        learner_id=learner_id,
                        course_id=course_id,
                        lesson_id=lesson_id,
                        view_id=view_id,
                        position_seconds=new_position,
                        duration_seconds=duration,
                        watched_ranges=[WatchedRange(from_seconds=a, to_seconds=b) for a, b in new],
                        watched_percentage=round(min(100.0, _length(state.watched) * 100 / duration), 1),
                    )
                )
        if lesson.content_type == "video":
            complete = _length(state.watched) >= VIDEO_COMPLETION_SHARE * lesson.duration_seconds
        if complete and lesson_id not in progress.completed:
            self._complete(progress, lesson, at)

    def _complete(self, progress: _Progress, lesson: Lesson, at: datetime) -> None:
        learner_id, course = self.learner.user_id, progress.course
        outline = {item.lesson_id for item in course.outline_at(at).lessons}
        after = (len(progress.completed & outline) + 1) * 100 / len(outline)
        common = {"actor_id": learner_id, "learner_id": learner_id, "course_id": course.course_id}
        self.events.append(
            LessonCompleted(
                event_id=self._id(),
                occurred_at=at,
                lesson_id=lesson.lesson_id,
                total_seconds_spent=progress.lesson(lesson.lesson_id).seconds,
                completion_percentage=round(after, 1),
                **common,
            )
        )
        progress.completed.add(lesson.lesson_id)
        for milestone in MILESTONES:
            if after >= milestone and milestone not in progress.milestones:
                progress.milestones.add(milestone)
                self.events.append(
                    CourseMilestoneReached(
                        event_id=self._id(),
                        occurred_at=at,
                        milestone=milestone,
                        completion_percentage=round(after, 1),
                        **common,
                    )
                )
        if outline <= progress.completed and progress.completed_at is None:
            assert progress.enrolled_at is not None
            progress.completed_at = at
            self.events.append(
                CourseCompleted(
                    event_id=self._id(),
                    occurred_at=at,
                    enrollment_id=progress.enrollment_id,
                    days_to_complete=max(0, (at - progress.enrolled_at).days),
                    total_seconds_spent=sum(state.seconds for state in progress.lessons.values()),
                    **common,
                )
            )

    def _watch(self, progress: _Progress, lesson: Lesson, t: datetime, *, complete: bool) -> datetime:
        """A viewing session of a video: play, skip ahead, rewind, stop; a report per stretch."""
        rng = self.rng
        view_id = self._id()
        duration = lesson.duration_seconds
        state = progress.lesson(lesson.lesson_id)
        covered, position = state.watched, state.position
        if position >= duration - 1:
            position = _first_gap(covered) if _length(covered) < VIDEO_COMPLETION_SHARE * duration else 0
        self._report(progress, lesson, view_id, t, 0)
        budget = rng.randint(240, 1500) if complete else rng.randint(60, 400)
        spent = 0
        while spent < budget and position < duration:
            roll = rng.random()
            if roll < 0.07:
                position = min(duration - 1, position + rng.randint(5, 40))
            elif roll < 0.15:
                position = max(0, position - rng.randint(5, 45))
            stop = min(duration, position + rng.randint(30, 200))
            if not complete and lesson.lesson_id not in progress.completed:
                # short of the completion share, whatever was watched before
                limit = int(duration * 0.9)
                stop = min(stop, limit)
                if stop <= position or _length(_union([*covered, (position, stop)])) >= 0.9 * duration:
                    break
            wall = stop - position + rng.randint(0, 8)
            t += timedelta(seconds=wall, milliseconds=rng.randrange(1000))
            self._report(progress, lesson, view_id, t, wall, watched=(position, stop), position=stop)
            covered = state.watched
            spent += wall
            position = stop
        return t

    def _read(self, progress: _Progress, lesson: Lesson, t: datetime, *, complete: bool) -> datetime:
        rng = self.rng
        view_id = self._id()
        self._report(progress, lesson, view_id, t, 0)
        beats = rng.randint(1, 4)
        for beat in range(beats):
            seconds = rng.randint(20, 200)
            t += timedelta(seconds=seconds, milliseconds=rng.randrange(1000))
            self._report(progress, lesson, view_id, t, seconds, completed=complete and beat == beats - 1)
        return t

    def _take_quiz(self, progress: _Progress, lesson: Lesson, t: datetime, *, submit: bool) -> datetime:
        rng = self.rng
        if not submit or rng.random() < 0.8:
            view_id = self._id()
            self._report(progress, lesson, view_id, t, 0)
            seconds = rng.randint(30, 240)
            t += timedelta(seconds=seconds, milliseconds=rng.randrange(1000))
            self._report(progress, lesson, view_id, t, seconds)
        if not submit:
            return t
        for _ in range(rng.randint(1, 2)):
            t += timedelta(seconds=rng.uniform(3, 40))
            if self._submit(progress, lesson, t) or lesson.lesson_id in progress.gave_up:
                break
        return t

    def _submit(self, progress: _Progress, lesson: Lesson, t: datetime) -> bool:
        """Grade an attempt as the service does; True when it passed."""
        rng, plan = self.rng, self.plan
        quiz = lesson.quiz
        assert quiz is not None
        assert plan is not None
        attempt = progress.attempts.get(quiz.quiz_id, 0) + 1
        progress.attempts[quiz.quiz_id] = attempt
        if plan.quiz_failures and plan.hard_quiz is None:
            plan.hard_quiz = quiz.quiz_id  # the persona's failures happen at the first quiz met
        hard = quiz.quiz_id == plan.hard_quiz
        want_pass = not plan.gives_up and attempt > plan.quiz_failures if hard else rng.random() < 0.72
        questions = len(quiz.question_ids)
        pass_mark = next(
            k for k in range(questions + 1) if round(k * 100 / questions, 1) >= quiz.passing_score
        )
        right = rng.randint(pass_mark, questions) if want_pass else rng.randint(0, pass_mark - 1)
        # harder questions are the ones more often wrong: draw the right ones weighted by easiness
        keys = sorted(range(questions), key=lambda q: rng.random() ** (1 / quiz.easiness[q]), reverse=True)
        correct = set(keys[:right])
        score = round(right * 100 / questions, 1)
        passed = score >= quiz.passing_score
        at = _ms(t)
        learner_id = self.learner.user_id
        state = progress.lesson(lesson.lesson_id)
        if not state.started:
            state.started = True
            self.events.append(
                LessonStarted(
                    event_id=self._id(),
                    occurred_at=at,
                    actor_id=learner_id,
                    learner_id=learner_id,
                    course_id=progress.course.course_id,
                    lesson_id=lesson.lesson_id,
                    view_id=self._id(),
                )
            )
        self.events.append(
            QuizSubmitted(
                event_id=self._id(),
                occurred_at=at,
                actor_id=learner_id,
                learner_id=learner_id,
                course_id=progress.course.course_id,
                lesson_id=lesson.lesson_id,
                quiz_id=quiz.quiz_id,
                attempt_number=attempt,
                score_percentage=score,
                passed=passed,
                question_results=[
                    QuestionResult(question_id=question_id, correct=q in correct)
                    for q, question_id in enumerate(quiz.question_ids)
                ],
            )
        )
        if passed and lesson.lesson_id not in progress.completed:
            self._complete(progress, lesson, at)
        if hard and plan.gives_up and attempt >= plan.quiz_failures:
            progress.gave_up.add(lesson.lesson_id)
        return passed

    # the assistant

    def _ask(self, progress: _Progress, t: datetime, lesson_id: UUID | None) -> datetime:
        rng = self.rng
        learner_id, course = self.learner.user_id, progress.course
        common = {"actor_id": learner_id, "learner_id": learner_id, "course_id": course.course_id}
        t += timedelta(seconds=rng.uniform(5, 60))
        if self._chat_session is None or t - self._chat_session[2] > timedelta(hours=2):
            session_id = self._id()
            self.events.append(
                ChatSessionStarted(
                    event_id=self._id(),
                    occurred_at=_ms(t),
                    session_id=session_id,
                    lesson_id=lesson_id,
                    **common,
                )
            )
            t += timedelta(seconds=rng.uniform(2, 30))
        else:
            session_id = self._chat_session[0]
        message_id = self._id()
        self._chat_session = (session_id, message_id, t)
        if session_id not in self.chat_sessions_with_messages:
            self.chat_sessions_with_messages.append(session_id)
        self.events.append(
            ChatMessageSent(
                event_id=self._id(),
                occurred_at=_ms(t),
                session_id=session_id,
                message_id=message_id,
                lesson_id=lesson_id,
                text=self._question(course),
                **common,
            )
        )
        replied_at = t + timedelta(seconds=rng.uniform(1.5, 9))
        reply_id = self._id()
        prompt = rng.randint(800, 2500)
        self.events.append(
            AssistantReplied(
                event_id=self._id(),
                occurred_at=_ms(replied_at),
                actor_id=None,
                learner_id=learner_id,
                course_id=course.course_id,
                session_id=session_id,
                message_id=reply_id,
                reply_to_message_id=message_id,
                text=CANNED_REPLY,
                model=MODEL,
                prompt_tokens=prompt,
                completion_tokens=rng.randint(60, 400),
                latency_ms=int((replied_at - t).total_seconds() * 1000),
                answered=rng.random() > 0.12,
            )
        )
        if rng.random() < 0.4:
            rated_at = replied_at + timedelta(seconds=rng.uniform(10, 120))
            helpful = rng.random() < 0.75
            self._rate(progress, session_id, reply_id, rated_at, helpful)
            if rng.random() < 0.2:
                self._rate(
                    progress,
                    session_id,
                    reply_id,
                    rated_at + timedelta(hours=rng.uniform(0.1, 40)),
                    not helpful,
                )
        return replied_at

    def _rate(
        self, progress: _Progress, session_id: UUID, reply_id: UUID, at: datetime, helpful: bool
    ) -> None:
        if at >= self.now - timedelta(hours=2):
            return
        learner_id = self.learner.user_id
        self.events.append(
            AssistantReplyRated(
                event_id=self._id(),
                occurred_at=_ms(at),
                actor_id=learner_id,
                learner_id=learner_id,
                course_id=progress.course.course_id,
                session_id=session_id,
                message_id=reply_id,
                helpful=helpful,
            )
        )

    def _question(self, course: Course) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.08:
            return rng.choice(FREQUENT_QUESTIONS)
        if roll < 0.1:
            # the same question typed differently: it counts as the same after normalising
            return "how do I   install Pandas?"
        a, b = rng.sample(course.topics, 2)
        return rng.choice(QUESTION_TEMPLATES).format(a=a, b=b)

    # the rest of the learner's story

    def _maybe_note(self, progress: _Progress, start: datetime, end: datetime) -> None:
        rng = self.rng
        if rng.random() >= 0.1 or end <= start:
            return
        at = _ms(start + (end - start) * rng.random())
        if at >= self.now - timedelta(hours=2):
            return
        self.events.append(
            InstructorNoteAdded(
                event_id=self._id(),
                occurred_at=at,
                actor_id=progress.course.instructor_id,
                learner_id=self.learner.user_id,
                note_id=self._id(),
                instructor_id=progress.course.instructor_id,
                course_id=progress.course.course_id,
            )
        )

    def _award_xp(self) -> None:
        """XP for completions and passed quizzes, as the achievements service awards it."""
        total = 0
        awarded_at = datetime.min.replace(tzinfo=UTC)
        awards: list[DomainEvent] = []
        for event in sorted(self.events, key=lambda e: e.occurred_at):
            reason = None
            if isinstance(event, LessonCompleted):
                reason = "lesson_completed"
            elif isinstance(event, QuizSubmitted) and event.passed:
                reason = "quiz_passed"
            elif isinstance(event, CourseCompleted):
                reason = "course_completed"
            if reason is None:
                continue
            assert isinstance(event, LessonCompleted | QuizSubmitted | CourseCompleted)
            total += XP_RULES[reason]
            # awarded in the order the achievements service reads them, so totals only grow
            awarded_at = max(
                event.occurred_at + timedelta(milliseconds=self.rng.randint(50, 3000)),
                awarded_at + timedelta(milliseconds=1),
            )
            awards.append(
                XpAwarded(
                    event_id=self._id(),
                    occurred_at=awarded_at,
                    actor_id=None,
                    learner_id=event.learner_id,
                    amount=XP_RULES[reason],
                    reason=reason,
                    caused_by_event_id=event.event_id,
                    course_id=event.course_id,
                    total_xp=total,
                )
            )
        self.events.extend(awards)

    def erasure(self, events: list[DomainEvent]) -> list[DomainEvent]:
        """The learner asks to be forgotten after their last event; the services confirm."""
        rng = self.rng
        last = max(event.occurred_at for event in events)
        at = _ms(last + (self.now - last) * rng.uniform(0.2, 0.6))
        learner_id = self.learner.user_id
        request_id = self._id()
        confirmations: list[DomainEvent] = [
            LearnerProgressErased(
                event_id=self._id(),
                occurred_at=at + timedelta(seconds=2),
                learner_id=learner_id,
                request_id=request_id,
            ),
            LearnerChatErased(
                event_id=self._id(),
                occurred_at=at + timedelta(seconds=3),
                learner_id=learner_id,
                request_id=request_id,
            ),
            LearnerAchievementsErased(
                event_id=self._id(),
                occurred_at=at + timedelta(seconds=4),
                learner_id=learner_id,
                request_id=request_id,
            ),
        ]
        request = LearnerErasureRequested(
            event_id=self._id(),
            occurred_at=at,
            actor_id=learner_id,
            user_id=learner_id,
            request_id=request_id,
        )
        return [request, *confirmations]

    def delete_chat(self, events: list[DomainEvent]) -> list[DomainEvent]:
        """The learner deletes their first conversation with messages, some time after it."""
        session_id = self.chat_sessions_with_messages[0]
        last = max(
            event.occurred_at
            for event in events
            if isinstance(event, ChatMessageSent | AssistantReplied | AssistantReplyRated)
            and event.session_id == session_id
        )
        at = _ms(last + (self.now - last) * self.rng.uniform(0.1, 0.5))
        learner_id = self.learner.user_id
        return [
            ChatSessionDeleted(
                event_id=self._id(),
                occurred_at=at,
                actor_id=learner_id,
                learner_id=learner_id,
                session_id=session_id,
            )
        ]


__all__ = [
    "DEFAULT_NOW",
    "PERSONAS",
    "TIME_ZONES",
    "Course",
    "Learner",
    "Lesson",
    "Outline",
    "Person",
    "Quiz",
    "Section",
    "Workload",
    "generate",
    "iter_events",
]
