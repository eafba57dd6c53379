"""The exports service's use cases: ask for an export, produce it, report on it, let it be
downloaded once signed, and clean up after it.

An export is requested over HTTP (``ExportRequested`` appended to its stream, the audit
row written in the same transaction) and produced by the worker, which is this service's
own consumer of ``ExportRequested``: the request survives restarts in the topic, and a
worker that dies mid-way gets the event again. The worker fetches the data from
analytics as the requester, renders it in a thread (charts and spreadsheets are CPU work
that must not stall the event loop), keeps the file and appends ``ExportCompleted`` or
``ExportFailed``.

Download links are signed (HMAC-SHA256 over the export id and the expiry instant, with
the service's signing key) and expire with the file: a changed id, expiry or signature
answers 403, and so does a link past its expiry.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from learnstream.events.exports import ExportCompleted, ExportFailed, ExportRequested
from learnstream.exports.adapters import jobs
from learnstream.exports.adapters.analytics import AnalyticsClient, DataRefused, DataUnavailable
from learnstream.exports.adapters.formats import MEDIA_TYPES, RENDERERS, slug
from learnstream.exports.adapters.pdf import render_pdf
from learnstream.exports.adapters.storage import Storage
from learnstream.exports.domain.exports import (
    COURSE_REPORT,
    LEARNER_ROWS,
    ExportSpec,
    Report,
)
from learnstream.exports.service_layer.reports import ReportBuilder
from learnstream.runtime.actors import Actor
from learnstream.runtime.eventstore import EventStore
from learnstream.runtime.problems import Problem

log = logging.getLogger(__name__)

FETCH_TRIES = 5
"""Tries of the data fetch when analytics is unavailable, before the export fails."""


class ExportNotFound(Exception):
    """No such export, or not the caller's (the same answer, so ids cannot be probed)."""


@dataclass(frozen=True)
class Download:
    content: Path | bytes
    """A local file, or the bytes read from the bucket."""
    file_name: str
    media_type: str


def _render(report: Report, fmt: str, path: Path) -> str:
    if fmt == "pdf":
        return render_pdf(report, path)
    return RENDERERS[fmt](report, path)


