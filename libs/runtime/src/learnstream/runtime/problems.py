"""RFC 9457 problem+json answers for every error a service returns.

A validation error names each offending field by its JSON path (``sections[0].lessons``)
so a client can show it next to the input. An unexpected exception is logged with
its trace and answered with a 500 that leaks nothing; any 5xx is a bug to fix.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from learnstream.runtime.db import STORE_ERRORS, is_transient, is_unstorable_text

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(HTTPException):
    """An error a route raises on purpose: status, a title and what the client can do;
    ``headers`` go on the answer (e.g. ``Connection: close``), ``extra`` into its body."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type_: str = "about:blank",
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=dict(headers) if headers else None)
        self.title = title
        self.type_ = type_
        self.extra = extra


def problem_response(
    status: int, title: str, detail: str, *, instance: str, type_: str = "about:blank", **extra: Any
) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail, "instance": instance}
    body.update(extra)
    headers = {}
    if "retryAfter" in extra:
        headers["Retry-After"] = str(extra["retryAfter"])
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_path(location: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "sections", 0, "title")`` → ``sections[0].title``."""
    path = ""
    for part in location:
        if part in ("body", "query", "path", "header") and not path:
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": field_path(err["loc"]), "message": err["msg"], "type": err["type"]}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(
            422,
            "Invalid request",
            summary,
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, Problem):
            response = problem_response(
                exc.status_code,
                exc.title,
                str(exc.detail),
                instance=request.url.path,
                type_=exc.type_,
                **exc.extra,
            )
        else:
            title = {404: "Not found", 401: "Unauthorized", 403: "Forbidden", 405: "Method not allowed"}
            response = problem_response(
                exc.status_code,
                title.get(exc.status_code, "Request failed"),
                str(exc.detail),
                instance=request.url.path,
            )
        response.headers.update(exc.headers or {})
        return response

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_unstorable_text(exc):
            # a NUL character anywhere in the request's text: the request is at fault, not us
            return problem_response(
                422,
                "Invalid request",
                "The request holds a character that cannot be stored (NUL, U+0000); remove it.",
                instance=request.url.path,
            )
        if is_transient(exc):
            # the store is down or every connection is busy: the request was fine, try again
            log.warning(
                "store unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
            )
            return problem_response(
                503,
                "Service unavailable",
                "The service's store is busy or unreachable; nothing was changed. Try again shortly.",
                instance=request.url.path,
                retryAfter="2",
            )
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500,
            "Internal error",
            "The server failed to handle this request; it has been logged.",
            instance=request.url.path,
        )

    # The store's errors get handlers of their own: Starlette re-raises an exception that only
    # the catch-all ``Exception`` handler answered, and uvicorn then closes the connection
    # after the answer, so a client reusing it (the gateway's pool, a browser) sees it drop
    # instead of reading the 503 (seen while PostgreSQL restarted under load).
    for store_error in (*STORE_ERRORS, Exception):
        app.add_exception_handler(store_error, unexpected)
