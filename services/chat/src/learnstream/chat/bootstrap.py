"""Wires the chat service: settings, runtime, routes and subscribers."""

from __future__ import annotations

from fastapi import FastAPI

from learnstream.chat import __doc__ as _PACKAGE_DOC
from learnstream.chat.config import Settings
from learnstream.chat.entrypoints import http, subscribers
from learnstream.runtime.service import Runtime, create_app

_DESCRIPTION = (_PACKAGE_DOC or "").strip()


def build(settings: Settings | None = None) -> FastAPI:
    """The chat service's ASGI app."""
    settings = settings or Settings()
    runtime = Runtime.build(settings, migration_packages=["learnstream.chat"], publishes=["chat"])
    subscribers.register(runtime.consumer)
    return create_app(
        runtime,
        title="Learnstream chat service",
        description=_DESCRIPTION,
        routers=[http.router],
    )
