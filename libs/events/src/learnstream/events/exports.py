"""Events of the exports context, published by the exports service to ``learnstream.exports``.

They trace a data export from request to a downloadable file or a failure, for the
requester's notifications and the export audit. All are keyed by the requester id.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from learnstream.events.base import DomainEvent

ExportFormat = Literal["csv", "json", "xlsx", "pdf"]


class ExportsEvent(DomainEvent):
    """An event about exports one user asked for, keyed by the requester id."""

    context: ClassVar[str] = "exports"
    key_field: ClassVar[str] = "requester_id"

    requester_id: UUID = Field(
        description="The user who asked for the export (instructor, admin or learner)."
    )


class ExportRequested(ExportsEvent):
    """A user asked for a data export; it is produced in the background."""

    export_id: UUID = Field(description="The export.")
    export_type: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        description="What is exported.",
        examples=[
            "students",
            "progress",
            "chat",
            "analytics",
            "quiz_results",
            "videos",
            "course_report",
        ],
    )
    format: ExportFormat = Field(description="The file format.", examples=["csv"])
    course_id: UUID | None = Field(
        default=None, description="The course exported, or null for all the requester may see."
    )
    requester_role: Literal["student", "instructor", "admin"] = Field(
        default="instructor", description="The requester's role when asking (the data is fetched as them)."
    )
    sections: list[str] = Field(
        default_factory=list,
        description="A course report's sections, in report order (empty for other types).",
        examples=[["summary", "students", "funnel"]],
    )
    start_date: date | None = Field(default=None, description="First local day of the range, if any.")
    end_date: date | None = Field(default=None, description="Last local day of the range, if any.")
    filters: dict[str, str] = Field(
        default_factory=dict,
        description="A creator export's filters as given (status, progress, search, courseId, period).",
        examples=[{"status": "active"}],
    )


class ExportCompleted(ExportsEvent):
    """An export's file is ready to download until it expires."""

    export_id: UUID = Field(description="The export.")
    size_bytes: int = Field(ge=0, description="Size of the file.", examples=[48_213])
    row_count: int = Field(ge=0, description="Data rows in the file.", examples=[245])
    expires_at: AwareDatetime = Field(
        description="When the file is deleted and the download link stops working.",
        examples=["2026-11-23T09:15:30.125Z"],
    )
    file_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="The name to download the file as; its extension: csv, zip, json, xlsx or pdf.",
        examples=["python-101-report-2026-11-22.xlsx"],
    )


class ExportFailed(ExportsEvent):
    """An export could not be produced."""

    export_id: UUID = Field(description="The export.")
    reason: str = Field(
        min_length=1,
        description="Why, in words fit to show the requester.",
        examples=["The course has no enrolled students yet."],
    )


class CertificateIssued(ExportsEvent):
    """A learner who completed a course was given a certificate anyone can verify.

    Keyed like every exports event by ``requester_id``, which is here the learner.
    """

    certificate_id: UUID = Field(description="The certificate.")
    verification_id: str = Field(
        pattern=r"^LS-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$",
        description="The code printed on the certificate; the public verify endpoint takes it.",
        examples=["LS-7KQ2-M9XD-4TZA"],
    )
    course_id: UUID = Field(description="The course completed.")
    completed_at: AwareDatetime = Field(
        description="When the course was completed.", examples=["2026-11-14T20:12:33.905Z"]
    )


class WeeklyDigestPublished(ExportsEvent):
    """An instructor's weekly digest of their courses was produced and sent.

    Keyed by ``requester_id``, which is here the instructor the digest is for.
    """

    digest_id: UUID = Field(description="The digest (its PDF is an export of this id).")
    week: str = Field(
        pattern=r"^[0-9]{4}-W[0-9]{2}$", description="The ISO week it covers.", examples=["2026-W47"]
    )
    courses: int = Field(ge=0, description="Courses the digest covers.", examples=[3])
    active_students: int = Field(ge=0, description="Students active in the 7 days.", examples=[89])
    new_students: int = Field(ge=0, description="Students who enrolled in the 7 days.", examples=[12])
    at_risk_students: int = Field(ge=0, description="Students at risk now.", examples=[7])
    questions: int = Field(ge=0, description="Questions asked of the assistant in the 7 days.", examples=[41])
    delivered_via: str = Field(
        min_length=1, description="The mail adapter that delivered it.", examples=["outbox"]
    )


class LearnerExportsErased(ExportsEvent):
    """The exports service erased a learner's exports after an erasure request."""

    request_id: UUID = Field(description="The erasure request this confirms.")


EVENTS: tuple[type[DomainEvent], ...] = (
    ExportRequested,
    ExportCompleted,
    ExportFailed,
    CertificateIssued,
    WeeklyDigestPublished,
    LearnerExportsErased,
)
"""The events this context publishes, in catalog order."""
