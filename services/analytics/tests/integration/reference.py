"""An independent computation of every metric in docs/analytics.md, in plain Python.

The differential tests publish a generated workload, ask the analytics service, and
compare each answer with what this module computes from the same events. It is
written from the definitions alone (no ClickHouse, no code of the service), so the
two only agree when both follow the contract.

Where the contract leaves room, the reading taken is written next to the code as
a comment starting with "Reading:".
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from learnstream.analytics.domain.topics import STOP_WORDS
from learnstream.events import DomainEvent
from learnstream.events.achievements import XpAwarded
from learnstream.events.catalog import (
    CourseArchived,
    CourseCreated,
    CourseDetailsChanged,
    CoursePublished,
    CourseStructureChanged,
    LessonOutline,
    QuizOutline,
)
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
    LessonCompleted,
    LessonStarted,
    LessonTimeTracked,
    QuizSubmitted,
    VideoProgressed,
)

ACTIVITY_TYPES = (
    LessonStarted,
    LessonTimeTracked,
    VideoProgressed,
    LessonCompleted,
    QuizSubmitted,
    ChatMessageSent,
)
VIEW_TYPES = (LessonStarted, LessonTimeTracked, VideoProgressed)
SUMMARY_TYPES = (CourseCreated, CoursePublished, CourseArchived, CourseDetailsChanged)
PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90}
MAX_TREND_DAYS = 1096
SEGMENT_SECONDS = 5
FUNNEL_STAGES = ("enrolled", "started", "progress25", "progress50", "progress75", "completed")
WORD = re.compile(r"[^\W\d_]+")


def r1(value: float) -> float:
    """One decimal, with Python's ``round`` (the service is expected to round the same way)."""
    return round(value, 1)


def percent(part: float, whole: float) -> float:
    """A rate in percent, one decimal; 0 when the denominator is 0."""
    return r1(part * 100 / whole) if whole else 0.0


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def change(current: float | None, previous: float | None) -> float | None:
    """``(current - previous) / previous * 100``, null when previous is 0 or missing.

    Reading: computed from the served (already rounded) values, so a reader can check
    a change against the two numbers shown next to it.
    """
    if current is None or previous is None or previous == 0:
        return None
    return r1((current - previous) * 100 / previous)


def keywords(text: str) -> set[str]:
    """A question's distinct topic keywords: runs of letters, three or more, no stop-words."""
    return {word for word in WORD.findall(text.lower()) if len(word) >= 3 and word not in STOP_WORDS}


def normalized_question(text: str) -> str:
    return " ".join(text.lower().split())


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _sort_key(event: DomainEvent) -> tuple[datetime, str, str]:
    return (event.occurred_at, type(event).__name__, str(event.event_id))


def _about(event: DomainEvent) -> UUID | None:
    """The person an event is about, for erasure."""
    subject = getattr(event, "learner_id", None) or getattr(event, "user_id", None)
    return subject if isinstance(subject, UUID) else None


@dataclass(frozen=True)
class Window:
    """A half-open window ``[start, end)`` and the one before it, if any: as many local days
    before it as it covers (``previous_start``), or of the same length for a custom range."""

    start: datetime
    end: datetime
    has_previous: bool
    previous_start: datetime | None = None

    @property
    def previous(self) -> Window:
        start = self.previous_start or self.start - (self.end - self.start)
        return Window(start, self.start, has_previous=False)


@dataclass(frozen=True)
class Lesson:
    """A lesson of a course's current outline, in outline order."""

    lesson_id: UUID
    title: str
    section_title: str
    position: int
    content_type: str
    duration_seconds: int


