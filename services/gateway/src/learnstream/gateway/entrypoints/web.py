"""The web app: one HTML shell for every page, its scripts and styles, and the charting library.

The pages are rendered in the browser from the public API (the same calls a mobile client
makes), so the shell is the same for every path below; the script reads the path. Plotly's
browser bundle comes from the ``plotly`` wheel's package data: served from this process,
never from a CDN (these machines are offline, and a dashboard must not depend on a third
party being up).
"""

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from starlette.staticfiles import StaticFiles

WEB = Path(str(resources.files("learnstream.gateway") / "web"))
PAGES = (
    "/",
    "/dashboard",
    "/courses/{course_id}/progress",
    "/chat",
    "/creator",
    "/instructor/courses/{course_id}/analytics",
    "/instructor/courses/{course_id}/students/{student_id}",
    "/admin",
)
CACHED = "public, max-age=86400"


def _plotly_bundle() -> Path:
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def install(app: FastAPI, *, dev: bool) -> None:
    """Serve the shell at every page path and the assets under ``/static``."""
    shell = (WEB / "index.html").read_text().replace("{{dev}}", "true" if dev else "false")
    router = APIRouter(include_in_schema=False)

    async def page() -> HTMLResponse:
        return HTMLResponse(shell, headers={"Cache-Control": "no-cache"})

    for path in PAGES:
        router.add_api_route(path, page, methods=["GET"])

    @router.get("/static/vendor/plotly.min.js")
    async def plotly() -> FileResponse:
        return FileResponse(_plotly_bundle(), media_type="text/javascript", headers={"Cache-Control": CACHED})

    app.include_router(router)
    app.mount("/static/app", StaticFiles(directory=WEB / "static"), name="web-static")
