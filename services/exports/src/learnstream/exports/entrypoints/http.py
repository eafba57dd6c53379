"""HTTP routes of the exports service, on the gateway's paths (``spec/API.md``, exports).

The gateway forwards them with the caller in ``X-Actor-Id`` / ``X-Actor-Role`` next to its
service credential. An export is its requester's (and admins'): someone else's and an
unknown one both answer 404. The download and certificate verification routes take no
actor: the signed link (or the code printed on the certificate) is the permission, so a
browser, or an employer checking a certificate, can follow it.
"""

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, FastAPI, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from learnstream.exports.domain.exports import (
    COURSE_SECTIONS,
    CREATOR_TYPES,
    FORMATS,
    InvalidExport,
    course_export,
    creator_export,
)
from learnstream.exports.service_layer.certificates import CertificateNotFound, Certificates
from learnstream.exports.service_layer.digests import Digests
from learnstream.exports.service_layer.services import ExportNotFound, ExportService
from learnstream.runtime.actors import Actor, actor_dependency, require_service_token
from learnstream.runtime.problems import problem_response

COURSE_EXAMPLE = {
    "format": "xlsx",
    "sections": ["summary", "students", "funnel"],
    "dateRange": {"start": "2026-11-01", "end": "2026-11-30"},
}
CREATOR_EXAMPLE = {"type": "students", "format": "csv", "filters": {"status": "active"}}
QUEUED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Queued: follow statusUrl (or `GET /api/exports/{exportId}`) until it is completed."}
}


def build_router(
    service: ExportService, certificates: Certificates, digests: Digests, service_token: str
) -> APIRouter:
    router = APIRouter(tags=["exports"])
    CurrentActor = Annotated[Actor, actor_dependency(service_token)]

    @router.post(
        "/api/instructor/courses/{course_id}/export",
        status_code=202,
        responses=QUEUED,
        summary="Export a course's report",
    )
    async def export_course(
        course_id: UUID,
        actor: CurrentActor,
        body: Annotated[
            dict[str, Any],
            Body(
                description=f"format: {', '.join(FORMATS)}; sections (default all): "
                f"{', '.join(COURSE_SECTIONS)}; dateRange {{start, end}} local days (default all time).",
                examples=[COURSE_EXAMPLE],
            ),
        ],
    ) -> dict[str, Any]:
        """Queue a report of one of the caller's courses; it is produced in the background."""
        return await service.request(actor, course_export(course_id, body))

    @router.post(
        "/api/creator/export", status_code=202, responses=QUEUED, summary="Export across your courses"
    )
    async def export_creator(
        actor: CurrentActor,
        body: Annotated[
            dict[str, Any],
            Body(
                description=f"type: {', '.join(CREATOR_TYPES)}; format: {', '.join(FORMATS)}; "
                "filters by type "
                "(students: status, progress, search; progress and videos: courseId; chat and quiz_results: "
                "courseId, startDate, endDate; analytics: period).",
                examples=[CREATOR_EXAMPLE],
            ),
        ],
    ) -> dict[str, Any]:
        """Queue an export of one kind of rows across all the caller's courses."""
        return await service.request(actor, creator_export(body))

    @router.get("/api/exports")
    async def history(
        actor: CurrentActor,
        requester_id: Annotated[
            UUID | None, Query(alias="requesterId", description="Admins: whose exports (default: yours).")
        ] = None,
        everyone: Annotated[bool, Query(alias="all", description="Admins: everyone's exports.")] = False,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        """The export audit log, newest first: what, filters, format, size, status and times."""
        return await service.history(
            actor, requester_id=requester_id, everyone=everyone, limit=limit, offset=offset
        )

    @router.get("/api/me/data-export")
    async def data_export(actor: CurrentActor) -> dict[str, Any]:
        """The caller's exports as the audit log holds them (the gateway's data export gathers it)."""
        return {"exports": await service.all_of(actor.user_id)}

    @router.get("/api/exports/{export_id}")
    async def status(export_id: UUID, actor: CurrentActor) -> dict[str, Any]:
        """An export's status; once completed, its signed download link, size and expiry."""
        return await service.status(actor, export_id)

    @router.get(
        "/api/exports/{export_id}/download",
        dependencies=[require_service_token(service_token)],
        response_class=FileResponse,
        responses={
            403: {"description": "The link was changed or has expired."},
            410: {"description": "The file is gone."},
        },
    )
    async def download(
        export_id: UUID,
        expires: Annotated[int, Query(description="Expiry of the link, epoch seconds.")],
        signature: Annotated[str, Query(max_length=100, description="The link's signature.")],
    ) -> Response:
        """The export's file, for a link signed by this service and not expired."""
        found = await service.download(export_id, expires, signature)
        headers = {"Cache-Control": "private, no-store"}
        if isinstance(found.content, bytes):
            headers["Content-Disposition"] = f'attachment; filename="{found.file_name}"'
            return Response(found.content, media_type=found.media_type, headers=headers)
        return FileResponse(
            found.content, media_type=found.media_type, filename=found.file_name, headers=headers
        )

    # --- certificates -----------------------------------------------------------------------------

    @router.get("/api/learner/certificates")
    async def my_certificates(actor: CurrentActor) -> dict[str, Any]:
        """The caller's certificates of completion, newest first."""
        return await certificates.mine(actor)

    @router.get(
        "/api/learner/courses/{course_id}/certificate",
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}, "description": "The certificate as a PDF."}},
    )
    async def my_certificate(course_id: UUID, actor: CurrentActor) -> Response:
        """The caller's certificate of a completed course, as a PDF (404 until completed)."""
        content, name = await certificates.pdf(actor, course_id)
        return Response(
            content,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private"},
        )

    @router.get("/api/certificates/{verification_id}", dependencies=[require_service_token(service_token)])
    async def verify(
        verification_id: Annotated[str, Path(max_length=40, description="The code on the certificate.")],
    ) -> dict[str, Any]:
        """Whether a certificate with this verification id was issued, and to whom for what."""
        return await certificates.verify(verification_id)

    # --- operations -------------------------------------------------------------------------------

    @router.post("/internal/digests/send-due", dependencies=[require_service_token(service_token)])
    async def send_due_digests() -> dict[str, Any]:
        """Send the weekly digests that are due now (the background job does this on its own)."""
        return {"sent": await digests.send_due(datetime.now(UTC))}

    return router


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InvalidExport)
    async def invalid(request: Request, exc: InvalidExport) -> JSONResponse:
        error: dict[str, Any] = {"field": exc.field, "message": exc.message}
        if exc.allowed is not None:
            error["allowed"] = list(exc.allowed)
        return problem_response(422, "Invalid export", exc.message, instance=request.url.path, errors=[error])

    @app.exception_handler(CertificateNotFound)
    async def no_certificate(request: Request, exc: CertificateNotFound) -> JSONResponse:
        return problem_response(404, "Not found", str(exc), instance=request.url.path)

    @app.exception_handler(ExportNotFound)
    async def not_found(request: Request, exc: ExportNotFound) -> JSONResponse:
        return problem_response(404, "Not found", str(exc), instance=request.url.path)