class Reference:
    """Every metric of the analytics contract, from a set of domain events."""

    def __init__(self, events: Iterable[DomainEvent]) -> None:
        distinct: dict[UUID, DomainEvent] = {}
        for event in events:
            # Reading: a redelivered event carries the same data under the same id, so
            # which copy is kept does not matter.
            distinct.setdefault(event.event_id, event)
        everything = sorted(distinct.values(), key=_sort_key)
        # Reading: erasure and chat-session deletion are applied whatever `now` is: the
        # service deletes the rows when it processes them and cannot bring them back for
        # an earlier `now`. "About the learner" means the event's learner_id / user_id.
        erased = {e.user_id for e in everything if isinstance(e, LearnerErasureRequested)}
        deleted_sessions = {e.session_id for e in everything if isinstance(e, ChatSessionDeleted)}
        self.events: list[DomainEvent] = [
            e
            for e in everything
            if _about(e) not in erased and getattr(e, "session_id", None) not in deleted_sessions
        ]
        self.erased = frozenset(erased)
        self._index: dict[type[DomainEvent], dict[UUID | None, list[DomainEvent]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for event in self.events:
            self._index[type(event)][getattr(event, "course_id", None)].append(event)

        # Reading: descriptive state (names, time zones, owners, outlines) is the latest
        # known, not as of `now`, since the service keeps only the latest copy.
        self._names: dict[UUID, str] = {}
        self._zones: dict[UUID, str] = {}
        self._owner: dict[UUID, UUID] = {}
        self._outline: dict[UUID, CourseStructureChanged] = {}
        self._first_event: dict[UUID, datetime] = {}
        # Reading: at equal times a profile change is later than the registration, and
        # otherwise (two outlines, two changes) the larger event id stands.
        identity = sorted(
            (e for e in self.events if isinstance(e, UserRegistered | UserProfileChanged)),
            key=lambda e: (e.occurred_at, isinstance(e, UserProfileChanged), str(e.event_id)),
        )
        for person in identity:  # oldest first, so the last write is the latest
            if person.display_name:
                self._names[person.user_id] = person.display_name
            if person.timezone:
                self._zones[person.user_id] = person.timezone
        for event in self.events:
            if isinstance(event, SUMMARY_TYPES):
                self._owner[event.course_id] = event.instructor_id
            if isinstance(event, CourseStructureChanged):
                self._outline[event.course_id] = event
            course_id = getattr(event, "course_id", None)
            if isinstance(course_id, UUID) and course_id not in self._first_event:
                self._first_event[course_id] = event.occurred_at

    # --- building blocks -------------------------------------------------------------------

    def _select(
        self, course_ids: set[UUID] | None, t: datetime, types: tuple[type[DomainEvent], ...]
    ) -> list[Any]:
        """The events of these types (all when none) and courses (all when None) before t, in time order."""
        selected: list[DomainEvent] = []
        for kind in types or tuple(self._index):
            for course_id, events in self._index.get(kind, {}).items():
                if course_ids is None or course_id in course_ids:
                    selected.extend(events[: bisect_left(events, t, key=lambda e: e.occurred_at)])
        return sorted(selected, key=_sort_key)

    def _before(self, t: datetime, *types: type[DomainEvent]) -> list[Any]:
        return self._select(None, t, types)

    def _of_course(self, course_id: UUID, t: datetime, *types: type[DomainEvent]) -> list[Any]:
        return self._select({course_id}, t, types)

    def _of_courses(self, course_ids: set[UUID], t: datetime, *types: type[DomainEvent]) -> list[Any]:
        return self._select(course_ids, t, types)

    def name(self, user_id: UUID) -> str:
        return self._names.get(user_id) or f"Learner {user_id.hex[:8]}"

    def zone_of(self, user_id: UUID | None) -> str:
        return self._zones.get(user_id, "UTC") if user_id else "UTC"

    def _course_zone(self, course_id: UUID, override: str | None) -> ZoneInfo:
        return ZoneInfo(override or self.zone_of(self._owner.get(course_id)))

    def courses_of(self, instructor_id: UUID) -> set[UUID]:
        # Reading: an instructor's courses are those whose latest summary event names them,
        # archived ones included (their learners keep their history).
        return {course for course, owner in self._owner.items() if owner == instructor_id}

    def outline(self, course_id: UUID) -> list[Lesson]:
        structure = self._outline.get(course_id)
        if structure is None:
            return []
        sections = sorted(enumerate(structure.sections), key=lambda item: (item[1].order, item[0]))
        lessons: list[Lesson] = []
        for _, section in sections:
            ordered = sorted(enumerate(section.lessons), key=lambda item: (item[1].order, item[0]))
            for _, lesson in ordered:
                lessons.append(_lesson(lesson, section.title, len(lessons)))
        return lessons

    def quizzes_of(self, course_id: UUID) -> list[QuizOutline]:
        # Reading: quizzes are listed in the order of their lessons in the outline.
        structure = self._outline.get(course_id)
        if structure is None:
            return []
        position = {lesson.lesson_id: lesson.position for lesson in self.outline(course_id)}
        ordered = sorted(
            enumerate(structure.quizzes), key=lambda item: (position[item[1].lesson_id], item[0])
        )
        return [quiz for _, quiz in ordered]

    def _enrollments(self, course_ids: set[UUID], now: datetime) -> dict[tuple[UUID, UUID], list[Any]]:
        """Each (course, learner)'s enrollment events before now, oldest first (cancel last on ties)."""
        by_pair: dict[tuple[UUID, UUID], list[Any]] = defaultdict(list)
        for event in self._of_courses(course_ids, now, EnrollmentCreated, EnrollmentCancelled):
            by_pair[(event.course_id, event.learner_id)].append(event)
        for events in by_pair.values():
            events.sort(key=lambda e: (e.occurred_at, isinstance(e, EnrollmentCancelled)))
        return by_pair

    @staticmethod
    def _enrolled_at(events: list[Any], t: datetime) -> bool:
        before = [e for e in events if e.occurred_at < t]
        return bool(before) and isinstance(before[-1], EnrollmentCreated)

    def _students(self, course_ids: set[UUID], t: datetime) -> set[tuple[UUID, UUID]]:
        """The (course, learner) pairs enrolled at t."""
        return {
            pair for pair, events in self._enrollments(course_ids, t).items() if self._enrolled_at(events, t)
        }

    def _progress(self, course_id: UUID, t: datetime) -> dict[UUID, float]:
        """Progress at t of every learner with a completion in the course (others are at 0)."""
        progress: dict[UUID, tuple[datetime, float]] = {}
        for event in self._of_course(course_id, t, LessonCompleted):
            key = (event.occurred_at, event.completion_percentage)
            if event.learner_id not in progress or key > progress[event.learner_id]:
                progress[event.learner_id] = key
        result = {learner: value for learner, (_, value) in progress.items()}
        for event in self._of_course(course_id, t, CourseCompleted):
            result[event.learner_id] = 100.0
        return result

    def _completed(self, course_id: UUID, t: datetime) -> dict[UUID, CourseCompleted]:
        completed: dict[UUID, CourseCompleted] = {}
        for event in self._of_course(course_id, t, CourseCompleted):
            completed.setdefault(event.learner_id, event)
        return completed

    def _last_active(self, course_ids: set[UUID], now: datetime) -> dict[UUID, datetime]:
        """Each learner's last activity in the courses; the enrollment time when there is none.

        Reading: "the enrollment time" is the latest EnrollmentCreated (the enrollment in
        effect), which is also what `days_to_complete` counts from.
        """
        last: dict[UUID, datetime] = {}
        for event in self._of_courses(course_ids, now, EnrollmentCreated):
            last[event.learner_id] = max(last.get(event.learner_id, event.occurred_at), event.occurred_at)
        active: dict[UUID, datetime] = {}
        for event in self._of_courses(course_ids, now, *ACTIVITY_TYPES):
            active[event.learner_id] = max(active.get(event.learner_id, event.occurred_at), event.occurred_at)
        last.update(active)
        return last

    def _window(
        self,
        first_event: datetime | None,
        now: datetime,
        period: str,
        start_date: date | str | None,
        end_date: date | str | None,
        zone: ZoneInfo,
    ) -> Window:
        if start_date is not None or end_date is not None:
            if start_date is None or end_date is None:
                raise ValueError("a custom window needs both start_date and end_date")
            start = _midnight(_as_date(start_date), zone)
            end = _midnight(_as_date(end_date) + timedelta(days=1), zone)
            return Window(start, end, has_previous=True)
        today = now.astimezone(zone).date()
        if period == "all":
            return Window(
                _midnight(min(first_event or now, now).astimezone(zone).date(), zone), now, has_previous=False
            )
        first = today - timedelta(days=PERIOD_DAYS[period] - 1)
        previous = _midnight(first - timedelta(days=PERIOD_DAYS[period]), zone)
        return Window(_midnight(first, zone), now, has_previous=True, previous_start=previous)

    # --- course analytics ------------------------------------------------------------------

    def course_analytics(
        self,
        course_id: UUID,
        *,
        now: datetime,
        period: str = "30d",
        start_date: date | str | None = None,
        end_date: date | str | None = None,
        tz: str | None = None,
    ) -> dict[str, Any]:
        zone = self._course_zone(course_id, tz)
        window = self._window(self._first_event.get(course_id), now, period, start_date, end_date, zone)
        current = self._course_stats(course_id, window)
        if window.has_previous:
            previous: dict[str, Any] = self._course_stats(course_id, window.previous)
        else:
            # Reading: `all` has no previous period; its previous values are null like its changes.
            previous = dict.fromkeys(current)
        return {
            "stats": {
                **current,
                "previous": previous,
                "change": {key: change(current[key], previous[key]) for key in current},
            },
            "trends": self._course_trends(course_id, window, zone),
            "funnelData": self._funnel(course_id, window),
            "activityHeatmap": self._heatmap(course_id, window, zone),
            "progressDistribution": self._distribution(course_id, window.end),
        }

    def _course_stats(self, course_id: UUID, window: Window) -> dict[str, Any]:
        s, e = window.start, window.end
        students = {learner for _, learner in self._students({course_id}, e)}
        active = {
            event.learner_id
            for event in self._of_course(course_id, e, *ACTIVITY_TYPES)
            if event.occurred_at >= s and event.learner_id in students
        }
        progress = self._progress(course_id, e)
        completed = self._completed(course_id, e)
        days = [
            c.days_to_complete for c in self._of_course(course_id, e, CourseCompleted) if c.occurred_at >= s
        ]
        return {
            "totalStudents": len(students),
            "activeStudents": len(active),
            "averageProgress": r1(mean([progress.get(learner, 0.0) for learner in students])),
            "totalTimeSpent": sum(
                t.seconds for t in self._of_course(course_id, e, LessonTimeTracked) if t.occurred_at >= s
            ),
            "completionRate": percent(len(students & completed.keys()), len(students)),
            "averageTimeToComplete": r1(mean(days)) if days else None,
        }

    def _days(self, window: Window, zone: ZoneInfo) -> list[tuple[date, datetime, datetime]]:
        """The local days meeting the window, each with the part of the window it covers.

        Reading: a period's first and last days are partial (30d gives 31 points unless
        now is a local midnight); counts cover only the part inside the window, and "the
        end of that day" is capped at the window's end. At most the last 1,096 days.
        """
        first = window.start.astimezone(zone).date()
        last = (window.end - timedelta(milliseconds=1)).astimezone(zone).date()
        first = max(first, last - timedelta(days=MAX_TREND_DAYS - 1))
        days = []
        day = first
        while day <= last:
            start = max(window.start, _midnight(day, zone))
            end = min(window.end, _midnight(day + timedelta(days=1), zone))
            days.append((day, start, end))
            day += timedelta(days=1)
        return days

    def _course_trends(self, course_id: UUID, window: Window, zone: ZoneInfo) -> dict[str, Any]:
        enrollments = self._enrollments({course_id}, window.end)
        created = self._of_course(course_id, window.end, EnrollmentCreated)
        activity = self._of_course(course_id, window.end, *ACTIVITY_TYPES)
        completions = self._of_course(course_id, window.end, CourseCompleted)
        enrollment_data, engagement_data, completion_data = [], [], []
        for day, start, end in self._days(window, zone):
            label = day.isoformat()
            students = {learner for (_, learner), ev in enrollments.items() if self._enrolled_at(ev, end)}
            completed = {c.learner_id for c in completions if c.occurred_at < end}
            enrollment_data.append(
                {
                    "date": label,
                    "count": sum(1 for c in created if start <= c.occurred_at < end),
                    "total": len(students),
                }
            )
            engagement_data.append(
                {
                    "date": label,
                    "active": len({a.learner_id for a in activity if start <= a.occurred_at < end}),
                }
            )
            completion_data.append(
                {
                    "date": label,
                    "rate": percent(len(students & completed), len(students)),
                    "completions": sum(1 for c in completions if start <= c.occurred_at < end),
                }
            )
        return {
            "enrollmentData": enrollment_data,
            "engagementData": engagement_data,
            "completionData": completion_data,
        }

    def _funnel(self, course_id: UUID, window: Window) -> list[dict[str, Any]]:
        e = window.end
        enrollments = self._enrollments({course_id}, e)
        cohort = {
            learner
            for (_, learner), events in enrollments.items()
            if self._enrolled_at(events, e)
            and window.start
            <= min(x.occurred_at for x in events if isinstance(x, EnrollmentCreated))
            < window.end
        }
        started = {x.learner_id for x in self._of_course(course_id, e, LessonStarted)}
        completed = set(self._completed(course_id, e))
        reached: dict[int, set[UUID]] = {}
        for milestone in (25, 50, 75):
            reached[milestone] = completed | {
                m.learner_id
                for m in self._of_course(course_id, e, CourseMilestoneReached)
                if m.milestone >= milestone
            }
        stages = [cohort, cohort & started, cohort & reached[25], cohort & reached[50], cohort & reached[75]]
        stages.append(cohort & completed)
        funnel = []
        for index, (stage, members) in enumerate(zip(FUNNEL_STAGES, stages, strict=True)):
            before = len(stages[index - 1]) if index else len(members)
            # Reading: the first stage has no previous stage; its dropOff is 0.
            drop = percent(before - len(members), before) if index else 0.0
            funnel.append(
                {
                    "stage": stage,
                    "count": len(members),
                    "percentage": percent(len(members), len(cohort)),
                    "dropOff": drop,
                }
            )
        return funnel

    def _heatmap(self, course_id: UUID, window: Window, zone: ZoneInfo) -> list[dict[str, Any]]:
        value: Counter[tuple[int, int]] = Counter()
        seconds: Counter[tuple[int, int]] = Counter()
        for event in self._of_course(course_id, window.end, *ACTIVITY_TYPES):
            if event.occurred_at < window.start:
                continue
            local = event.occurred_at.astimezone(zone)
            cell = (local.isoweekday(), local.hour)
            value[cell] += 1
            if isinstance(event, LessonTimeTracked):
                seconds[cell] += event.seconds
        return [
            {"dayOfWeek": day, "hour": hour, "value": value[(day, hour)], "timeSpent": seconds[(day, hour)]}
            for day in range(1, 8)
            for hour in range(24)
        ]

    def _distribution(self, course_id: UUID, t: datetime) -> list[dict[str, Any]]:
        students = {learner for _, learner in self._students({course_id}, t)}
        progress = self._progress(course_id, t)
        counts = Counter(min(int(progress.get(learner, 0.0) // 10), 9) for learner in students)
        return [
            {"range": f"{b * 10}-{b * 10 + 10}", "min": b * 10, "max": b * 10 + 10, "count": counts[b]}
            for b in range(10)
        ]

    # --- lessons, videos, quizzes ------------------------------------------------------------

    def lessons(self, course_id: UUID, *, now: datetime) -> list[dict[str, Any]]:
        outline = self.outline(course_id)
        completers = self._lesson_completers(course_id, now)
        drop = self._drop_off(course_id, now)
        views: dict[UUID, set[UUID]] = defaultdict(set)
        viewers: dict[UUID, set[UUID]] = defaultdict(set)
        for event in self._of_course(course_id, now, *VIEW_TYPES):
            views[event.lesson_id].add(event.view_id)
            viewers[event.lesson_id].add(event.learner_id)
        seconds: Counter[UUID] = Counter()
        for tracked in self._of_course(course_id, now, LessonTimeTracked):
            seconds[tracked.lesson_id] += tracked.seconds
        questions = Counter(m.lesson_id for m in self._of_course(course_id, now, ChatMessageSent))
        result = []
        for lesson in outline:
            watchers = len(viewers[lesson.lesson_id])
            done = len(completers[lesson.lesson_id])
            result.append(
                {
                    "id": str(lesson.lesson_id),
                    "title": lesson.title,
                    "sectionTitle": lesson.section_title,
                    "position": lesson.position,
                    "contentType": lesson.content_type,
                    "views": len(views[lesson.lesson_id]),
                    "viewers": watchers,
                    "completions": done,
                    "completionRate": percent(done, watchers),
                    # Reading: averages other than percentages are rounded to one decimal too.
                    "averageTimeSpent": r1(seconds[lesson.lesson_id] / watchers) if watchers else 0.0,
                    "dropOffRate": drop[lesson.lesson_id],
                    "questions": questions[lesson.lesson_id],
                }
            )
        return result

    def _lesson_completers(self, course_id: UUID, now: datetime) -> dict[UUID, set[UUID]]:
        completers: dict[UUID, set[UUID]] = defaultdict(set)
        for event in self._of_course(course_id, now, LessonCompleted):
            completers[event.lesson_id].add(event.learner_id)
        return completers

    def _drop_off(self, course_id: UUID, now: datetime) -> dict[UUID, float]:
        completers = self._lesson_completers(course_id, now)
        previous_step = {e.learner_id for e in self._of_course(course_id, now, EnrollmentCreated)}
        drop = {}
        for lesson in self.outline(course_id):
            done = completers[lesson.lesson_id]
            drop[lesson.lesson_id] = percent(len(previous_step - done), len(previous_step))
            previous_step = done
        return drop

    def videos(self, course_id: UUID, *, now: datetime) -> list[dict[str, Any]]:
        completers = self._lesson_completers(course_id, now)
        progressed = self._of_course(course_id, now, VideoProgressed)
        result = []
        for lesson in self.outline(course_id):
            if lesson.content_type != "video":
                continue
            reports = [p for p in progressed if p.lesson_id == lesson.lesson_id]
            duration = lesson.duration_seconds or max((p.duration_seconds for p in reports), default=0)
            best: dict[UUID, float] = {}
            for report in reports:
                best[report.learner_id] = max(best.get(report.learner_id, 0.0), report.watched_percentage)
            segments = []
            for k in range(-(-duration // SEGMENT_SECONDS)):
                start, end = k * SEGMENT_SECONDS, (k + 1) * SEGMENT_SECONDS
                watchers = {
                    p.learner_id
                    for p in reports
                    if any(r.from_seconds < end and r.to_seconds > start for r in p.watched_ranges)
                }
                # Reading: the last segment keeps its nominal end 5k + 5 even past the video's end.
                segments.append({"start": start, "end": end, "viewers": len(watchers)})
            result.append(
                {
                    "id": str(lesson.lesson_id),
                    "title": lesson.title,
                    "duration": duration,
                    "viewers": len(best),
                    "completionRate": percent(len(best.keys() & completers[lesson.lesson_id]), len(best)),
                    "averageWatchPercentage": r1(mean(list(best.values()))),
                    "segments": segments,
                }
            )
        return result

    def _attempts(self, course_id: UUID, now: datetime) -> dict[UUID, dict[tuple[UUID, int], QuizSubmitted]]:
        """Each quiz's attempts by (learner, attempt number).

        Reading: should two events name the same attempt, the later one stands for it.
        """
        attempts: dict[UUID, dict[tuple[UUID, int], QuizSubmitted]] = defaultdict(dict)
        for event in self._of_course(course_id, now, QuizSubmitted):
            attempts[event.quiz_id][(event.learner_id, event.attempt_number)] = event
        return attempts

    def quizzes(self, course_id: UUID, *, now: datetime) -> dict[str, Any]:
        attempts = self._attempts(course_id, now)
        titles = {lesson.lesson_id: lesson.title for lesson in self.outline(course_id)}
        rows = []
        questions: list[tuple[Fraction, int, int, int, dict[str, Any]]] = []
        for quiz_index, quiz in enumerate(self.quizzes_of(course_id)):
            tries = attempts.get(quiz.quiz_id, {})
            learners = {learner for learner, _ in tries}
            passed = {learner for (learner, _), a in tries.items() if a.passed}
            first = {learner: a.passed for (learner, number), a in tries.items() if number == 1}
            rows.append(
                {
                    "id": str(quiz.quiz_id),
                    "lessonId": str(quiz.lesson_id),
                    "lessonTitle": titles[quiz.lesson_id],
                    "attempts": len(tries),
                    "learners": len(learners),
                    "passRate": percent(len(passed), len(learners)),
                    "firstAttemptPassRate": percent(sum(first.values()), len(first)),
                    "averageScore": r1(mean([a.score_percentage for a in tries.values()])),
                }
            )
            for position, question_id in enumerate(quiz.question_ids, start=1):
                results = [
                    r.correct
                    for a in tries.values()
                    for r in a.question_results
                    if r.question_id == question_id
                ]
                if not results:
                    continue
                rate = Fraction(sum(results), len(results))
                row = {
                    "quizId": str(quiz.quiz_id),
                    "questionId": str(question_id),
                    "position": position,
                    "answered": len(results),
                    "correctRate": percent(sum(results), len(results)),
                }
                questions.append((rate, -len(results), quiz_index, position, row))
        questions.sort(key=lambda item: item[:4])
        return {"quizzes": rows, "hardestQuestions": [item[4] for item in questions[:5]]}

    # --- students ----------------------------------------------------------------------------

    def students(self, course_id: UUID, *, now: datetime) -> list[dict[str, Any]]:
        students = sorted(learner for _, learner in self._students({course_id}, now))
        progress = self._progress(course_id, now)
        completed = self._completed(course_id, now)
        last_active = self._last_active({course_id}, now)
        enrolled_since = self._enrolled_since({course_id}, now)
        seconds: Counter[UUID] = Counter()
        for tracked in self._of_course(course_id, now, LessonTimeTracked):
            seconds[tracked.learner_id] += tracked.seconds
        at_risk = {row["id"] for row in self.at_risk(course_id, now=now)}
        rows = []
        for learner in students:
            if learner in completed:
                status = "completed"
            elif now - last_active[learner] <= timedelta(days=7):
                status = "active"
            else:
                status = "inactive"
            rows.append(
                {
                    "id": str(learner),
                    "name": self.name(learner),
                    "progress": progress.get(learner, 0.0),
                    "timeSpent": seconds[learner],
                    "lastActive": last_active[learner],
                    "enrolledAt": enrolled_since[learner],
                    "completedAt": completed[learner].occurred_at if learner in completed else None,
                    "status": status,
                    "atRisk": str(learner) in at_risk,
                }
            )
        return rows

    def _enrolled_since(self, course_ids: set[UUID], now: datetime) -> dict[UUID, datetime]:
        """Each learner's first EnrollmentCreated in any of the courses."""
        since: dict[UUID, datetime] = {}
        for event in self._of_courses(course_ids, now, EnrollmentCreated):
            since[event.learner_id] = min(since.get(event.learner_id, event.occurred_at), event.occurred_at)
        return since

    def at_risk(
        self,
        course_id: UUID,
        *,
        now: datetime,
        inactive_days: int = 7,
        stuck_days: int = 14,
        quiz_failures: int = 3,
        questions: int = 5,
        window_days: int = 14,
    ) -> list[dict[str, Any]]:
        students = {learner for _, learner in self._students({course_id}, now)}
        completed = self._completed(course_id, now)
        progress = self._progress(course_id, now)
        last_active = self._last_active({course_id}, now)
        latest_enrollment: dict[UUID, datetime] = {}
        for created in self._of_course(course_id, now, EnrollmentCreated):
            latest_enrollment[created.learner_id] = created.occurred_at  # events are in time order
        last_completion: dict[UUID, datetime] = {}
        for lesson_done in self._of_course(course_id, now, LessonCompleted):
            last_completion[lesson_done.learner_id] = lesson_done.occurred_at
        struggling = self._struggling(course_id, now, quiz_failures, questions, window_days)
        rows = []
        for learner in sorted(students - completed.keys()):
            reasons, details = [], []
            if now - last_active[learner] > timedelta(days=inactive_days):
                reasons.append("inactive")
                details.append(f"No activity for {(now - last_active[learner]).days} days")
            # Reading: "from the enrollment" is the latest EnrollmentCreated, as for last active.
            since = last_completion.get(learner, latest_enrollment[learner])
            if now - since > timedelta(days=stuck_days):
                reasons.append("stuck")
                details.append(
                    f"No lesson completed for {(now - since).days} days"
                    f" at {round(progress.get(learner, 0.0), 1):g}% progress"
                )
            if learner in struggling:
                reasons.append("struggling")
                details += struggling[learner]
            if reasons:
                rows.append(
                    {
                        "id": str(learner),
                        "name": self.name(learner),
                        "reason": reasons[0],
                        "reasons": reasons,
                        "details": "; ".join(details),
                        "lastActive": last_active[learner],
                        "progress": progress.get(learner, 0.0),
                    }
                )
        return rows

    def _struggling(
        self, course_id: UUID, now: datetime, quiz_failures: int, questions: int, window_days: int
    ) -> dict[UUID, list[str]]:
        """Who struggles, with what in words: failed quizzes (sorted), then much-asked lessons (sorted)."""
        titles = {lesson.lesson_id: lesson.title for lesson in self.outline(course_id)}
        quiz_titles = {
            quiz.quiz_id: titles.get(quiz.lesson_id, "a quiz") for quiz in self.quizzes_of(course_id)
        }
        quizzes: dict[UUID, list[str]] = defaultdict(list)
        per_learner: dict[tuple[UUID, UUID], list[QuizSubmitted]] = defaultdict(list)
        for quiz, by_number in self._attempts(course_id, now).items():
            for (learner, _), attempt in by_number.items():
                per_learner[(learner, quiz)].append(attempt)
        for (learner, quiz), tries in per_learner.items():
            failures = [a for a in tries if not a.passed]
            if len(failures) < quiz_failures:
                continue
            last_failure = max(a.occurred_at for a in failures)
            # Reading: "after the last failure" is by occurred_at, strictly later.
            if not any(a.passed and a.occurred_at > last_failure for a in tries):
                title = quiz_titles.get(quiz, "a quiz")
                quizzes[learner].append(f'Failed the quiz of "{title}" {len(failures)} times without passing')
        asked: Counter[tuple[UUID, UUID]] = Counter(
            (m.learner_id, m.lesson_id)
            for m in self._of_course(course_id, now, ChatMessageSent)
            if m.lesson_id is not None and now - m.occurred_at <= timedelta(days=window_days)
        )
        lessons: dict[UUID, list[str]] = defaultdict(list)
        for (learner, lesson_id), count in asked.items():
            if count >= questions:
                title = titles.get(lesson_id, "one lesson")
                lessons[learner].append(
                    f'Asked the assistant {count} questions about "{title}" in {window_days} days'
                )
        return {
            learner: sorted(quizzes.get(learner, [])) + sorted(lessons.get(learner, []))
            for learner in quizzes.keys() | lessons.keys()
        }

    # --- assistant ---------------------------------------------------------------------------

    def ai(
        self, course_id: UUID, *, now: datetime, period: str = "all", tz: str | None = None
    ) -> dict[str, Any]:
        zone = self._course_zone(course_id, tz)
        window = self._window(self._first_event.get(course_id), now, period, None, None, zone)
        in_window = [e for e in self._of_course(course_id, window.end) if e.occurred_at >= window.start]
        asked = [e for e in in_window if isinstance(e, ChatMessageSent)]
        replies = [e for e in in_window if isinstance(e, AssistantReplied)]
        ratings = [e for e in in_window if isinstance(e, AssistantReplyRated)]
        students = self._students({course_id}, window.end)
        topics: Counter[str] = Counter()
        for message in asked:
            topics.update(keywords(message.text))
        per_lesson = Counter(m.lesson_id for m in asked)
        drop = self._drop_off(course_id, now)
        by_hour = Counter(m.occurred_at.astimezone(zone).hour for m in asked)
        return {
            "totalQuestions": len(asked),
            "questionsPerStudent": r1(len(asked) / len(students)) if students else 0.0,
            "topTopics": [
                {"topic": topic, "count": count}
                for topic, count in sorted(topics.items(), key=lambda item: (-item[1], item[0]))[:10]
            ],
            "unansweredRate": percent(sum(1 for r in replies if not r.answered), len(replies)),
            "satisfactionRate": _satisfaction(ratings),
            # Reading: every lesson of the outline, in order, with its questions in the window
            # and its (all-time) drop-off rate.
            "questionsPerLesson": [
                {
                    "lessonId": str(lesson.lesson_id),
                    "questions": per_lesson[lesson.lesson_id],
                    "dropOffRate": drop[lesson.lesson_id],
                }
                for lesson in self.outline(course_id)
            ],
            "questionsByHour": [by_hour[hour] for hour in range(24)],
        }

    # --- creator -----------------------------------------------------------------------------

    def creator_dashboard(
        self, instructor_id: UUID, *, now: datetime, period: str = "30d", tz: str | None = None
    ) -> dict[str, Any]:
        courses = self.courses_of(instructor_id)
        zone = ZoneInfo(tz or self.zone_of(instructor_id))
        first = min((self._first_event[c] for c in courses if c in self._first_event), default=None)
        window = self._window(first, now, period, None, None, zone)
        students = {learner for _, learner in self._students(courses, now)}
        active = self._active_students(courses, window)
        new_this_month = {
            learner
            for learner, since in self._enrolled_since(courses, now).items()
            if now - since <= timedelta(days=30)
        }
        enrollments = self._count_in(courses, window, EnrollmentCreated)
        # Reading: "new enrollments" are EnrollmentCreated events in the window (a
        # re-enrollment counts), the previous active learners those enrolled at its end.
        if window.has_previous:
            trends = {
                "active": change(len(active), len(self._active_students(courses, window.previous))),
                "new": change(enrollments, self._count_in(courses, window.previous, EnrollmentCreated)),
            }
        else:
            trends = {"active": None, "new": None}
        in_window = [e for e in self._of_courses(courses, window.end) if e.occurred_at >= window.start]
        activity = [e for e in in_window if isinstance(e, ACTIVITY_TYPES)]
        hours = Counter(e.occurred_at.astimezone(zone).hour for e in activity)
        tracked = [e for e in in_window if isinstance(e, LessonTimeTracked)]
        views = {e.view_id for e in in_window if isinstance(e, VIEW_TYPES)}
        daily = []
        for day, start, end in self._days(window, zone):
            learners = {e.learner_id for e in activity if start <= e.occurred_at < end}
            daily.append({"date": day.isoformat(), "count": len(learners)})
        asked = Counter(normalized_question(e.text) for e in in_window if isinstance(e, ChatMessageSent))
        current = self._students(courses, now)
        progress = {course: self._progress(course, now) for course in courses}
        return {
            "students": {
                "total": len(students),
                "active": len(active & students),
                "activePercentage": percent(len(active & students), len(students)),
                "newThisMonth": len(new_this_month),
                "trends": trends,
            },
            "progress": {
                "avgCompletion": r1(
                    mean([progress[course].get(learner, 0.0) for course, learner in current])
                ),
                "videosWatched": len(
                    {(e.learner_id, e.lesson_id) for e in in_window if isinstance(e, VideoProgressed)}
                ),
                "quizzesPassed": len(
                    {
                        (e.learner_id, e.quiz_id)
                        for e in in_window
                        if isinstance(e, QuizSubmitted) and e.passed
                    }
                ),
            },
            "engagement": {
                "dailyActiveUsers": daily,
                # Reading: only hours with activity; fewer than three when fewer have any.
                "peakHours": [
                    {"hour": hour, "activity": count}
                    for hour, count in sorted(hours.items(), key=lambda item: (-item[1], item[0]))[:3]
                ],
                # Reading: views as in the lessons report (distinct view ids of LessonStarted,
                # LessonTimeTracked and VideoProgressed) in the window.
                "avgSessionTime": r1(sum(t.seconds for t in tracked) / 60 / len(views)) if views else 0.0,
            },
            "support": {
                "questionsAsked": sum(asked.values()),
                "aiAnswered": sum(1 for e in in_window if isinstance(e, AssistantReplied) and e.answered),
                "satisfactionRate": _satisfaction(
                    [e for e in in_window if isinstance(e, AssistantReplyRated)]
                ),
                # Reading: the question as compared (lower-cased, white space collapsed); ties
                # alphabetical.
                "topQuestions": [
                    {"question": text, "count": count}
                    for text, count in sorted(asked.items(), key=lambda item: (-item[1], item[0]))[:5]
                ],
            },
        }

    def _active_students(self, course_ids: set[UUID], window: Window) -> set[UUID]:
        """Learners enrolled at the window's end in one of the courses, active in them in the window."""
        students = {learner for _, learner in self._students(course_ids, window.end)}
        return {
            e.learner_id
            for e in self._of_courses(course_ids, window.end, *ACTIVITY_TYPES)
            if e.occurred_at >= window.start and e.learner_id in students
        }

    def _count_in(self, course_ids: set[UUID], window: Window, kind: type[DomainEvent]) -> int:
        return sum(1 for e in self._of_courses(course_ids, window.end, kind) if e.occurred_at >= window.start)

    def creator_students(self, instructor_id: UUID, *, now: datetime) -> list[dict[str, Any]]:
        courses = self.courses_of(instructor_id)
        current = self._students(courses, now)
        enrolled_in: dict[UUID, set[UUID]] = defaultdict(set)
        for course, learner in current:
            enrolled_in[learner].add(course)
        progress = {course: self._progress(course, now) for course in courses}
        last_active = self._last_active(courses, now)
        first_enrolled = self._enrolled_since(courses, now)
        # Reading: videos watched counts every video lesson with a VideoProgressed in the
        # instructor's courses, at any time and whatever the enrollment's state.
        videos: dict[UUID, set[UUID]] = defaultdict(set)
        for event in self._of_courses(courses, now, VideoProgressed):
            videos[event.learner_id].add(event.lesson_id)
        # Reading: xp is the XP awarded in the instructor's courses (XpAwarded.course_id).
        xp: Counter[UUID] = Counter()
        for award in self._of_courses(courses, now, XpAwarded):
            xp[award.learner_id] += award.amount
        rows = []
        for learner in sorted(enrolled_in):
            average = mean([progress[course].get(learner, 0.0) for course in enrolled_in[learner]])
            watched = len(videos[learner])
            idle = now - last_active[learner]
            if idle > timedelta(days=14):
                tier = "inactive"
            elif idle > timedelta(days=7):
                tier = "at_risk"
            elif watched < 3 and now - first_enrolled[learner] > timedelta(days=7):
                tier = "low_engagement"
            elif watched >= 10 and average >= 75:
                tier = "highly_engaged"
            elif watched >= 5:
                tier = "engaged"
            else:
                tier = "moderate"
            rows.append(
                {
                    "id": str(learner),
                    "name": self.name(learner),
                    "courses": len(enrolled_in[learner]),
                    "progress": r1(average),
                    "videosWatched": watched,
                    "lastActive": last_active[learner],
                    "firstEnrolledAt": first_enrolled[learner],
                    "tier": tier,
                    "xp": xp[learner],
                }
            )
        return rows

    # --- admin and learner -------------------------------------------------------------------

    def admin_overview(self, *, now: datetime, period: str = "30d") -> dict[str, Any]:
        first = self.events[0].occurred_at if self.events else None
        window = self._window(first, now, period, None, None, ZoneInfo("UTC"))
        activity = self._before(now, *ACTIVITY_TYPES)

        def active_in(days: int) -> set[UUID]:
            return {e.learner_id for e in activity if now - e.occurred_at <= timedelta(days=days)}

        dau, mau = len(active_in(1)), len(active_in(30))
        in_window = [e for e in self._before(window.end) if e.occurred_at >= window.start]
        all_courses = set(self._owner) | set(self._first_event)
        current = self._students(all_courses, now)
        completed = {(c.course_id, c.learner_id) for c in self._before(now, CourseCompleted)}
        per_course = Counter(e.course_id for e in in_window if isinstance(e, EnrollmentCreated))
        per_instructor: dict[UUID, set[UUID]] = defaultdict(set)
        for event in in_window:
            if isinstance(event, ACTIVITY_TYPES) and event.course_id in self._owner:
                per_instructor[self._owner[event.course_id]].add(event.learner_id)
        return {
            "dau": dau,
            "wau": len(active_in(7)),
            "mau": mau,
            # Reading: a percentage like every other ratio (0-100, one decimal).
            "dauMauRatio": percent(dau, mau),
            # Reading: distinct users registered in the window, whatever their role.
            "newUsers": len({e.user_id for e in in_window if isinstance(e, UserRegistered)}),
            "enrollments": sum(per_course.values()),
            "completionRate": percent(len(current & completed), len(current)),
            # Reading: courses and instructors with none in the window are left out; ties by id.
            "topCourses": [
                {"id": str(course), "enrollments": count}
                for course, count in sorted(per_course.items(), key=lambda item: (-item[1], str(item[0])))[:5]
            ],
            "topInstructors": [
                {"id": str(instructor), "activeLearners": len(learners)}
                for instructor, learners in sorted(
                    per_instructor.items(), key=lambda item: (-len(item[1]), str(item[0]))
                )[:5]
            ],
        }

    def learner_activity(self, learner_id: UUID, *, now: datetime, days: int = 30) -> list[dict[str, Any]]:
        zone = ZoneInfo(self.zone_of(learner_id))
        today = now.astimezone(zone).date()
        first = today - timedelta(days=days - 1)
        seconds: Counter[date] = Counter()
        completed: Counter[date] = Counter()
        for event in self._before(now, LessonTimeTracked, LessonCompleted):
            if event.learner_id != learner_id:
                continue
            day = event.occurred_at.astimezone(zone).date()
            if isinstance(event, LessonTimeTracked):
                seconds[day] += event.seconds
            else:
                completed[day] += 1
        return [
            {"date": day.isoformat(), "timeSpent": seconds[day], "lessonsCompleted": completed[day]}
            for day in (first + timedelta(days=offset) for offset in range(days))
        ]


def _satisfaction(ratings: list[AssistantReplyRated]) -> float:
    """Helpful over rated messages, each message's latest rating counting.

    Reading: at equal times a "not helpful" rating wins (nothing in the contract says).
    """
    latest: dict[UUID, tuple[datetime, bool]] = {}
    for rating in ratings:
        key = (rating.occurred_at, not rating.helpful)
        latest[rating.message_id] = max(latest.get(rating.message_id, key), key)
    return percent(sum(1 for _, unhelpful in latest.values() if not unhelpful), len(latest))


def _lesson(lesson: LessonOutline, section_title: str, position: int) -> Lesson:
    return Lesson(
        lesson_id=lesson.lesson_id,
        title=lesson.title,
        section_title=section_title,
        position=position,
        content_type=lesson.content_type,
        duration_seconds=lesson.duration_seconds,
    )


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
