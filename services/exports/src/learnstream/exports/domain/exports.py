"""What can be exported, and in which shape: the request rules and the tabular report.

An export is one of two kinds: an instructor's **course report** (sections of one
course over a date range) or a **creator export** (one type of rows across all the
instructor's courses, with filters). Both become a :class:`Report`: titled tables with
typed columns, plus the figures and series the PDF turns into a summary and charts.
The file formats (``adapters/formats.py``, ``adapters/pdf.py``) only render a Report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

FORMATS = ("csv", "json", "xlsx", "pdf")
COURSE_SECTIONS = ("summary", "students", "lessons", "funnel", "videos", "quizzes", "questions", "at_risk")
CREATOR_TYPES = ("students", "progress", "chat", "analytics", "quiz_results", "videos")
COURSE_REPORT = "course_report"
"""The export type of an instructor's course report (creator exports use their type)."""
CREATOR_FILTERS: dict[str, tuple[str, ...]] = {
    "students": ("status", "progress", "search"),
    "progress": ("courseId",),
    "chat": ("courseId", "startDate", "endDate"),
    "analytics": ("period",),
    "quiz_results": ("courseId", "startDate", "endDate"),
    "videos": ("courseId",),
}
"""The filters each creator export type takes."""
FILTER_VALUES: dict[str, tuple[str, ...]] = {
    "status": ("all", "active", "at-risk", "inactive"),
    "progress": ("0-25", "26-50", "51-75", "76-100"),
    "period": ("7d", "30d", "90d"),
}
MAX_RANGE_DAYS = 3660
PDF_TABLE_ROWS = 200
"""Rows of a section the PDF shows (the CSV and XLSX exports hold them all)."""
LEARNER_ROWS = frozenset({COURSE_REPORT, "students", "progress", "chat", "quiz_results"})
"""Export types whose files hold rows about individual learners (withdrawn on erasure)."""

Status = Literal["queued", "running", "completed", "failed", "expired"]
Kind = Literal["text", "int", "float", "percent", "seconds", "datetime", "bool"]


