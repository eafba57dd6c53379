"""The export audit log (``export_jobs``), projected from each export's events, and the
copy of course ownership kept from the catalog."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from learnstream.events.exports import CertificateIssued, ExportCompleted, ExportFailed, ExportRequested
from learnstream.runtime.eventstore import StoredEvent

_COLUMNS = (
    "export_id, requester_id, requester_role, export_type, format, course_id, request, status,"
    " attempts, row_count, size_bytes, file_key, file_name, error, requested_at, started_at,"
    " finished_at, expires_at, deleted_at, version"
)


def stream_id(export_id: UUID) -> str:
    return f"export-{export_id}"


async def project(session: AsyncSession, stored: StoredEvent) -> None:
    """Keep the audit row of the export ``stored`` belongs to."""
    event = stored.event
    version = stored.stream_version
    if isinstance(event, ExportRequested):
        request = {
            "sections": event.sections,
            "dateRange": (
                {"start": event.start_date.isoformat(), "end": event.end_date.isoformat()}
                if event.start_date and event.end_date
                else None
            ),
            "filters": event.filters,
        }
        await session.execute(
            text(
                "INSERT INTO export_jobs (export_id, requester_id, requester_role, export_type, format,"
                " course_id, request, status, requested_at, version)"
                " VALUES (:e, :r, :role, :t, :f, :c, CAST(:req AS jsonb), 'queued', :at, :v)"
            ),
            {
                "e": event.export_id,
                "r": event.requester_id,
                "role": event.requester_role,
                "t": event.export_type,
                "f": event.format,
                "c": event.course_id,
                "req": json.dumps(request),
                "at": event.occurred_at,
                "v": version,
            },
        )
    elif isinstance(event, ExportCompleted):
        await session.execute(
            text(
                "UPDATE export_jobs SET status = 'completed', row_count = :rows, size_bytes = :size,"
                " file_key = :key, file_name = :name, error = NULL, finished_at = :at, expires_at = :exp,"
                " version = :v WHERE export_id = :e"
            ),
            {
                "e": event.export_id,
                "rows": event.row_count,
                "size": event.size_bytes,
                "key": f"{event.export_id}.{(event.file_name or '.bin').rsplit('.', 1)[-1]}",
                "name": event.file_name,
                "at": event.occurred_at,
                "exp": event.expires_at,
                "v": version,
            },
        )
    elif isinstance(event, ExportFailed):
        await session.execute(
            text(
                "UPDATE export_jobs SET status = 'failed', error = :why, finished_at = :at, version = :v"
                " WHERE export_id = :e"
            ),
            {"e": event.export_id, "why": event.reason, "at": event.occurred_at, "v": version},
        )


async def job(session: AsyncSession, export_id: UUID, *, lock: bool = False) -> dict[str, Any] | None:
    row = await session.execute(
        text(f"SELECT {_COLUMNS} FROM export_jobs WHERE export_id = :e" + (" FOR UPDATE" if lock else "")),
        {"e": export_id},
    )
    found = row.mappings().first()
    return dict(found) if found else None


async def start(session: AsyncSession, export_id: UUID, at: datetime) -> int:
    """Mark the export running (another attempt); returns the attempt number."""
    attempts = await session.scalar(
        text(
            "UPDATE export_jobs SET status = 'running', attempts = attempts + 1, started_at = :at"
            " WHERE export_id = :e AND status IN ('queued', 'running') RETURNING attempts"
        ),
        {"e": export_id, "at": at},
    )
    return int(attempts or 0)


async def history(
    session: AsyncSession, requester_id: UUID | None, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Audit rows newest first (``requester_id`` None: everyone's) and their total."""
    where = "WHERE requester_id = :r" if requester_id is not None else ""
    rows = await session.execute(
        text(
            f"SELECT {_COLUMNS} FROM export_jobs {where}"
            " ORDER BY requested_at DESC, export_id LIMIT :limit OFFSET :offset"
        ),
        {"r": requester_id, "limit": limit, "offset": offset},
    )
    total = await session.scalar(text(f"SELECT count(*) FROM export_jobs {where}"), {"r": requester_id})
    return [dict(row) for row in rows.mappings()], int(total or 0)


