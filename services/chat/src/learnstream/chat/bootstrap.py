"""Wires the chat service: settings, runtime, routes and subscribers."""

from __future__ import annotations

from fastapi import FastAPI

from learnstream.chat.config import Settings
from learnstream.chat.entrypoints import http, subscribers
from learnstream.runtime.service import Runtime, create_app


def build(settings: Settings | None = None) -> FastAPI:
    """The chat service's ASGI app."""
    settings = settings or Settings()
    runtime = Runtime.build(
        settings, migration_packages=["learnstream.chat"], publishes=["chat"]
    )
    subscribers.register(runtime.consumer)
    return create_app(
        runtime,
        title="Learnstream chat service",
        description="Persistent AI course-assistant conversations: history, titles, search and streamed replies.",
        routers=[http.router],
    )