class InvalidExport(Exception):
    """The request names something that cannot be exported; says what is allowed."""

    def __init__(self, field: str, message: str, allowed: tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.allowed = allowed


def _one_of(field: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidExport(
            field, f"{field} must be one of {', '.join(allowed)}; got {value!r}", allowed=allowed
        )
    return value


def _day(field: str, value: object) -> date:
    if not isinstance(value, str):
        raise InvalidExport(field, f"{field} must be a date (YYYY-MM-DD); got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidExport(field, f"{field} must be a date (YYYY-MM-DD); got {value!r}") from None


def date_range(field: str, start: object, end: object) -> tuple[date, date] | None:
    """Inclusive local days ``(start, end)``; ``None`` when neither is given (all time)."""
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise InvalidExport(field, f"{field} needs both a start and an end date")
    first, last = _day(f"{field}.start", start), _day(f"{field}.end", end)
    if last < first:
        raise InvalidExport(field, f"{field} ends ({last}) before it starts ({first})")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise InvalidExport(field, f"{field} covers at most {MAX_RANGE_DAYS} days")
    return first, last


@dataclass(frozen=True)
class ExportSpec:
    """A validated export request: what, in which format, for whom."""

    export_type: str
    format: str
    course_id: UUID | None = None
    sections: tuple[str, ...] = ()
    date_range: tuple[date, date] | None = None
    filters: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The request as recorded in the audit log."""
        return {
            "sections": list(self.sections),
            "dateRange": (
                {"start": self.date_range[0].isoformat(), "end": self.date_range[1].isoformat()}
                if self.date_range
                else None
            ),
            "filters": self.filters,
        }

    @classmethod
    def from_record(
        cls, export_type: str, fmt: str, course_id: UUID | None, request: dict[str, Any]
    ) -> ExportSpec:
        """The spec again from its audit record (as the worker loads it)."""
        window = request.get("dateRange")
        return cls(
            export_type=export_type,
            format=fmt,
            course_id=course_id,
            sections=tuple(request.get("sections") or ()),
            date_range=(date.fromisoformat(window["start"]), date.fromisoformat(window["end"]))
            if window
            else None,
            filters=dict(request.get("filters") or {}),
        )


def course_export(course_id: UUID, body: dict[str, Any]) -> ExportSpec:
    """An instructor's course report request ``{format, sections?, dateRange?}``."""
    fmt = _one_of("format", body.get("format"), FORMATS)
    sections = body.get("sections")
    chosen: tuple[str, ...]
    if sections is None:
        chosen = COURSE_SECTIONS
    else:
        if not isinstance(sections, list) or not sections:
            raise InvalidExport(
                "sections",
                f"sections must be a non-empty list of {', '.join(COURSE_SECTIONS)}",
                allowed=COURSE_SECTIONS,
            )
        picked = {_one_of("sections", name, COURSE_SECTIONS) for name in sections}
        chosen = tuple(name for name in COURSE_SECTIONS if name in picked)
    window = body.get("dateRange")
    if window is not None and not isinstance(window, dict):
        raise InvalidExport("dateRange", "dateRange must be an object {start, end} of dates")
    span = date_range("dateRange", window.get("start"), window.get("end")) if window else None
    _no_other_keys(body, {"format", "sections", "dateRange"})
    return ExportSpec(COURSE_REPORT, fmt, course_id, chosen, span)


def creator_export(body: dict[str, Any]) -> ExportSpec:
    """A creator export request ``{type, format, filters?}``."""
    export_type = _one_of("type", body.get("type"), CREATOR_TYPES)
    fmt = _one_of("format", body.get("format"), FORMATS)
    given = body.get("filters") or {}
    if not isinstance(given, dict):
        raise InvalidExport("filters", "filters must be an object")
    allowed = CREATOR_FILTERS[export_type]
    filters: dict[str, str] = {}
    for name, value in given.items():
        if name not in allowed:
            raise InvalidExport(
                f"filters.{name}",
                f"a {export_type} export takes the filters {', '.join(allowed)}; got {name!r}",
                allowed=allowed,
            )
        if value is None:
            continue
        if name in FILTER_VALUES:
            filters[name] = _one_of(f"filters.{name}", value, FILTER_VALUES[name])
        elif name == "courseId":
            try:
                filters[name] = str(UUID(str(value)))
            except ValueError:
                raise InvalidExport("filters.courseId", f"courseId must be a UUID; got {value!r}") from None
        elif name == "search":
            if not isinstance(value, str) or len(value) > 200:
                raise InvalidExport("filters.search", "search must be text of at most 200 characters")
            filters[name] = value
        else:
            filters[name] = _day(f"filters.{name}", value).isoformat()
    span = date_range("filters", filters.get("startDate"), filters.get("endDate"))
    _no_other_keys(body, {"type", "format", "filters"})
    course = UUID(filters["courseId"]) if "courseId" in filters else None
    return ExportSpec(export_type, fmt, course, (), span, filters)


def _no_other_keys(body: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        allowed = tuple(sorted(known))
        raise InvalidExport(
            unknown[0], f"unknown field {unknown[0]!r}; the fields are {', '.join(allowed)}", allowed=allowed
        )


# --- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: Kind = "text"


@dataclass
class Table:
    """One section: a sheet in XLSX, a file in a CSV zip, a list in JSON, a table in the PDF."""

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    total: int | None = None
    """How many rows the section has when ``rows`` holds only the first (the PDF's)."""
    source: Path | None = None
    """The rows as a CSV file written upstream (a header of the column keys, then cells as
    the CSV renderer writes them), for CSV exports; ``rows`` is then empty."""

    @property
    def count(self) -> int:
        return len(self.rows) if self.total is None else self.total


@dataclass
class Report:
    """What an export holds, independent of its format."""

    title: str
    subtitle: str
    generated_at: datetime
    period: tuple[datetime, datetime] | None
    tables: list[Table]
    figures: list[tuple[str, str]] = field(default_factory=list)
    """The executive summary: (label, value in words)."""
    charts: dict[str, Any] = field(default_factory=dict)
    """Series the PDF draws: trends, funnel, heatmap, distribution."""
    recommendations: list[str] = field(default_factory=list)
    at_risk: list[dict[str, Any]] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return sum(table.count for table in self.tables)


def fallback_name(user_id: UUID | str) -> str:
    """The name shown for someone whose display name is not known (as analytics shows them)."""
    return f"Learner {str(user_id).replace('-', '')[:8]}"


def expiry(completed_at: datetime, ttl_hours: float) -> datetime:
    return completed_at + timedelta(hours=ttl_hours)


def recommendations(
    funnel: list[dict[str, Any]],
    lessons: list[dict[str, Any]],
    at_risk: int,
    students: int,
    ai: dict[str, Any],
) -> list[str]:
    """Advice read from the figures: where learners leave, what they ask, who needs help."""
    advice: list[str] = []
    worst_stage = max(funnel[1:], key=lambda s: s.get("dropOff", 0.0), default=None)
    if worst_stage and worst_stage.get("dropOff", 0.0) >= 20:
        advice.append(
            f'{worst_stage["dropOff"]:g}% of learners stop before "{worst_stage["label"]}": '
            "look at the lessons just before that point."
        )
    leaky = sorted(
        (lesson for lesson in lessons if lesson.get("dropOffRate", 0.0) >= 15),
        key=lambda lesson: -lesson["dropOffRate"],
    )[:3]
    for lesson in leaky:
        advice.append(
            f'Lesson "{lesson["title"]}" loses {lesson["dropOffRate"]:g}% of the learners who reach it; '
            "consider splitting it or adding an exercise."
        )
    asked = sorted(
        (lesson for lesson in lessons if lesson.get("questions", 0) > 0), key=lambda x: -x["questions"]
    )
    if asked and asked[0]["questions"] >= 5:
        advice.append(
            f'Learners asked the assistant {asked[0]["questions"]} questions about "{asked[0]["title"]}": '
            "its explanation may need more examples."
        )
    if students and at_risk:
        share = round(at_risk * 100 / students, 1)
        advice.append(
            f"{at_risk} of {students} students ({share:g}%) are at risk: a message from you "
            "often brings inactive learners back."
        )
    unanswered = ai.get("unansweredRate") or 0.0
    if unanswered >= 10:
        advice.append(
            f"The assistant could not answer {unanswered:g}% of questions: add lesson text it can draw on."
        )
    satisfaction = ai.get("satisfactionRate")
    if ai.get("ratings") and satisfaction is not None and satisfaction < 60:
        advice.append(f"Only {satisfaction:g}% of rated assistant replies were helpful.")
    if not advice:
        advice.append(
            "No weak spot stands out in this period: keep the course as it is and watch the trends."
        )
    return advice