async def expired(session: AsyncSession, now: datetime, limit: int = 500) -> list[dict[str, Any]]:
    """Completed exports whose link has expired (their files are still there)."""
    rows = await session.execute(
        text(
            f"SELECT {_COLUMNS} FROM export_jobs WHERE status = 'completed' AND expires_at <= :now"
            " ORDER BY expires_at LIMIT :limit FOR UPDATE SKIP LOCKED"
        ),
        {"now": now, "limit": limit},
    )
    return [dict(row) for row in rows.mappings()]


async def withdrawable(session: AsyncSession, types: list[str]) -> list[dict[str, Any]]:
    """Completed exports of the given types whose files still exist."""
    rows = await session.execute(
        text(
            f"SELECT {_COLUMNS} FROM export_jobs WHERE status = 'completed' AND export_type = ANY(:t)"
            " FOR UPDATE"
        ),
        {"t": types},
    )
    return [dict(row) for row in rows.mappings()]


async def mark_expired(session: AsyncSession, export_id: UUID, at: datetime, note: str | None = None) -> None:
    await session.execute(
        text(
            "UPDATE export_jobs SET status = 'expired', deleted_at = :at, error = coalesce(:note, error)"
            " WHERE export_id = :e"
        ),
        {"e": export_id, "at": at, "note": note},
    )


async def erase_requester(session: AsyncSession, requester_id: UUID) -> list[str]:
    """Forget a requester's exports and their event streams; returns the keys of their files."""
    rows = (
        await session.execute(
            text("DELETE FROM export_jobs WHERE requester_id = :r RETURNING export_id, file_key"),
            {"r": requester_id},
        )
    ).all()
    await session.execute(
        text("DELETE FROM event_store WHERE stream_id = ANY(:streams)"),
        {"streams": [stream_id(export_id) for export_id, _ in rows]},
    )
    return [key for _, key in rows if key]


# --- the course copy ---------------------------------------------------------------------------


async def keep_course(
    session: AsyncSession, course_id: UUID, instructor_id: UUID, title: str, status: str | None
) -> None:
    await session.execute(
        text(
            "INSERT INTO export_courses (course_id, instructor_id, title, status)"
            " VALUES (:c, :i, :t, coalesce(:s, 'draft'))"
            " ON CONFLICT (course_id) DO UPDATE SET instructor_id = EXCLUDED.instructor_id,"
            " title = EXCLUDED.title, status = coalesce(:s, export_courses.status)"
        ),
        {"c": course_id, "i": instructor_id, "t": title, "s": status},
    )


async def course(session: AsyncSession, course_id: UUID) -> dict[str, Any] | None:
    row = await session.execute(
        text("SELECT course_id, instructor_id, title, status FROM export_courses WHERE course_id = :c"),
        {"c": course_id},
    )
    found = row.mappings().first()
    return dict(found) if found else None


# --- people, certificates and digests ----------------------------------------------------------


async def keep_person(
    session: AsyncSession, user_id: UUID, display_name: str | None, role: str | None
) -> None:
    await session.execute(
        text(
            "INSERT INTO export_people (user_id, display_name, role)"
            " VALUES (:u, coalesce(:n, ''), coalesce(:r, 'student'))"
            " ON CONFLICT (user_id) DO UPDATE SET display_name = coalesce(:n, export_people.display_name),"
            " role = coalesce(:r, export_people.role)"
        ),
        {"u": user_id, "n": display_name, "r": role},
    )


async def names(session: AsyncSession, users: list[UUID]) -> dict[UUID, str]:
    rows = await session.execute(
        text(
            "SELECT user_id, display_name FROM export_people WHERE user_id = ANY(:u) AND display_name != ''"
        ),
        {"u": users},
    )
    return {user_id: name for user_id, name in rows}


