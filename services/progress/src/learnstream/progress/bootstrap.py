"""Wires the progress service: settings, runtime, routes and subscribers."""

from __future__ import annotations

from fastapi import FastAPI

from learnstream.progress import __doc__ as _PACKAGE_DOC
from learnstream.progress.config import Settings
from learnstream.progress.entrypoints import http, subscribers
from learnstream.runtime.service import Runtime, create_app

_DESCRIPTION = (_PACKAGE_DOC or "").strip()


def build(settings: Settings | None = None) -> FastAPI:
    """The progress service's ASGI app."""
    settings = settings or Settings()
    runtime = Runtime.build(
        settings, migration_packages=["learnstream.progress"], publishes=["catalog", "progress"]
    )
    subscribers.register(runtime.consumer)
    return create_app(
        runtime,
        title="Learnstream progress service",
        description=_DESCRIPTION,
        routers=[http.router],
    )
