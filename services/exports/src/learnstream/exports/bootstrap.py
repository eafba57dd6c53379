"""Wires the exports service: settings, runtime, routes and subscribers."""

from __future__ import annotations

from fastapi import FastAPI

from learnstream.exports import __doc__ as _PACKAGE_DOC
from learnstream.exports.config import Settings
from learnstream.exports.entrypoints import http, subscribers
from learnstream.runtime.service import Runtime, create_app

_DESCRIPTION = (_PACKAGE_DOC or "").strip()


def build(settings: Settings | None = None) -> FastAPI:
    """The exports service's ASGI app."""
    settings = settings or Settings()
    runtime = Runtime.build(settings, migration_packages=["learnstream.exports"], publishes=["exports"])
    subscribers.register(runtime.consumer)
    return create_app(
        runtime,
        title="Learnstream exports service",
        description=_DESCRIPTION,
        routers=[http.router],
    )
