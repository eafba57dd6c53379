"""Wires the achievements service: settings, runtime, routes and subscribers."""

from __future__ import annotations

from fastapi import FastAPI

from learnstream.achievements import __doc__ as _PACKAGE_DOC
from learnstream.achievements.config import Settings
from learnstream.achievements.entrypoints import http, subscribers
from learnstream.runtime.service import Runtime, create_app

_DESCRIPTION = (_PACKAGE_DOC or "").strip()


def build(settings: Settings | None = None) -> FastAPI:
    """The achievements service's ASGI app."""
    settings = settings or Settings()
    runtime = Runtime.build(
        settings, migration_packages=["learnstream.achievements"], publishes=["achievements"]
    )
    subscribers.register(runtime.consumer)
    return create_app(
        runtime,
        title="Learnstream achievements service",
        description=_DESCRIPTION,
        routers=[http.router],
    )