async def project_certificate(session: AsyncSession, stored: StoredEvent) -> None:
    event = stored.event
    if isinstance(event, CertificateIssued):
        await session.execute(
            text(
                "INSERT INTO certificates (certificate_id, verification_id, learner_id, course_id,"
                " completed_at, issued_at) VALUES (:c, :v, :l, :course, :done, :at) ON CONFLICT DO NOTHING"
            ),
            {
                "c": event.certificate_id,
                "v": event.verification_id,
                "l": event.requester_id,
                "course": event.course_id,
                "done": event.completed_at,
                "at": event.occurred_at,
            },
        )


_CERTIFICATE = (
    "SELECT c.certificate_id, c.verification_id, c.learner_id, c.course_id, c.completed_at, c.issued_at,"
    " k.title AS course_title, k.instructor_id, l.display_name AS learner_name,"
    " i.display_name AS instructor_name"
    " FROM certificates c LEFT JOIN export_courses k ON k.course_id = c.course_id"
    " LEFT JOIN export_people l ON l.user_id = c.learner_id"
    " LEFT JOIN export_people i ON i.user_id = k.instructor_id"
)


async def certificate_of(session: AsyncSession, learner_id: UUID, course_id: UUID) -> dict[str, Any] | None:
    row = await session.execute(
        text(f"{_CERTIFICATE} WHERE c.learner_id = :l AND c.course_id = :c"),
        {"l": learner_id, "c": course_id},
    )
    found = row.mappings().first()
    return dict(found) if found else None


async def certificate_by_code(session: AsyncSession, verification_id: str) -> dict[str, Any] | None:
    row = await session.execute(text(f"{_CERTIFICATE} WHERE c.verification_id = :v"), {"v": verification_id})
    found = row.mappings().first()
    return dict(found) if found else None


async def certificates_of(session: AsyncSession, learner_id: UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(f"{_CERTIFICATE} WHERE c.learner_id = :l ORDER BY c.completed_at DESC"), {"l": learner_id}
    )
    return [dict(row) for row in rows.mappings()]


async def erase_person(session: AsyncSession, user_id: UUID) -> int:
    """Forget the user's certificates (their streams too) and name; returns the certificates forgotten."""
    gone = (
        await session.execute(
            text("DELETE FROM certificates WHERE learner_id = :u RETURNING course_id"), {"u": user_id}
        )
    ).all()
    await session.execute(
        text("DELETE FROM event_store WHERE stream_id = ANY(:s)"),
        {"s": [certificate_stream(user_id, course_id) for (course_id,) in gone]},
    )
    await session.execute(text("DELETE FROM export_people WHERE user_id = :u"), {"u": user_id})
    await session.execute(text("DELETE FROM digests WHERE instructor_id = :u"), {"u": user_id})
    return len(gone)


def certificate_stream(learner_id: UUID, course_id: UUID) -> str:
    return f"certificate-{learner_id}-{course_id}"


async def instructors(session: AsyncSession) -> list[UUID]:
    rows = await session.execute(
        text("SELECT DISTINCT instructor_id FROM export_courses ORDER BY instructor_id")
    )
    return [instructor_id for (instructor_id,) in rows]


async def claim_digest(
    session: AsyncSession, instructor_id: UUID, week: str, digest_id: UUID, at: datetime
) -> bool:
    """Claim the instructor's digest of ``week``; False when it was claimed before."""
    claimed = await session.scalar(
        text(
            "INSERT INTO digests (instructor_id, week, digest_id, claimed_at) VALUES (:i, :w, :d, :at)"
            " ON CONFLICT DO NOTHING RETURNING digest_id"
        ),
        {"i": instructor_id, "w": week, "d": digest_id, "at": at},
    )
    return claimed is not None


async def release_digest(session: AsyncSession, digest_id: UUID) -> None:
    await session.execute(
        text("DELETE FROM digests WHERE digest_id = :d AND sent_at IS NULL"), {"d": digest_id}
    )


async def digest_sent(session: AsyncSession, digest_id: UUID, at: datetime) -> None:
    await session.execute(
        text("UPDATE digests SET sent_at = :at WHERE digest_id = :d"), {"d": digest_id, "at": at}
    )