class ExportService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: EventStore,
        analytics: AnalyticsClient,
        storage: Storage,
        *,
        signing_key: bytes,
        public_base_url: str,
        link_ttl: timedelta,
        retry_delay: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.analytics = analytics
        self.storage = storage
        self.builder = ReportBuilder(analytics)
        self._key = signing_key
        self.public_base_url = public_base_url.rstrip("/")
        self.link_ttl = link_ttl
        self.retry_delay = retry_delay

    # --- asking -----------------------------------------------------------------------------------

    async def request(self, actor: Actor, spec: ExportSpec) -> dict[str, Any]:
        """Record the request (the worker produces it); 404 for a course the actor does not own."""
        if not actor.can_teach:
            raise Problem(403, "Forbidden", "Exports of course data are for instructors and admins.")
        async with self.sessions.begin() as session:
            if spec.course_id is not None:
                course = await jobs.course(session, spec.course_id)
                if course is None or not actor.owns(course["instructor_id"]):
                    raise ExportNotFound(f"course {spec.course_id} not found")
            export_id = uuid4()
            event = ExportRequested(
                requester_id=actor.user_id,
                requester_role=actor.role,
                export_id=export_id,
                export_type=spec.export_type,
                format=spec.format,
                course_id=spec.course_id,
                sections=list(spec.sections),
                start_date=spec.date_range[0] if spec.date_range else None,
                end_date=spec.date_range[1] if spec.date_range else None,
                filters=spec.filters,
            )
            await self.store.append(session, jobs.stream_id(export_id), 0, [event])
        return {
            "exportId": str(export_id),
            "status": "queued",
            "statusUrl": f"{self.public_base_url}/api/exports/{export_id}",
        }

    # --- producing --------------------------------------------------------------------------------

    async def produce(self, session: AsyncSession, event: ExportRequested) -> None:
        """Produce the export ``event`` asks for, in the worker's transaction ``session``
        (the outcome event is appended there, atomically with the inbox record)."""
        async with self.sessions.begin() as marking:
            attempt = await jobs.start(marking, event.export_id, datetime.now(UTC))
        if not attempt:
            return  # finished already (a redelivery), or erased
        record = await jobs.job(session, event.export_id)
        if record is None:
            return
        spec = ExportSpec.from_record(
            record["export_type"], record["format"], record["course_id"], record["request"]
        )
        actor = (record["requester_id"], record["requester_role"])
        version = record["version"]
        stream = jobs.stream_id(event.export_id)
        scratch = self.storage.scratch(event.export_id)
        try:
            with tempfile.TemporaryDirectory(prefix=f"{event.export_id}-", dir=scratch.parent) as workdir:
                report = await self._gather(spec, actor, Path(workdir))
                extension = await asyncio.to_thread(_render, report, spec.format, scratch)
        except Exception as exc:
            if isinstance(exc, DataRefused):
                reason = f"The data could not be read: {exc.detail}"
            elif isinstance(exc, DataUnavailable):
                reason = f"The analytics service was unavailable ({exc}); ask again in a few minutes."
            else:
                log.exception("export failed", extra={"export_id": str(event.export_id)})
                reason = f"The export could not be produced ({type(exc).__name__}); ask again or report it."
            failed = ExportFailed(requester_id=event.requester_id, export_id=event.export_id, reason=reason)
            await self.store.append(session, stream, version, [failed])
            return
        key, size = await self.storage.keep(event.export_id, scratch, extension)
        finished = datetime.now(UTC)
        completed = ExportCompleted(
            requester_id=event.requester_id,
            export_id=event.export_id,
            size_bytes=size,
            row_count=report.row_count,
            expires_at=finished + self.link_ttl,
            file_name=self._file_name(report, spec, extension, finished),
        )
        await self.store.append(session, stream, version, [completed])
        log.info(
            "export completed",
            extra={"export_id": str(event.export_id), "bytes": size, "rows": report.row_count, "key": key},
        )

    async def _gather(self, spec: ExportSpec, actor: tuple[UUID, str], workdir: Path) -> Report:
        for attempt in range(1, FETCH_TRIES + 1):
            try:
                return await self.builder.build(spec, actor, datetime.now(UTC), workdir)
            except DataUnavailable:
                if attempt == FETCH_TRIES:
                    raise
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    @staticmethod
    def _file_name(report: Report, spec: ExportSpec, extension: str, at: datetime) -> str:
        what = report.title if spec.export_type == COURSE_REPORT else f"{spec.export_type}-export"
        return f"{slug(what)}-{at:%Y-%m-%d}.{extension}"

    # --- reporting --------------------------------------------------------------------------------

    async def status(self, actor: Actor, export_id: UUID) -> dict[str, Any]:
        async with self.sessions() as session:
            record = await jobs.job(session, export_id)
        if record is None or not actor.owns(record["requester_id"]):
            raise ExportNotFound(f"export {export_id} not found")
        return self._out(record, datetime.now(UTC))

    async def history(
        self, actor: Actor, *, requester_id: UUID | None, everyone: bool, limit: int, offset: int
    ) -> dict[str, Any]:
        """The audit log: the caller's exports, or (admins) someone's or everyone's."""
        if (everyone or (requester_id is not None and requester_id != actor.user_id)) and not actor.is_admin:
            raise Problem(403, "Forbidden", "Only admins may read other people's exports.")
        whose = None if everyone else (requester_id or actor.user_id)
        async with self.sessions() as session:
            rows, total = await jobs.history(session, whose, limit=limit, offset=offset)
        now = datetime.now(UTC)
        return {
            "exports": [self._out(row, now, audit=True) for row in rows],
            "total": total,
            "hasMore": offset + len(rows) < total,
        }

    async def all_of(self, user_id: UUID) -> list[dict[str, Any]]:
        """Every export the user asked for, newest first."""
        async with self.sessions() as session:
            rows, _ = await jobs.history(session, user_id, limit=100_000, offset=0)
        now = datetime.now(UTC)
        return [self._out(row, now, audit=True) for row in rows]

    def _out(self, record: dict[str, Any], now: datetime, *, audit: bool = False) -> dict[str, Any]:
        expires = record["expires_at"]
        ready = record["status"] == "completed" and expires is not None and expires > now
        status = "expired" if record["status"] == "completed" and not ready else record["status"]
        out: dict[str, Any] = {
            "exportId": str(record["export_id"]),
            "status": status,
            "type": record["export_type"],
            "format": record["format"],
            "courseId": str(record["course_id"]) if record["course_id"] else None,
            "downloadUrl": self.link(record["export_id"], expires) if ready else None,
            "expiresAt": _iso(expires),
            "fileSize": record["size_bytes"],
            "fileName": record["file_name"],
            "rowCount": record["row_count"],
            "error": record["error"],
            "requestedAt": _iso(record["requested_at"]),
            "finishedAt": _iso(record["finished_at"]),
        }
        if audit:
            out |= {
                "requesterId": str(record["requester_id"]),
                "requesterRole": record["requester_role"],
                "request": record["request"],
                "attempts": record["attempts"],
                "startedAt": _iso(record["started_at"]),
                "deletedAt": _iso(record["deleted_at"]),
            }
        return out

    # --- links ------------------------------------------------------------------------------------

    def _signature(self, export_id: UUID, expires: int) -> str:
        digest = hmac.new(self._key, f"{export_id}.{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def link(self, export_id: UUID, expires_at: datetime) -> str:
        expires = int(expires_at.timestamp())
        query = urlencode({"expires": expires, "signature": self._signature(export_id, expires)})
        return f"{self.public_base_url}/api/exports/{export_id}/download?{query}"

    async def download(self, export_id: UUID, expires: int, signature: str) -> Download:
        """The file a signed link names; 403 for a link that is tampered with or expired."""
        if not hmac.compare_digest(self._signature(export_id, expires), signature):
            raise Problem(403, "Forbidden", "This download link is not valid (it was changed or mistyped).")
        if expires <= datetime.now(UTC).timestamp():
            raise Problem(403, "Forbidden", "This download link has expired; export again for a new one.")
        async with self.sessions() as session:
            record = await jobs.job(session, export_id)
        found = None
        if record is not None and record["status"] == "completed" and record["file_key"]:
            found = await self.storage.fetch(record["file_key"])
        if record is None or found is None:
            raise Problem(410, "Gone", "This export's file is no longer kept; export again.")
        extension = str(record["file_key"]).rsplit(".", 1)[-1]
        media_type = MEDIA_TYPES.get(extension, "application/octet-stream")
        return Download(found, record["file_name"] or str(record["file_key"]), media_type)

    # --- cleaning up ------------------------------------------------------------------------------

    async def clean_up(self, now: datetime | None = None) -> int:
        """Delete the files of expired exports (and partial files); returns how many."""
        now = now or datetime.now(UTC)
        deleted = 0
        async with self.sessions.begin() as session:
            for record in await jobs.expired(session, now):
                if record["file_key"]:
                    await self.storage.delete(record["file_key"])
                await jobs.mark_expired(session, record["export_id"], now)
                deleted += 1
        for leftover in self.storage.leftovers():
            if now.timestamp() - leftover.stat().st_mtime > 3600:
                leftover.unlink(missing_ok=True)
        return deleted

    async def erase_learner(self, session: AsyncSession, user_id: UUID) -> dict[str, int]:
        """Forget the user's own exports, and withdraw every kept file with learner rows:
        it may name them (a new export will not)."""
        own = await jobs.erase_requester(session, user_id)
        for key in own:
            await self.storage.delete(key)
        now = datetime.now(UTC)
        withdrawn = await jobs.withdrawable(session, sorted(LEARNER_ROWS))
        for record in withdrawn:
            if record["file_key"]:
                await self.storage.delete(record["file_key"])
            await jobs.mark_expired(session, record["export_id"], now, "withdrawn after a learner's erasure")
        return {"own": len(own), "withdrawn": len(withdrawn)}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if value else None
