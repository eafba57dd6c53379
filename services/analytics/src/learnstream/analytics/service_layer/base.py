"""The base of the analytics reports: shared definitions, helpers and reference data.

The definitions are those of ``docs/analytics.md``. A course report reads the read model
(``course_learners``, one row per learner of the course) when it covers the question: the
model holds every event of the course (none at or after the report's ``now`` or window end,
which is the case unless a report is asked about the past) and the window starts on a
quarter hour (every window starts at a local midnight, which does in every time zone in
use). Otherwise it reads the events themselves (``activity`` with ``FINAL``: one row per
event id). Both give the same answers; the differential tests check each against the
Python reference. Times travel as epoch milliseconds and come back as UTC; day and hour
buckets are computed by ClickHouse in the time zone the caller resolved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from learnstream.analytics.adapters.clickhouse import ClickHouse
from learnstream.analytics.adapters.schema import LEARNER_ACTIVITY, LEARNER_MODEL, SLOT_SECONDS
from learnstream.analytics.domain.errors import InvalidQuery, NotFound
from learnstream.analytics.service_layer.periods import Window, window, zone
from learnstream.runtime.projection import BatchProjection

ACTIVITY = LEARNER_ACTIVITY
ACTIVITY_SQL = "(" + ", ".join(f"'{name}'" for name in ACTIVITY) + ")"
VIEWING_SQL = "('LessonStarted', 'LessonTimeTracked', 'VideoProgressed')"
IN_WINDOW = (
    "time >= fromUnixTimestamp64Milli({s:Int64}, 'UTC') AND time < fromUnixTimestamp64Milli({e:Int64}, 'UTC')"
)
ENROLLING_SQL = "name IN ('EnrollmentCreated', 'EnrollmentCancelled')"
LATEST_ENROLLMENT = (
    "argMaxIf(name = 'EnrollmentCreated', (time, name = 'EnrollmentCancelled'), " + ENROLLING_SQL
)
LATEST_PROGRESS = "argMaxIf(value, (time, value), name = 'LessonCompleted'"
ZERO = UUID(int=0)
MODEL = "{db}." + LEARNER_MODEL + " FINAL"
"""The read model, as a report's FROM reads it (each learner's newest row)."""
NEVER = "toDateTime64('2299-12-31 00:00:00', 3, 'UTC')"
"""Stands in for a moment that has not come (a NULL of the model) when it must compare later."""
SEGMENT_SECONDS = 5
MAX_SEGMENTS = 24 * 3600 // SEGMENT_SECONDS
"""Segments of a video reported at most (a day of video): a bogus range cannot blow them up."""
FUNNEL = (
    ("enrolled", "Enrolled"),
    ("started", "Started"),
    ("progress25", "25% complete"),
    ("progress50", "50% complete"),
    ("progress75", "75% complete"),
    ("completed", "Completed"),
)
STATS = (
    "totalStudents",
    "activeStudents",
    "averageProgress",
    "totalTimeSpent",
    "completionRate",
    "averageTimeToComplete",
)
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def ms(moment: datetime) -> int:
    """Epoch milliseconds, the way times are passed to ClickHouse."""
    return int(moment.timestamp() * 1000)


def r1(value: float | None) -> float | None:
    """One decimal, for percentages and averages (``None`` stays ``None``)."""
    if value is None or math.isnan(value):
        return None
    return round(value, 1)


def ratio(part: float, whole: float) -> float:
    """``part / whole`` in percent with one decimal; 0 when there is nothing to divide by."""
    return round(part * 100 / whole, 1) if whole else 0.0


def change(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None or previous == 0:
        return None
    return round((current - previous) * 100 / previous, 1)


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    return utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else None


def fallback_name(user_id: UUID | str) -> str:
    return f"Learner {str(user_id).replace('-', '')[:8]}"


@dataclass(frozen=True)
class Thresholds:
    """When a learner counts as at risk (see ``docs/analytics.md``)."""

    inactive_days: int = 7
    stuck_days: int = 14
    quiz_failures: int = 3
    questions: int = 5
    window_days: int = 14


@dataclass(frozen=True)
class Course:
    id: UUID
    instructor_id: UUID
    title: str
    category: str
    difficulty: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class Lesson:
    id: UUID
    title: str
    section_title: str
    position: int
    content_type: str
    duration: int


class ReportsBase:
    """What every report needs: the store, the projection's freshness, courses, lessons, people."""

    def __init__(self, clickhouse: ClickHouse, projection: BatchProjection, thresholds: Thresholds) -> None:
        self.ch = clickhouse
        self.projection = projection
        self.thresholds = thresholds
        self._zones: frozenset[str] | None = None
        self.read_model = True
        """Answer from the read model where it covers the question (off: always from events)."""

    @property
    def db(self) -> str:
        return f"`{self.ch.database}`"

    async def _rows(self, sql: str, **parameters: Any) -> Sequence[Sequence[Any]]:
        return await self.ch.query_rows(sql.replace("{db}", self.db), parameters)

    async def freshness(self, now: datetime | None = None) -> dict[str, Any]:
        state = await self.projection.freshness(now)
        return {"lagMs": state.lag_ms, "asOf": iso(state.as_of)}

    async def erasure(self, request_id: UUID) -> datetime | None:
        """When the erasure request ``request_id`` was applied here (its rows deleted), if it was."""
        rows = await self._rows(
            "SELECT min(time) FROM {db}.erasures WHERE request_id = {r:UUID} HAVING count() > 0",
            r=request_id,
        )
        return utc(rows[0][0]) if rows else None

    # -- reference data ----------------------------------------------------------------------

    async def course(self, course_id: UUID) -> Course:
        rows = await self._rows(
            "SELECT course_id, instructor_id, title, category, difficulty, status, created_at"
            " FROM {db}.course_profiles WHERE course_id = {c:UUID}",
            c=course_id,
        )
        if not rows:
            raise NotFound(f"course {course_id} not found")
        row = rows[0]
        return Course(row[0], row[1], row[2], row[3], row[4], row[5], utc(row[6]))

    async def fingerprint(self, course_id: UUID) -> tuple[int, ...]:
        """What every report about the course is computed from, in figures that change with any
        write that can change a report: a checksum of the event ids in its catalog rows
        (course, outline, quizzes: first), the newest version and number of its read-model
        rows, and checksums of the event ids of all people rows and erasures. A checksum is
        the wrapping sum of a 64-bit hash of each row's event id, so a row written changes it
        and a duplicate merged away cannot cancel a write the way counts could. Answers are
        kept while it holds (:mod:`.answers`)."""
        rows = await self._rows(
            "SELECT (SELECT sum(cityHash64(event_id)) FROM {db}.courses WHERE course_id = {c:UUID})"
            " + (SELECT sum(cityHash64(structure_event_id, lesson_id)) FROM {db}.outline"
            " WHERE course_id = {c:UUID})"
            " + (SELECT sum(cityHash64(structure_event_id, quiz_id)) FROM {db}.quizzes"
            " WHERE course_id = {c:UUID}),"
            f" (SELECT (max(version), count()) FROM {{db}}.{LEARNER_MODEL} WHERE course_id = {{c:UUID}}),"
            " (SELECT sum(cityHash64(event_id)) FROM {db}.users),"
            " (SELECT sum(cityHash64(event_id)) FROM {db}.erasures)",
            c=course_id,
        )
        catalog, (version, learners), people, erasures = rows[0]
        return int(catalog), int(version), int(learners), int(people), int(erasures)

    async def _known_zones(self) -> frozenset[str]:
        """The time zones ClickHouse can load (Python's list differs at the edges, e.g. right/*)."""
        if self._zones is None:
            rows = await self._rows("SELECT time_zone FROM system.time_zones")
            self._zones = frozenset(row[0] for row in rows)
        return self._zones

    async def timezone_of(self, user_id: UUID) -> str:
        """The user's time zone; UTC when unknown or not one ClickHouse can use."""
        rows = await self._rows(
            "SELECT timezone FROM {db}.user_profiles WHERE user_id = {u:UUID}",
            u=user_id,
        )
        name = str(rows[0][0]) if rows else "UTC"
        return name if name in await self._known_zones() else "UTC"

    async def _tz(self, override: str | None, owner: UUID) -> str:
        if override:
            zone(override)
            if override not in await self._known_zones():
                raise InvalidQuery("timezone", f"{override!r} is not a time zone the analytics store knows")
            return override
        return await self.timezone_of(owner)

    async def lessons_of(self, course_id: UUID) -> list[Lesson]:
        rows = await self._rows(
            "SELECT lesson_id, lesson_title, section_title, position, content_type, duration"
            " FROM {db}.current_lessons WHERE course_id = {c:UUID} ORDER BY position",
            c=course_id,
        )
        return [Lesson(r[0], r[1], r[2], int(r[3]), r[4], int(r[5])) for r in rows]

    async def _modelled(self, course_id: UUID, until: datetime) -> bool:
        """Whether the read model answers about the course up to ``until`` (``now`` or a
        window's end): it holds no event of the course at or after it. Older rows of a
        learner (not yet merged away) only make this more careful."""
        if not self.read_model:
            return False
        rows = await self._rows(
            "SELECT max(last_event), count() FROM {db}." + LEARNER_MODEL + " WHERE course_id = {c:UUID}",
            c=course_id,
        )
        return not rows[0][1] or utc(rows[0][0]) < until

    async def _first_event(self, course: Course, modelled: bool = False) -> datetime:
        rows = await self._rows(
            f"SELECT min(first_event), count() FROM {MODEL} WHERE course_id = {{c:UUID}}"
            if modelled
            else "SELECT min(time), count() FROM {db}.activity WHERE course_id = {c:UUID}",
            c=course.id,
        )
        first = course.created_at
        if rows and rows[0][1]:
            first = min(first, utc(rows[0][0]))
        return first

    async def _course_window(
        self,
        course_id: UUID,
        *,
        now: datetime,
        tz: str | None,
        period: str | None,
        start_date: date | None,
        end_date: date | None,
    ) -> tuple[Course, str, Window, bool]:
        """The course, the time zone its report uses (``tz`` or its instructor's), the window,
        and whether the read model answers for it (:meth:`_modelled`)."""
        course = await self.course(course_id)
        tz = await self._tz(tz, course.instructor_id)
        custom = start_date is not None or end_date is not None
        covered = await self._modelled(course_id, now)
        first = await self._first_event(course, covered) if period == "all" and not custom else None
        win = window(
            now=now, tz=tz, period=period, start_date=start_date, end_date=end_date, first_event=first
        )
        if custom:  # a range that may end before the latest events
            covered = await self._modelled(course_id, win.end)
        covered = covered and all(
            bound is None or not ms(bound) % (SLOT_SECONDS * 1000)
            for bound in (win.start, win.previous_start)
        )
        return course, tz, win, covered
