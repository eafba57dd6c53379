"""The export audit log (``export_jobs``), projected from each export's events, and the
copy of course ownership kept from the catalog."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from learnstream.events.exports import ExportCompleted, ExportFailed, ExportRequested
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
